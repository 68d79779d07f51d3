"""What every cross-check needs: the blueprint, the installed apps, name resolution, errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from appblocks.engine.fieldtypes import FieldType, registry
from appblocks.engine.i18n import N_, Message
from appblocks.engine.loader import BlueprintError, KeyPath, LoadedBlueprint
from appblocks.engine.spec import qualify

#: columns every record table has; views, filters and record rules may name them
SYSTEM_FIELDS = frozenset(
    {"id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by", "_state"}
)
#: roles the platform itself defines, usable in any blueprint
PLATFORM_ROLES = frozenset({"admin", "designer"})
#: the messages many checks share
NOT_A_FIELD = N_("'{name}' is not a field of {entity}")
NOT_A_LINK = N_("'{part}' is not a link, so '{path}' cannot go through it")
NOT_A_ROLE = N_("'{role}' is not a role of {app} (nor a platform role: admin, designer)")
COMPUTED_CANNOT_BE_SET = N_("'{name}' is computed ({why}); it cannot be set")
VALUE_DOES_NOT_COMPILE = N_(
    "value does not compile: {detail} (a value is an expression: quote text as \"'text'\")"
)
VALUE_NAMES = N_("value names '{name}', {why} (to set the text, write \"'{name}'\")")


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (cross-checks skip malformed parts)."""
    return value if isinstance(value, Mapping) else {}


