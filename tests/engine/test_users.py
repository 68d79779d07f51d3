"""Users: argon2 passwords, throttled sign-in, hashed expiring revocable tokens."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appblocks.engine.models import Token
from appblocks.engine.users import (
    MAX_FAILURES,
    UserError,
    authenticate,
    create_user,
    identity_for_token,
    issue_token,
    revoke_token,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as conn:
        create_user(conn, "alice", password=PASSWORD, roles=["buyer"], attributes={"supplier": 3})
    return engine


def test_password_is_stored_as_argon2_and_checked(alice: sa.Engine) -> None:
    with alice.begin() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM ab_user")).scalar_one()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        who = authenticate(conn, "alice", PASSWORD)
        assert who is not None and who.roles == {"buyer"} and who.attributes == {"supplier": 3}
        assert authenticate(conn, "alice", "wrong password!") is None
        assert authenticate(conn, "nobody", PASSWORD) is None


def test_weak_password_and_duplicate_name_are_refused(alice: sa.Engine) -> None:
    with alice.begin() as conn:
        with pytest.raises(UserError, match="at least"):
            create_user(conn, "bob", password="short")
        with pytest.raises(UserError, match="already exists"):
            create_user(conn, "alice", password=PASSWORD)


def test_repeated_failures_lock_the_name(alice: sa.Engine) -> None:
    with alice.begin() as conn:
        for _ in range(MAX_FAILURES):
            assert authenticate(conn, "alice", "not the password") is None
        assert authenticate(conn, "alice", PASSWORD) is None  # locked even with the right one


def test_tokens_are_hashed_expire_and_revoke(alice: sa.Engine) -> None:
    with alice.begin() as conn:
        token = issue_token(conn, "alice")
        assert token not in conn.execute(sa.text("SELECT token_hash FROM ab_token")).scalar_one()
        who = identity_for_token(conn, token)
        assert who is not None and who.name == "alice"
        assert identity_for_token(conn, token + "x") is None
        assert revoke_token(conn, token)
        assert identity_for_token(conn, token) is None
        old = issue_token(conn, "alice")
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        conn.execute(sa.update(Token).where(Token.revoked_at.is_(None)).values(expires_at=past))
        assert identity_for_token(conn, old) is None
