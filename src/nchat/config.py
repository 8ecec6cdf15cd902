"""Settings, read once from the environment (`NCHAT_*`) and a `.env` file."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nchat.appstate import Key

SECRET_FILE = "secret_key"


class Settings(BaseSettings):
    # Also read from `.env` in the working directory; the environment wins over the file.
    model_config = SettingsConfigDict(
        env_prefix="NCHAT_", extra="ignore", env_file=".env", env_file_encoding="utf-8"
    )

    database_url: str | None = Field(
        default=None, description="postgresql://... of an external server; unset: embedded"
    )
    data_dir: Path = Path("./nchat-data")
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = Field(
        default=None, ge=1, le=64, description="serve's worker processes; unset: default_workers()"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "console"
    # Logs go to this file (appended; reopened when logrotate moves it) instead of stdout.
    log_file: Path | None = None
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

    # -- abuse resistance (docs/security.md) ---------------------------------------------
    # Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed;
    # empty: the peer address is the client's.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Beyond NCHAT_LOGIN_IP_MAX_FAILURES an address may try once per this many seconds
    # (slowed, not locked out: one office shares an address).
    login_ip_slow_s: int = Field(default=10, ge=1)
    # An address an account signed in from stays known this long after its last sign-in:
    # failures from elsewhere do not lock the account out there (decision 0060).
    login_known_address_days: int = Field(default=90, ge=1)
    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Origins allowed to call the API from a browser (CORS) and to open WebSockets; empty:
    # same origin only.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    graphql_max_depth: int = Field(default=12, ge=2)
    graphql_max_aliases: int = Field(default=30, ge=1)
    graphql_max_cost: int = Field(default=5000, ge=1)
    graphql_max_response_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Introspection in production; always on in development.
    graphql_introspection: bool = False
    # Per-user volume limits: a sustained rate per minute and a burst on top of it.
    rate_send_per_min: int = Field(default=120, ge=1)
    rate_send_burst: int = Field(default=30, ge=1)
    rate_sync_ops_per_min: int = Field(default=120, ge=1)
    rate_sync_ops_burst: int = Field(default=500, ge=1)
    rate_signals_per_min: int = Field(default=120, ge=1)
    rate_signals_burst: int = Field(default=20, ge=1)
    ws_max_per_user: int = Field(default=20, ge=1)
    # Roles no volume limit applies to (for bots and load tests), e.g. `admin,owner`.
    rate_limit_exempt_roles: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # -- files (README: Files) ---------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = "local"
    # local: where objects live; unset: <data dir>/files.
    storage_dir: Path | None = None
    s3_endpoint_url: str | None = None  # unset: AWS
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""  # prepended to every object key
    s3_path_style: bool = True  # MinIO, Ceph and most others need it; AWS takes either
    # Stream S3 downloads through nchat instead of redirecting to a presigned URL (for stores
    # clients cannot reach).
    s3_proxy_downloads: bool = False
    s3_url_expiry_s: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    # Largest image decoded for thumbnails (pixels); larger images are refused at upload.
    image_max_pixels: int = Field(default=50_000_000, ge=1_000_000)

    # -- search ------------------------------------------------------------------------------
    # The language words are stemmed for (a PostgreSQL stemmer: english, french, german,
    # spanish, ...; `simple`: none). Changing it takes `nchat search reindex`.
    search_language: str = Field(default="english", pattern=r"^[a-z]{2,32}$")

    # -- notifications (README: Notifications) ---------------------------------------------
    # A notification waits this long and is dropped if the message was read meanwhile.
    push_delay_s: float = Field(default=30.0, ge=0, le=24 * 3600)
    email_delay_s: float = Field(default=600.0, ge=0, le=7 * 24 * 3600)
    # Web Push endpoints are URLs a client chooses: private, loopback and link-local ones are
    # refused unless this is set (tests, closed networks).
    push_allow_private_endpoints: bool = False
    # VAPID key pair (PEM of the EC P-256 private key); unset: generated once in the data dir.
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@localhost"
    # APNs, token auth: the .p8 key, its id, the team, the app's bundle id (topic).
    apns_key_file: Path | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None
    apns_url: str = "https://api.push.apple.com"
    # FCM HTTP v1: a service-account JSON file (its token_uri and project_id are used).
    fcm_service_account_file: Path | None = None
    fcm_url: str = "https://fcm.googleapis.com"
    # Email: unset host means no email notifications.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_from: str = "nchat <nchat@localhost>"
    # The address people reach this server at, for links in emails; unset: http://host:port.
    public_url: str | None = None
    # Background jobs this process runs at once (procrastinate worker); 0: none here, only
    # `nchat worker` processes run them.
    job_concurrency: int = Field(default=10, ge=0, le=200)

    @field_validator("trusted_proxies", "cors_origins", "rate_limit_exempt_roles", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # NCHAT_LOG_FILE= (empty, as in a .env template) means stdout, not the directory `.`.
        return None if value == "" else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"NCHAT_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network"
                ) from None
        return value

    @property
    def files_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"

    @cached_property
    def jwt_secret(self) -> str:
        """The configured secret, or one generated once and kept in the data dir (0600)."""
        if self.secret_key:
            return self.secret_key
        return load_or_create_secret(self.data_dir)


SETTINGS: Key[Settings] = Key("settings")


# Each worker keeps its own pools (about 25 connections at most with the defaults); four
# stay well inside the embedded server's 200 connections. More is a choice: NCHAT_WORKERS.
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One worker per core this process may run on (the measured best on 2 cores with the
    database on the same machine: docs/benchmarks/log.md), at most MAX_DEFAULT_WORKERS."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


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
