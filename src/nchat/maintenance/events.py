"""Maintenance mode's events: for every socket and sync client (no channel, no target)."""

from __future__ import annotations

from nchat.maintenance.schemas import MaintenanceData
from nchat.realtime.events import register

MAINTENANCE_STARTED = "maintenance.started"
MAINTENANCE_UPDATED = "maintenance.updated"  # new message or terms while it stays on
MAINTENANCE_ENDED = "maintenance.ended"

register(MaintenanceData, MAINTENANCE_STARTED, MAINTENANCE_UPDATED, MAINTENANCE_ENDED)
