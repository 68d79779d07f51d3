"""Autonumbers: `PO-{yyyy}-{seq:05}` rendered from a counter row in `ab_counter`.

The counter runs per entity, field and rendered prefix (so `PO-2025-` and `PO-2026-` count
separately). It is taken with one `UPDATE ... RETURNING`, whose row lock holds until the
caller's transaction ends: concurrent saves queue on it, numbers never repeat, and a number
is lost (a gap) only when the transaction that took it rolls back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from appblocks.engine.models import Counter
from appblocks.engine.spec import FieldSpec

_COUNTER: sa.Table = Counter.__table__  # type: ignore[assignment]
_TOKEN = re.compile(r"\{(yyyy|yy|mm|dd|seq)(?::0?(\d{1,2}))?\}")
DEFAULT_FORMAT = "{seq}"
_SEQ_MARK = "{#}"


@dataclass(frozen=True)
class Format:
    """A parsed autonumber format: literal text and tokens, in order."""

    parts: tuple[tuple[str, str, int], ...]  # (kind, text-or-token, zero-pad width)

    def _render(self, now: dt.datetime, seq: str) -> str:
        out = []
        for kind, token, width in self.parts:
            if kind == "text":
                out.append(token)
            elif token == "seq":
                out.append(seq if not seq.isdigit() else seq.zfill(width))
            else:
                out.append(_date_token(token, now))
        return "".join(out)

    def prefix(self, now: dt.datetime) -> str:
        """The rendered format with the sequence left as a mark: the counter's scope."""
        return self._render(now, _SEQ_MARK)

    def render(self, now: dt.datetime, seq: int) -> str:
        """The autonumber for sequence number `seq`."""
        return self._render(now, str(seq))


def _date_token(token: str, now: dt.datetime) -> str:
    if token == "yyyy":
        return f"{now.year:04d}"
    if token == "yy":
        return f"{now.year % 100:02d}"
    if token == "mm":
        return f"{now.month:02d}"
    return f"{now.day:02d}"


@lru_cache(maxsize=512)
def parse_format(text: str) -> Format:
    """Parse a format once; a format without `{seq}` gets it appended (else values repeat)."""
    parts: list[tuple[str, str, int]] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() > pos:
            parts.append(("text", text[pos : match.start()], 0))
        parts.append(("token", match.group(1), int(match.group(2) or 0)))
        pos = match.end()
    if pos < len(text):
        parts.append(("text", text[pos:], 0))
    if not any(kind == "token" and token == "seq" for kind, token, _ in parts):
        parts.append(("token", "seq", 0))
    return Format(tuple(parts))


def counter_key(entity: str, field: FieldSpec, now: dt.datetime) -> str:
    """The `ab_counter` key of a field's counter at `now`."""
    prefix = parse_format(str(field.get("format") or DEFAULT_FORMAT)).prefix(now)
    key = f"{entity}.{field.name}:{prefix}"
    if len(key) > 255:  # the column's width; a digest keeps long formats distinct
        key = key[:190] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _insert_missing(conn: sa.Connection, key: str) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(postgresql.insert(_COUNTER).values(key=key, value=0).on_conflict_do_nothing())
    elif dialect == "sqlite":
        conn.execute(sqlite.insert(_COUNTER).values(key=key, value=0).on_conflict_do_nothing())
    else:  # other databases: a savepoint keeps a lost race from aborting the transaction
        try:
            with conn.begin_nested():
                conn.execute(_COUNTER.insert().values(key=key, value=0))
        except sa.exc.IntegrityError:
            pass


def reserve(conn: sa.Connection, key: str, count: int = 1) -> int:
    """Advance counter `key` by `count` atomically; the last number taken."""
    bump = (
        sa.update(_COUNTER)
        .where(_COUNTER.c.key == key)
        .values(value=_COUNTER.c.value + count)
        .returning(_COUNTER.c.value)
    )
    # UPDATE first: the row exists on every save but the first, so this is one statement.
    value = conn.execute(bump).scalar()
    if value is None:
        _insert_missing(conn, key)
        value = conn.execute(bump).scalar_one()
    return int(value)


def next_values(
    conn: sa.Connection, entity: str, field: FieldSpec, now: dt.datetime, count: int
) -> list[str]:
    """`count` consecutive autonumbers for `field` (one counter update for a whole batch)."""
    if count <= 0:
        return []
    fmt = parse_format(str(field.get("format") or DEFAULT_FORMAT))
    last = reserve(conn, counter_key(entity, field, now), count)
    return [fmt.render(now, n) for n in range(last - count + 1, last + 1)]


def next_value(conn: sa.Connection, entity: str, field: FieldSpec, now: dt.datetime) -> str:
    """The next autonumber of `field` of `entity`, e.g. `PO-2025-00042`."""
    return next_values(conn, entity, field, now, 1)[0]
