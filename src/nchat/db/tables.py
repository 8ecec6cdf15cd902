"""Every table nchat expects, imported once so MetaData is complete (migrations, doctor)."""

from __future__ import annotations

from nchat.admin.models import app_config, audit_log
from nchat.auth.models import login_failures, sessions
from nchat.db.meta import metadata
from nchat.users.models import users

__all__ = ["app_config", "audit_log", "login_failures", "metadata", "sessions", "users"]
