"""Bring the platform tables (`ab_*`) to the newest Alembic revision."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

_SCRIPTS = Path(__file__).with_name("alembic")


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic config that runs our scripts on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Create or upgrade the platform tables; a no-op when they are current."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
