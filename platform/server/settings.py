"""Server settings, passed explicitly to `create_app` (no ambient globals)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appblocks.engine.db import database_url
from appblocks.engine.users import time_zone_problem


def _secret_key(path: Path) -> str:
    """$APPBLOCKS_SECRET, else a key kept in var/ (servers sharing a database must share it)."""
    env = os.environ.get("APPBLOCKS_SECRET")
    if env:
        return env
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know about its surroundings."""

    db_url: str
    secret_key: str
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024  # multipart uploads from the pages
    cookie_secure: bool = False
    demo: bool = False
    catalog_ttl_seconds: float = 1.0
    time_zone: str = "UTC"  # for users without a zone of their own ($APPBLOCKS_TIMEZONE)

    def __post_init__(self) -> None:
        problem = time_zone_problem(self.time_zone)
        if problem:
            raise ValueError(f"APPBLOCKS_TIMEZONE: {problem}")

    @classmethod
    def from_env(cls, db_url: str | None = None, **overrides: object) -> Settings:
        """Settings from the environment (and explicit overrides)."""
        url = database_url(db_url)
        key = _secret_key(Path(os.environ.get("APPBLOCKS_VAR", "var")) / "secret_key")
        if "time_zone" not in overrides:
            overrides["time_zone"] = os.environ.get("APPBLOCKS_TIMEZONE", "").strip() or "UTC"
        return cls(db_url=url, secret_key=key, **overrides)  # type: ignore[arg-type]