class Context:
    """The blueprint under validation, what is installed, and the errors found so far."""

    def __init__(
        self,
        loaded: LoadedBlueprint,
        installed: Mapping[str, Mapping[str, Any]] | None,
        bad_paths: Iterable[KeyPath],
    ) -> None:
        self.loaded = loaded
        self.doc = loaded.doc
        app = self.doc.get("blueprint")
        self.app = app if isinstance(app, str) else ""
        self.installed = {a: b for a, b in (installed or {}).items() if a != self.app}
        self.requires = mapping(self.doc.get("requires"))
        self.errors: list[BlueprintError] = []
        self._bad = {tuple(p) for p in bad_paths}

    # --- errors and the parts that passed the meta-schema ---------------------------------

    def error(self, path: KeyPath, message: str | Message, /, **params: Any) -> None:
        """Record an error at `path`: an English template marked with N_ and its parameters
        (`ctx.error(path, N_("'{name}' is not a field of {entity}"), name=..., entity=...)`),
        or a Message made elsewhere."""
        if isinstance(message, Message):
            params = {**message.params, **params}
            message = message.template
        self.errors.append(self.loaded.error(path, message, **params))

    def clean(self, path: KeyPath, *, except_under: str | None = None) -> bool:
        """Whether the meta-schema found nothing wrong at, above or below `path`.

        With `except_under`, errors inside `path.<except_under>.<child>` do not count (an entity
        whose one bad field should not stop the entity's own checks).
        """
        n = len(path)
        for bad in self._bad:
            if bad[:n] == path or path[: len(bad)] == bad:
                if except_under and len(bad) > n + 1 and bad[n] == except_under:
                    continue
                return False
        return True

    def section(self, name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(name, document) of one section of this blueprint, skipping malformed documents."""
        for key, body in mapping(self.doc.get(name)).items():
            if isinstance(body, Mapping):
                yield key, body

    # --- entities and fields ----------------------------------------------------------------

    def blueprint_of(self, app: str) -> Mapping[str, Any]:
        """The blueprint dict of this app or of an installed one."""
        return self.doc if app == self.app else mapping(self.installed.get(app))

    def entity(self, qualified: str) -> Mapping[str, Any] | None:
        """The document of `app.entity`, or None."""
        app, _, name = qualified.partition(".")
        body = mapping(self.blueprint_of(app).get("entities")).get(name)
        return body if isinstance(body, Mapping) else None

    def fields(self, qualified: str) -> Mapping[str, Mapping[str, Any]]:
        """The well-formed fields of `app.entity`, by name, in order."""
        body = mapping(mapping(self.entity(qualified)).get("fields"))
        return {k: v for k, v in body.items() if isinstance(v, Mapping)}

    def own(self, name: str) -> str:
        """`name` of an entity of this blueprint, qualified."""
        return f"{self.app}.{name}"

    def show(self, qualified: str) -> str:
        """How an entity is named in messages: bare in this app, `app.entity` elsewhere."""
        app, _, name = qualified.partition(".")
        return name if app == self.app else qualified

    def resolve(self, ref: Any) -> tuple[str | None, Message | None]:
        """(`app.entity`, None) for an entity reference, or (None, why it does not resolve)."""
        if not isinstance(ref, str) or not ref:
            return None, Message(N_("which is not an entity name"))
        parts = ref.split(".")
        if len(parts) == 1 or (len(parts) == 2 and parts[0] == self.app):
            if self.entity(self.own(parts[-1])) is not None:
                return self.own(parts[-1]), None
            if not self.app:
                return None, Message(
                    N_("which is not an entity of this blueprint or of a required app")
                )
            return None, Message(
                N_("which is not an entity of {app} or of a required app"), app=self.app
            )
        if len(parts) != 2:
            return None, Message(N_("which is not an entity name (use entity or app.entity)"))
        other, name = parts
        if other not in self.requires:
            return None, Message(
                N_("but {app} is not in requires (add {app} to requires)"), app=other
            )
        if other not in self.installed:
            return None, Message(N_("but {app} is not installed (install it first)"), app=other)
        if self.entity(ref) is None:
            return None, Message(N_("which is not an entity of {app}"), app=other)
        return ref, None

    @staticmethod
    def ftype(fdoc: Mapping[str, Any]) -> FieldType | None:
        """The field type object of a field document, or None when the type is unknown."""
        name = fdoc.get("type")
        return registry.get(name) if isinstance(name, str) and name in registry else None

    def target(self, qualified: str, fdoc: Mapping[str, Any]) -> str | None:
        """The qualified target of a link, links or lines field of `qualified`."""
        to = fdoc.get("to")
        if not isinstance(to, str) or not to:
            return None
        return qualify(qualified.partition(".")[0], to)

    def field_path(self, qualified: str, path: str) -> Message | None:
        """Why a field path (`supplier.name`, through links) does not resolve, or None."""
        current = qualified
        parts = path.split(".")
        for index, part in enumerate(parts):
            if part in SYSTEM_FIELDS:
                if index == len(parts) - 1:
                    return None
                return Message(NOT_A_LINK, part=part, path=path)
            fdoc = self.fields(current).get(part)
            if fdoc is None:
                return Message(NOT_A_FIELD, name=part, entity=self.show(current))
            if index == len(parts) - 1:
                return None
            through = fdoc.get("type") in ("link", "links", "lines")  # as the query language
            target = self.target(current, fdoc) if through else None
            if target is None:
                return Message(NOT_A_LINK, part=part, path=path)
            if self.entity(target) is None:
                return None  # the broken link is reported on its own field
            current = target
        return None

    # --- workflows and roles ----------------------------------------------------------------

    def workflows_on(self, qualified: str) -> list[Mapping[str, Any]]:
        """Every workflow (of this blueprint or an installed one) that owns `qualified`."""
        found = []
        for app in (self.app, *self.installed):
            for body in mapping(self.blueprint_of(app).get("workflows")).values():
                entity = mapping(body).get("entity")
                if isinstance(entity, str) and qualify(app, entity) == qualified:
                    found.append(body)
        return found

    def states_of(self, qualified: str) -> set[str]:
        """Workflow states of `qualified`'s records."""
        states: set[str] = set()
        for workflow in self.workflows_on(qualified):
            states |= state_names(workflow)
        return states

    def transitions_of(self, qualified: str) -> set[str]:
        """Names of the workflow transitions of `qualified`."""
        names: set[str] = set()
        for workflow in self.workflows_on(qualified):
            names |= set(mapping(workflow.get("transitions")))
        return names

    def roles(self) -> set[str]:
        """Role names usable here: this blueprint's, the platform's, `app.role` of required apps."""
        names = set(mapping(self.doc.get("roles"))) | PLATFORM_ROLES
        for app in self.requires:
            names |= {f"{app}.{r}" for r in mapping(mapping(self.installed.get(app)).get("roles"))}
        return names


def state_names(workflow: Mapping[str, Any]) -> set[str]:
    """The state names of a workflow document (states are names or {name, label})."""
    names = set()
    states = workflow.get("states")
    for state in states if isinstance(states, list) else []:
        name = state.get("name") if isinstance(state, Mapping) else state
        if isinstance(name, str):
            names.add(name)
    return names
