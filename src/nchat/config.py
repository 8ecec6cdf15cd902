"""Settings, read once from the environment (`NCHAT_*`)."""

from __future__ import annotations

import os
import secrets
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
    event_retention_s: int = Field(default=30 * 24 * 3600, ge=60)
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
    value = secrets.token_urlsafe(48)
    # O_EXCL: when two workers race, exactly one writes and both read the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
