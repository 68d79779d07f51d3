"""Users, password hashes (argon2) and bearer tokens (random, stored hashed, expiring)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appblocks.engine.models import SignInAttempt, Token, User, utcnow
from appblocks.engine.names import name_problem

PLATFORM_ROLES = ("admin", "designer")
TOKEN_LIFETIME = dt.timedelta(hours=12)
MIN_PASSWORD = 10
# Throttling: this many failures for one user name within the window lock it for the window.
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)

_hasher = PasswordHasher()


class UserError(ValueError):
    """A user that cannot be created or changed as asked."""


@dataclass(frozen=True)
class Identity:
    """Who is calling: the name, roles and attributes that permissions and record rules read."""

    name: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    locale: str | None = None
    time_zone: str | None = None  # the user's own IANA zone; None: the deployment's default

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone this machine knows (`Asia/Shanghai`, `UTC`), or None."""
    if not name or len(name) > 64 or name != name.strip() or name.startswith(("/", ".")):
        return f"{name!r} is not a time zone name such as Asia/Shanghai or UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not a known time zone (write a name such as Asia/Shanghai or UTC)"
    return None


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """Why a password is too weak, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if password.lower() in {"password123", "0123456789", "1234567890", "qwertyuiop"}:
        return "that password is too easy to guess"
    return None


def create_user(
    connection: sa.Connection,
    name: str,
    *,
    password: str | None,
    roles: Sequence[str] = (),
    attributes: Mapping[str, Any] | None = None,
    email: str | None = None,
    display_name: str | None = None,
    locale: str | None = None,
    check_password: bool = True,
) -> int:
    """Add a user; raises UserError with a reason. The new user's id."""
    if not name or len(name) > 150 or any(c.isspace() for c in name):
        raise UserError("a user name is 1 to 150 characters without spaces")
    if password is not None and check_password:
        problem = password_problem(password)
        if problem:
            raise UserError(problem)
    for role in roles:
        problem = name_problem(role)
        if problem and role not in PLATFORM_ROLES:
            raise UserError(f"role {role!r}: {problem}")
    exists = connection.execute(sa.select(User.id).where(User.name == name)).first()
    if exists:
        raise UserError(f"a user called {name!r} already exists")
    result = connection.execute(
        sa.insert(User).values(
            name=name,
            password_hash=hash_password(password) if password else None,
            roles=sorted(set(roles)),
            attributes=dict(attributes or {}),
            email=email,
            display_name=display_name,
            locale=locale,
            active=True,
            created_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def identity_of(connection: sa.Connection, name: str) -> Identity | None:
    """The identity of an active user, or None."""
    row = connection.execute(
        sa.select(User.name, User.roles, User.attributes, User.locale, User.time_zone).where(
            User.name == name, User.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    return Identity(
        row.name, frozenset(row.roles or ()), dict(row.attributes or {}), row.locale, row.time_zone
    )


def set_locale(connection: sa.Connection, name: str, locale: str) -> None:
    """Keep a user's language (used before the browser's Accept-Language)."""
    connection.execute(sa.update(User).where(User.name == name).values(locale=locale))


def set_time_zone(connection: sa.Connection, name: str, time_zone: str | None) -> None:
    """Keep a user's time zone (an IANA name; None goes back to the deployment's default).
    Raises UserError for a name that is not a known zone, and changes nothing then."""
    if time_zone is not None:
        problem = time_zone_problem(time_zone)
        if problem:
            raise UserError(problem)
    connection.execute(sa.update(User).where(User.name == name).values(time_zone=time_zone))


def throttled(connection: sa.Connection, username: str, now: dt.datetime | None = None) -> bool:
    """Whether sign-ins for this user name are paused after too many failures."""
    now = now or utcnow()
    failures = connection.execute(
        sa.select(sa.func.count())
        .select_from(SignInAttempt)
        .where(SignInAttempt.username == username, SignInAttempt.at > now - FAILURE_WINDOW)
    ).scalar_one()
    return int(failures) >= MAX_FAILURES


def authenticate(
    connection: sa.Connection, username: str, password: str, *, address: str | None = None
) -> Identity | None:
    """The identity for a correct name and password, else None (and the failure counted)."""
    if throttled(connection, username):
        return None
    row = connection.execute(
        sa.select(User.password_hash).where(User.name == username, User.active.is_(True))
    ).first()
    ok = False
    if row is not None and row.password_hash:
        try:
            ok = _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time as a real check so that timing does not reveal user names.
        _hasher.hash(password)
    if not ok:
        connection.execute(
            sa.insert(SignInAttempt).values(username=username[:150], address=address, at=utcnow())
        )
        return None
    connection.execute(sa.delete(SignInAttempt).where(SignInAttempt.username == username))
    return identity_of(connection, username)


def token_digest(token: str) -> str:
    """The hash under which a bearer token is stored (and may be cached)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    connection: sa.Connection, username: str, lifetime: dt.timedelta = TOKEN_LIFETIME
) -> str:
    """A new random bearer token for the user (only its hash is stored)."""
    user_id = connection.execute(sa.select(User.id).where(User.name == username)).scalar_one()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    connection.execute(
        sa.insert(Token).values(
            user_id=user_id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


# Built once: every API request runs it (a reused statement skips SQLAlchemy's cache-key walk).
_USERS: sa.Table = User.__table__  # type: ignore[assignment]
_TOKENS: sa.Table = Token.__table__  # type: ignore[assignment]
_TOKEN_IDENTITY = (
    sa.select(
        _USERS.c.name,
        _USERS.c.roles,
        _USERS.c.attributes,
        _USERS.c.locale,
        _USERS.c.time_zone,
        _TOKENS.c.expires_at,
    )
    .select_from(_TOKENS.join(_USERS, _TOKENS.c.user_id == _USERS.c.id))
    .where(
        _TOKENS.c.token_hash == sa.bindparam("digest"),
        _TOKENS.c.expires_at > sa.bindparam("now", type_=_TOKENS.c.expires_at.type),
        _TOKENS.c.revoked_at.is_(None),
        _USERS.c.active.is_(True),
    )
)


def identity_for_digest(
    connection: sa.Connection, digest: str
) -> tuple[Identity, dt.datetime] | None:
    """The identity behind a token's digest and when the token expires, if it is known,
    unexpired and not revoked and its user active (one query)."""
    row = connection.execute(_TOKEN_IDENTITY, {"digest": digest, "now": utcnow()}).first()
    if row is None:
        return None
    identity = Identity(
        row.name, frozenset(row.roles or ()), dict(row.attributes or {}), row.locale, row.time_zone
    )
    return identity, row.expires_at


def identity_for_token(connection: sa.Connection, token: str) -> Identity | None:
    """The identity a bearer token stands for, if it is known, unexpired and not revoked."""
    found = identity_for_digest(connection, token_digest(token))
    return found[0] if found else None


def revoke_token(connection: sa.Connection, token: str) -> bool:
    """Revoke a token; whether it existed."""
    result = connection.execute(
        sa.update(Token)
        .where(Token.token_hash == token_digest(token), Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)
