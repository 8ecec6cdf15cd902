"""Delivering the pushes of one message once its delay is over: the rows still pending are
checked again (deleted, read, the person on a socket or in do-not-disturb), the rest go to
every live device of each person, with the message as it reads now."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin.service import get_config
from nchat.config import Settings
from nchat.notifications import repository as repo
from nchat.notifications.links import base_url, message_link
from nchat.notifications.outcome import Device, Outcome, Platform, Push, Result
from nchat.observability import Metrics
from nchat.realtime.presence import fresh_since

MAX_ATTEMPTS = 6
BACKOFF_S = 30.0
SEND_CONCURRENCY = 64
BODY_CHARS = 400
logger = structlog.get_logger("nchat.notifications")


class Sender(Protocol):
    async def send(self, device: Device, push: Push) -> Result: ...

    async def aclose(self) -> None: ...


@dataclass
class Delivery:
    """What the jobs need, made once per process (`nchat serve`, `nchat worker`)."""

    engine: AsyncEngine
    settings: Settings
    metrics: Metrics
    senders: dict[Platform, Sender] = field(default_factory=dict)

    async def aclose(self) -> None:
        for sender in self.senders.values():
            await sender.aclose()


@dataclass(frozen=True)
class Retry:
    """Some devices asked to be tried again: when the message's job should run next."""

    at: datetime


async def deliver_pushes(delivery: Delivery, message_id: uuid.UUID) -> Retry | None:
    async with delivery.engine.begin() as conn:
        rows = await repo.due_pushes(conn, message_id, fresh_since())
        if not rows:
            return None
        about = await repo.message_brief(conn, message_id)
        people = await repo.settings_of(conn, [row["user_id"] for row in rows])
        now = datetime.now(UTC)
        dropped = {row["id"]: why for row in rows if (why := _dropped(row, people, now, about))}
        if not (await get_config(conn))["features"]["push"]:
            dropped = {row["id"]: "disabled" for row in rows}  # the server sends no pushes
        await repo.end_pushes(conn, dropped)
        going = [row for row in rows if row["id"] not in dropped]
        devices = await repo.devices_of(conn, [row["user_id"] for row in going])
        badges = await repo.badges(conn, [row["user_id"] for row in going])
    if dropped:
        delivery.metrics.notifications.labels("push", "dropped").inc(len(dropped))
    if not going or about is None:
        return None
    by_user: dict[uuid.UUID, list[RowMapping]] = {}
    for device in devices:
        by_user.setdefault(device["user_id"], []).append(device)
    sending = _Round(delivery, about, people, badges, asyncio.Semaphore(SEND_CONCURRENCY))
    outcomes = await asyncio.gather(
        *(_push_one(sending, row, by_user.get(row["user_id"], [])) for row in going)
    )
    return await _record(delivery, going, outcomes)


@dataclass
class _Outcome:
    reached: list[uuid.UUID] = field(default_factory=list)
    gone: list[uuid.UUID] = field(default_factory=list)
    retry_after_s: float | None = None
    wants_retry: bool = False
    failed: bool = False


@dataclass(frozen=True)
class _Round:
    """One message's sends: what every person's push is made from."""

    delivery: Delivery
    about: RowMapping
    people: dict[uuid.UUID, RowMapping]
    badges: dict[uuid.UUID, int]
    limit: asyncio.Semaphore


async def _push_one(sending: _Round, row: RowMapping, devices: list[RowMapping]) -> _Outcome:
    outcome = _Outcome()
    user_id = row["user_id"]
    content = sending.people[user_id]["push_content"] if user_id in sending.people else "full"
    delivery = sending.delivery
    push = _push(delivery.settings, sending.about, content, sending.badges.get(user_id, 0))
    for device_row in devices:
        if device_row["id"] in row["pushed_devices"]:
            continue
        device = _device(device_row)
        sender = delivery.senders.get(device.platform)
        if sender is None:
            continue
        async with sending.limit:
            result = await sender.send(device, push)
        if result.outcome is Outcome.SENT:
            outcome.reached.append(device_row["id"])
        elif result.outcome is Outcome.GONE:
            outcome.gone.append(device_row["id"])
        elif result.outcome is Outcome.RETRY:
            outcome.wants_retry = True
            if result.retry_after_s is not None:
                outcome.retry_after_s = max(outcome.retry_after_s or 0.0, result.retry_after_s)
        else:
            outcome.failed = True
            logger.warning("push refused", platform=device.platform.value, detail=result.detail)
    return outcome


