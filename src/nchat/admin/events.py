"""The configuration's event: config.updated carries the public configuration, to everyone
(no channel, no target), so open clients apply a new name, theme or switch at once."""

from __future__ import annotations

from nchat.admin.sections import PublicConfig
from nchat.realtime.events import register

CONFIG_UPDATED = "config.updated"

register(PublicConfig, CONFIG_UPDATED)
