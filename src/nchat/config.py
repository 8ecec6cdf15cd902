"""Settings, read once from the environment (`NCHAT_*`)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret_key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NCHAT_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql://... of an external server; unset: embedded"
    )
    data_dir: Path = Path("./nchat-data")
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "console"
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    redis_url: str | None = None
    redis_prefix: str | None = Field(
        default=None, description="Redis channel prefix; unset: named after the database"
    )
    event_retention_s: int = Field(default=30 * 24 * 3600, ge=60)
    ws_compression: bool = Field(
        default=False, description="permessage-deflate on WebSockets (decision 0017)"
    )
    # At most half the presence TTL (60 s): a socket's row is refreshed once per heartbeat.
    ws_heartbeat_s: float = Field(
        default=25.0, ge=1, le=30, description="server pings; silent sockets go after two"
    )
    db_pool_size: int = Field(default=10, ge=1)
    password_min_length: int = Field(default=8, ge=6)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=300, ge=1)
    login_ip_max_failures: int = Field(default=30, ge=1)
    environment: Literal["development", "production"] = "production"

    @cached_property
    def jwt_secret(self) -> str:
        """The configured secret, or one generated once and kept in the data dir (0600)."""
        if self.secret_key:
            return self.secret_key
        return load_or_create_secret(self.data_dir)


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temp file, then linked into place: the key file never
    # exists half-written, and when two processes race exactly one link wins and both read
    # the winner's key.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
