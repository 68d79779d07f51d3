"""A user's own time zone: kept on the user, validated, carried by the identity (session and
token alike); the deployment's default from $APPBLOCKS_TIMEZONE; migration 0005."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from appblocks.engine.models import User
from appblocks.engine.platform_db import alembic_config
from appblocks.engine.users import (
    UserError,
    create_user,
    identity_for_token,
    identity_of,
    issue_token,
    set_time_zone,
    time_zone_problem,
)
from appblocks.server.settings import Settings

PASSWORD = "correct horse battery"


def test_time_zone_is_kept_and_carried_by_session_and_token(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        create_user(conn, "mei", password=PASSWORD, roles=["buyer"])
        assert identity_of(conn, "mei").time_zone is None  # type: ignore[union-attr]
        set_time_zone(conn, "mei", "Asia/Shanghai")
        token = issue_token(conn, "mei")
    with engine.connect() as conn:
        assert identity_of(conn, "mei").time_zone == "Asia/Shanghai"  # type: ignore[union-attr]
        assert identity_for_token(conn, token).time_zone == "Asia/Shanghai"  # type: ignore[union-attr]
    with engine.begin() as conn:
        set_time_zone(conn, "mei", None)  # back to the deployment's default
        assert identity_of(conn, "mei").time_zone is None  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", " Asia/Shanghai", "../etc/passwd", "x" * 80])
def test_unknown_time_zone_is_refused_and_changes_nothing(engine: sa.Engine, bad: str) -> None:
    with engine.begin() as conn:
        create_user(conn, "lee", password=PASSWORD)
        set_time_zone(conn, "lee", "Asia/Tokyo")
    with engine.begin() as conn, pytest.raises(UserError, match="time zone"):
        set_time_zone(conn, "lee", bad)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(User.time_zone).where(User.name == "lee")).scalar_one()
    assert stored == "Asia/Tokyo"


def test_time_zone_problem_names_what_is_wrong() -> None:
    assert time_zone_problem("Europe/Berlin") is None
    assert time_zone_problem("UTC") is None
    assert "not a known time zone" in str(time_zone_problem("Asia/Atlantis"))


def test_deployment_default_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APPBLOCKS_SECRET", "s" * 40)
    monkeypatch.delenv("APPBLOCKS_TIMEZONE", raising=False)
    assert Settings.from_env("sqlite://").time_zone == "UTC"
    monkeypatch.setenv("APPBLOCKS_TIMEZONE", "Asia/Shanghai")
    assert Settings.from_env("sqlite://").time_zone == "Asia/Shanghai"
    monkeypatch.setenv("APPBLOCKS_TIMEZONE", "Asia/Shangai")
    with pytest.raises(ValueError, match="APPBLOCKS_TIMEZONE.*Asia/Shangai"):
        Settings.from_env("sqlite://")


def test_migrations_stay_linear_and_0005_adds_and_removes_the_column(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        config = alembic_config(conn)
        script = ScriptDirectory.from_config(config)
        assert script.get_heads() == ["0005"]
        assert [r.revision for r in script.walk_revisions()] == [
            "0005", "0004", "0003", "0002", "0001"
        ]  # fmt: skip
        command.downgrade(config, "0004")
    assert "time_zone" not in {c["name"] for c in sa.inspect(engine).get_columns("ab_user")}
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert "time_zone" in {c["name"] for c in sa.inspect(engine).get_columns("ab_user")}