async def _record(
    delivery: Delivery, rows: Sequence[RowMapping], outcomes: Sequence[_Outcome]
) -> Retry | None:
    ended: dict[int, str] = {}
    retry_at: datetime | None = None
    now = datetime.now(UTC)
    async with delivery.engine.begin() as conn:
        await repo.delete_devices_by_id(conn, [g for o in outcomes for g in o.gone])
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome.wants_retry and row["push_attempts"] + 1 < MAX_ATTEMPTS:
                wait = outcome.retry_after_s or BACKOFF_S * 2 ** row["push_attempts"]
                due = now + timedelta(seconds=wait)
                await repo.retry_push(conn, row["id"], due=due, reached=outcome.reached)
                retry_at = due if retry_at is None else min(retry_at, due)
                continue
            sent = bool(outcome.reached) or bool(row["pushed_devices"])
            ended[row["id"]] = "sent" if sent else ("failed" if _failed(outcome) else "none")
        await repo.end_pushes(conn, ended)
    for state in ended.values():
        label = {"sent": "sent", "failed": "failed"}.get(state, "dropped")
        delivery.metrics.notifications.labels("push", label).inc()
    return None if retry_at is None else Retry(retry_at)


def _failed(outcome: _Outcome) -> bool:
    return outcome.failed or outcome.wants_retry


def _dropped(
    row: RowMapping,
    people: dict[uuid.UUID, RowMapping],
    now: datetime,
    about: RowMapping | None,
) -> str | None:
    """Why this push no longer goes, or None."""
    if row["deleted"] or about is None:
        return "deleted"
    if row["read"]:
        return "read"
    statuses = set(row["statuses"] or ())
    if "dnd" in statuses:
        return "dnd"
    if "online" in statuses:
        return "active"
    person = people.get(row["user_id"])
    if person is not None and in_quiet_hours(person, now):
        return "dnd"
    return None


def in_quiet_hours(person: RowMapping | dict[str, Any], now: datetime) -> bool:
    if not person["dnd_enabled"] or person["dnd_start"] is None or person["dnd_end"] is None:
        return False
    try:
        local = now.astimezone(ZoneInfo(person["dnd_timezone"])).time()
    except (KeyError, ValueError):
        local = now.time()
    start, end = person["dnd_start"], person["dnd_end"]
    if start <= end:
        return bool(start <= local < end)
    return bool(local >= start or local < end)  # past midnight: 22:00 -> 07:00


def _push(settings: Settings, about: RowMapping, content: str, badge: int) -> Push:
    channel_id, message_id = str(about["channel_id"]), str(about["id"])
    data = {
        "type": "message",
        "channel_id": channel_id,
        "message_id": message_id,
        "url": message_link(base_url(settings), channel_id, message_id),
    }
    if about["thread_id"] is not None:
        data["thread_id"] = str(about["thread_id"])
    if content == "none":
        return Push("nchat", "New message", data, badge, message_id)
    title = _title(about)
    body = _one_line(about["text"] or "") if content == "full" else "New message"
    return Push(title, body, data, badge, message_id)


def _title(about: RowMapping) -> str:
    author = about["author_name"]
    if about["channel_type"] == "direct":
        return str(author)
    if about["channel_type"] == "group":
        return f"{author} (group)"
    where = f"#{about['channel_name']}"
    return f"{author} in {where}" + (" (thread)" if about["thread_id"] is not None else "")


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= BODY_CHARS else flat[: BODY_CHARS - 1] + "\u2026"


def _device(row: RowMapping) -> Device:
    return Device(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        platform=Platform(row["platform"]),
        device_id=row["device_id"],
        token=row["token"],
        endpoint=row["endpoint"],
        p256dh=row["p256dh"],
        auth=row["auth"],
        app_id=row["app_id"],
    )
