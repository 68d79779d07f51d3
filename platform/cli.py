"""The `appblocks` command: blueprints, data, users, the server, the worker, the sandbox."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from appblocks.engine.db import create_engine, database_url

Handler = Callable[[argparse.Namespace], int]


def _engine(args: argparse.Namespace) -> sa.Engine:
    from appblocks.engine.platform_db import upgrade

    engine = create_engine(database_url(args.db))
    upgrade(engine)
    return engine


def _print_errors(errors: Sequence[object]) -> None:
    for error in errors:
        print(error, file=sys.stderr)


# --- blueprint ------------------------------------------------------------------------------


def cmd_blueprint_validate(args: argparse.Namespace) -> int:
    from appblocks.engine.loader import load_blueprint
    from appblocks.engine.validate import validate_path

    # Apps this one requires are looked up as sibling folders (blueprints/crm beside srm),
    # so a blueprint that links into another app validates without a database.
    installed: dict[str, dict[str, object]] = {}
    first = load_blueprint(args.path)
    for needed in (first.doc.get("requires") or {}) if isinstance(first.doc, dict) else {}:
        sibling = Path(args.path).resolve().parent / str(needed)
        if sibling.is_dir():
            installed[str(needed)] = load_blueprint(sibling).doc
    loaded, errors = validate_path(args.path, installed or None)
    if errors:
        _print_errors(errors)
        print(f"{len(errors)} error(s) in {args.path}", file=sys.stderr)
        return 1
    doc = loaded.doc
    count = len(doc.get("entities") or {})
    print(f"{args.path}: {doc.get('blueprint')} {doc.get('version')} is valid ({count} entities)")
    return 0


def _install(args: argparse.Namespace, *, dry_run: bool) -> int:
    from appblocks.engine.blueprints import BlueprintRefused, UpgradeConflict, install
    from appblocks.engine.catalog import installed_apps
    from appblocks.engine.loader import load_blueprint
    from appblocks.engine.migrations import MigrationError
    from appblocks.engine.seed import SeedDataError
    from appblocks.workflows.assembly import store_factory

    loaded = load_blueprint(args.path)
    engine = _engine(args)
    app = str(loaded.doc.get("blueprint", ""))
    if getattr(args, "if_new", False):
        with engine.connect() as conn:
            if app in dict(installed_apps(conn)):
                print(f"{app} is already installed; nothing to do (--if-new)")
                return 0
    try:
        # Seed records get computed fields, rules and initial states, but no automations:
        # installing demo data must not send mail or call webhooks.
        result = install(
            engine,
            loaded,
            with_data=getattr(args, "with_data", False),
            allow_data_loss=getattr(args, "allow_data_loss", False),
            dry_run=dry_run,
            store_factory=store_factory(automations=False),
        )
    except BlueprintRefused as exc:
        _print_errors(exc.errors)
        if isinstance(exc, UpgradeConflict):
            print(
                f"{len(exc.conflicts)} conflict(s) between the customisation of {app} and this "
                "version: change the customisation (or the blueprint) and import again.",
                file=sys.stderr,
            )
        print("Nothing was changed.", file=sys.stderr)
        return 1
    except (MigrationError, SeedDataError) as exc:
        print(exc, file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return 1
    with engine.connect() as conn:
        print(result.plan.render(conn) if dry_run else result.plan.render())
    if dry_run:
        return 0
    was = f" (upgraded from {result.previous_version})" if result.previous_version else ""
    print(f"Installed {result.app} {result.version}{was}.")
    if result.customised:
        print(f"The customisation of {result.app} was kept (merged into {result.version}).")
    for path in result.backups:
        print(f"Dropped values were saved to {path}")
    if result.records:
        total = sum(result.records.values())
        print(f"Loaded {total} seed record(s) into {len(result.records)} entities.")
    return 0


def cmd_blueprint_plan(args: argparse.Namespace) -> int:
    return _install(args, dry_run=True)


def cmd_blueprint_import(args: argparse.Namespace) -> int:
    return _install(args, dry_run=False)


def cmd_blueprint_export(args: argparse.Namespace) -> int:
    from appblocks.engine.blueprints import (
        BlueprintRefused,
        export_blueprint,
        write_blueprint_folder,
    )

    engine = _engine(args)
    with engine.connect() as conn:
        try:
            blueprint = export_blueprint(conn, args.app, args.layer)
        except BlueprintRefused as exc:
            _print_errors(exc.errors)
            return 1
    out = Path(args.out) if args.out else Path(args.app)
    for path in write_blueprint_folder(blueprint, out):
        print(path)
    return 0


def cmd_blueprint_list(args: argparse.Namespace) -> int:
    from appblocks.engine.catalog import installed_apps

    engine = _engine(args)
    with engine.connect() as conn:
        apps = installed_apps(conn)
    if not apps:
        print("No apps installed.")
    for app, version in apps:
        print(f"{app}\t{version}")
    return 0


# --- data -----------------------------------------------------------------------------------


def cmd_data_import(args: argparse.Namespace) -> int:
    from appblocks.engine.dataio import ImportFailed, import_file
    from appblocks.workflows.assembly import store_factory

    engine = _engine(args)
    try:
        count = import_file(
            engine,
            args.entity,
            Path(args.file),
            progress=sys.stderr.isatty(),
            store_factory=store_factory(),
        )
    except ImportFailed as exc:
        _print_errors(exc.problems)
        print(f"{len(exc.problems)} problem(s); no rows were imported.", file=sys.stderr)
        return 1
    print(f"Imported {count} row(s) into {args.entity}.")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from appblocks.engine.dataio import export_file

    engine = _engine(args)
    fmt = args.format or (Path(args.out).suffix.lstrip(".") if args.out else "csv")
    out = Path(args.out) if args.out else None
    count = export_file(engine, args.entity, out, fmt)
    if out is not None:
        print(f"Exported {count} row(s) to {out}.", file=sys.stderr)
    return 0


# --- users --------------------------------------------------------------------------------


def cmd_user_create(args: argparse.Namespace) -> int:
    import getpass

    from appblocks.engine.users import UserError, create_user

    attributes: dict[str, str] = {}
    for item in args.attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"--attr {item!r}: use KEY=VALUE", file=sys.stderr)
            return 1
        attributes[key] = value
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The passwords differ.", file=sys.stderr)
            return 1
    else:
        print("No password: type it on a terminal or pass --password-stdin.", file=sys.stderr)
        return 1
    engine = _engine(args)
    try:
        with engine.begin() as conn:
            create_user(
                conn,
                args.name,
                password=password,
                roles=args.role or [],
                attributes=attributes,
                email=args.email,
            )
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Created user {args.name} with roles {', '.join(args.role or []) or '(none)'}.")
    return 0


# --- server and worker ----------------------------------------------------------------------


def demo_users(engine: sa.Engine, roles: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """One user per role with a fresh random password; (user, role, password, attributes).

    A portal role's user gets the attributes its record rules read (e.g. the supplier it
    belongs to), taken from the demo data, so the portal shows something."""
    import secrets

    from appblocks.engine.access import AccessPolicy, sample_attributes
    from appblocks.engine.catalog import Catalog
    from appblocks.engine.users import UserError, create_user

    made = []
    with engine.begin() as conn:
        catalog = Catalog.load(conn)
        policy = AccessPolicy(catalog)
        for role in roles:
            password = secrets.token_urlsafe(12)
            attributes = sample_attributes(conn, catalog, policy, role)
            try:
                create_user(
                    conn, f"demo_{role}", password=password, roles=[role], attributes=attributes
                )
            except UserError:
                continue  # created by an earlier --demo run: its password was printed then
            shown = ", ".join(f"{k}={v}" for k, v in attributes.items())
            made.append((f"demo_{role}", role, password, shown))
    return made


def _cap_malloc_arenas() -> None:
    # glibc gives every thread its own malloc arena; with the server's thread pool that
    # left ~175 MiB resident after load, against ~122 MiB with two arenas (bench_api).
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or sys.platform != "linux":
        return
    try:
        ctypes.CDLL(name).mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from appblocks.server.app import create_app
    from appblocks.server.runtime import Runtime
    from appblocks.server.settings import Settings

    _cap_malloc_arenas()
    host = args.host
    if args.demo and host not in ("127.0.0.1", "localhost", "::1"):
        print("--demo serves on the loopback address only (127.0.0.1).", file=sys.stderr)
        host = "127.0.0.1"
    settings = Settings.from_env(args.db, demo=args.demo)
    runtime = Runtime(settings)
    if args.demo:
        roles = runtime.current().policy.roles()
        made = demo_users(runtime.engine, roles)
        if made:
            print("Demo users (passwords are shown once):")
            for user, role, password, attributes in made:
                print(f"  {user:<28} {role:<22} {password}  {attributes}".rstrip())
        else:
            print("Demo users exist already (their passwords were printed when they were made).")
    uvicorn.run(create_app(settings, runtime), host=host, port=args.port, log_level="info")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from appblocks.engine.housekeeping import HousekeepingError, Settings
    from appblocks.workflows.assembly import LogicCache, job_handlers
    from appblocks.workflows.worker import main_loop

    try:
        tidy = Settings.from_env()
    except HousekeepingError as exc:
        print(exc, file=sys.stderr)
        return 1
    engine = _engine(args)
    main_loop(engine, job_handlers(LogicCache(), engine), tidy=tidy)
    return 0


def cmd_housekeeping(args: argparse.Namespace) -> int:
    from appblocks.engine import housekeeping

    try:
        settings = housekeeping.Settings.from_env(
            file_hours=args.files_older_than, stale_minutes=args.imports_stale_after
        )
    except housekeeping.HousekeepingError as exc:
        print(exc, file=sys.stderr)
        return 1
    engine = _engine(args)
    try:
        with engine.begin() as conn:
            report = housekeeping.run(conn, settings)
    finally:
        engine.dispose()
    print(
        f"Unclaimed files older than {_amount(settings.file_age)}; "
        f"imports without progress for {_amount(settings.import_stale)}."
    )
    for line in report.lines():
        print(line)
    return 0


def _amount(span: dt.timedelta) -> str:
    if span >= dt.timedelta(hours=1):
        return f"{span / dt.timedelta(hours=1):g} h"
    return f"{span / dt.timedelta(minutes=1):g} min"


# --- sandbox --------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from appblocks.engine.sandbox import eval_cli

    code, output = eval_cli(args.expr, args.vars)
    print(output, file=sys.stdout if code == 0 else sys.stderr)
    return code


# --- wiring ---------------------------------------------------------------------------------


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="appblocks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", help="database URL (default: $APPBLOCKS_DB or the SQLite file)")
        return p

    bp = sub.add_parser("blueprint", help="validate, plan, import, export and list blueprints")
    bsub = bp.add_subparsers(dest="action", required=True)
    p = bsub.add_parser("validate", help="check a blueprint; every error with file and line")
    p.add_argument("path")
    p.set_defaults(func=cmd_blueprint_validate)
    p = with_db(bsub.add_parser("plan", help="print the migration plan an import would run"))
    p.add_argument("path")
    p.set_defaults(func=cmd_blueprint_plan)
    p = with_db(bsub.add_parser("import", help="validate, plan and apply atomically"))
    p.add_argument("path")
    p.add_argument("--with-data", action="store_true", help="also load the seed records")
    p.add_argument("--allow-data-loss", action="store_true", help="allow dropping columns")
    p.add_argument("--if-new", action="store_true", help="do nothing if the app is installed")
    p.set_defaults(func=cmd_blueprint_import)
    p = with_db(bsub.add_parser("export", help="write an installed app as a blueprint folder"))
    p.add_argument("app")
    p.add_argument("--out", help="folder to write (default: ./APP)")
    p.add_argument(
        "--layer",
        choices=["effective", "base", "custom"],
        default="effective",
        help="effective: with customisations (default); base: as shipped; custom: only the "
        "customised documents",
    )
    p.set_defaults(func=cmd_blueprint_export)
    p = with_db(bsub.add_parser("list", help="installed apps and versions"))
    p.set_defaults(func=cmd_blueprint_list)

    data = sub.add_parser("data", help="import and export records (CSV, XLSX)")
    dsub = data.add_subparsers(dest="action", required=True)
    p = with_db(dsub.add_parser("import", help="rows into records: all or none"))
    p.add_argument("entity", metavar="APP.ENTITY")
    p.add_argument("file")
    p.set_defaults(func=cmd_data_import)
    p = with_db(dsub.add_parser("export", help="records out"))
    p.add_argument("entity", metavar="APP.ENTITY")
    p.add_argument("--format", choices=["csv", "xlsx"])
    p.add_argument("--out")
    p.set_defaults(func=cmd_data_export)

    p = with_db(sub.add_parser("serve", help="serve the UI and the API"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="create a user per role (loopback only)")
    p.set_defaults(func=cmd_serve)
    p = with_db(sub.add_parser("worker", help="run due timers, schedules and outgoing mail"))
    p.set_defaults(func=cmd_worker)
    p = with_db(
        sub.add_parser(
            "housekeeping",
            help="remove old unclaimed uploads, close imports whose process died (once; the "
            "worker does it every five minutes)",
        )
    )
    p.add_argument(
        "--files-older-than", type=_number, metavar="HOURS",
        help="remove files chosen in a form that was never saved after this many hours "
        "(default: $APPBLOCKS_UNCLAIMED_FILE_HOURS or 24)",
    )  # fmt: skip
    p.add_argument(
        "--imports-stale-after", type=_number, metavar="MINUTES",
        help="mark an import without progress for this many minutes as interrupted "
        "(PostgreSQL; default: $APPBLOCKS_IMPORT_STALE_MINUTES or 15)",
    )  # fmt: skip
    p.set_defaults(func=cmd_housekeeping)

    user = sub.add_parser("user", help="manage users")
    usub = user.add_subparsers(dest="action", required=True)
    p = with_db(usub.add_parser("create", help="add a user"))
    p.add_argument("name")
    p.add_argument("--role", action="append", help="a role (repeat for several)")
    p.add_argument("--attr", action="append", metavar="KEY=VALUE", help="feeds record rules")
    p.add_argument("--email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_user_create)

    p = sub.add_parser("eval", help="evaluate an expression in the formula sandbox")
    p.add_argument("expr")
    p.add_argument("--vars", help="JSON object of variables")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
