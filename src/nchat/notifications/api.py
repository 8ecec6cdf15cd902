from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from nchat.appstate import get
from nchat.auth.deps import AppSettings, CurrentUser
from nchat.config import Settings
from nchat.db.transaction import Conn
from nchat.errors import ValidationFailed
from nchat.notifications import service, unsubscribe
from nchat.notifications.runtime import VAPID_PUBLIC_KEY
from nchat.notifications.schemas import (
    ChannelPreferences,
    ChannelPreferencesList,
    ChannelPreferencesUpdate,
    DeviceIn,
    DeviceList,
    DeviceName,
    DeviceOut,
    DeviceRef,
    Preferences,
    PreferencesUpdate,
    VapidKeyOut,
)

router = APIRouter(tags=["notifications"])


@router.post("/api/push/register", status_code=201)
async def register(
    body: DeviceIn, principal: CurrentUser, conn: Conn, settings: AppSettings
) -> DeviceOut:
    """Register a device for push, tied to this session (signing it out unregisters it);
    registering the same `device_id` again replaces it. Web Push subscriptions must point at
    a public https push service (422 `invalid_endpoint`) with valid keys (422
    `invalid_subscription`); at most 20 devices per person (422 `too_many_devices`)."""
    return await service.do_register(conn, principal, body, settings)


@router.delete("/api/push/unregister", status_code=204)
async def unregister(
    principal: CurrentUser,
    conn: Conn,
    body: DeviceRef | None = None,
    device_id: Annotated[DeviceName | None, Query()] = None,
) -> Response:
    """Unregister one of the caller's devices, named in the body (`{"device_id"}`) or the
    query; 404 `device_not_found` when there is none by that name."""
    name = body.device_id if body is not None else device_id
    if name is None:
        raise ValidationFailed("device_id is required", code="validation_error")
    await service.do_unregister(conn, principal, name)
    return Response(status_code=204)


@router.get("/api/push/devices")
async def devices(principal: CurrentUser, conn: Conn) -> DeviceList:
    return DeviceList(devices=await service.list_devices(conn, principal))


@router.get("/api/push/vapid-public-key")
async def vapid_public_key(request: Request) -> VapidKeyOut:
    """The server's VAPID public key, for `PushManager.subscribe({applicationServerKey})`."""
    return VapidKeyOut(public_key=get(request.app, VAPID_PUBLIC_KEY))


@router.get("/api/users/me/notification-preferences")
async def my_preferences(principal: CurrentUser, conn: Conn) -> Preferences:
    return await service.get_preferences(conn, principal)


@router.put("/api/users/me/notification-preferences")
async def update_my_preferences(
    body: PreferencesUpdate, principal: CurrentUser, conn: Conn
) -> Preferences:
    """Change the fields given: `level` (all, mentions, nothing), `push_content` (full,
    sender, none), `email`, `dnd` (a daily schedule in a time zone)."""
    return await service.do_update_preferences(conn, principal, body)


@router.get("/api/users/me/channel-notification-preferences")
async def my_channel_preferences(principal: CurrentUser, conn: Conn) -> ChannelPreferencesList:
    """The caller's channels whose level or mute differs from the default (the web client
    marks muted channels in its list from it)."""
    return await service.list_channel_preferences(conn, principal)


@router.get("/api/channels/{channel_id}/notification-preferences")
async def channel_preferences(
    channel_id: uuid.UUID, principal: CurrentUser, conn: Conn
) -> ChannelPreferences:
    return await service.get_channel_preferences(conn, principal, channel_id)


@router.put("/api/channels/{channel_id}/notification-preferences")
async def update_channel_preferences(
    channel_id: uuid.UUID, body: ChannelPreferencesUpdate, principal: CurrentUser, conn: Conn
) -> ChannelPreferences:
    """A member's level for this channel (`default` follows their own) and mute."""
    return await service.do_update_channel_preferences(conn, principal, channel_id, body)


# -- unsubscribe from emails, without signing in -----------------------------------------

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head><body style="font-family: sans-serif; max-width: 32rem;
margin: 4rem auto; padding: 0 1rem"><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


@router.get("/api/notifications/unsubscribe", include_in_schema=False)
async def unsubscribe_page(
    token: Annotated[str, Query(max_length=2048)], settings: AppSettings
) -> HTMLResponse:
    """A page with a button: mail scanners follow links, so a GET changes nothing."""
    if _user_of(settings, token) is None:
        return _page("Link not valid", "This unsubscribe link is not valid.", status=400)
    form = (
        '<form method="post"><input type="hidden" name="token" value="'
        + token.replace('"', "&quot;")
        + '"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        + '<button type="submit">Stop notification emails</button></form>'
    )
    return _page("Notification emails", "Stop the emails about missed messages?", form=form)


@router.post("/api/notifications/unsubscribe", include_in_schema=False)
async def unsubscribe_now(
    request: Request,
    conn: Conn,
    settings: AppSettings,
    token: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse:
    """RFC 8058 one-click (the token in the URL) or the page's button (in the form)."""
    if token is None:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0][:2048]
    user_id = _user_of(settings, token)
    if user_id is None or not await service.do_stop_emails(conn, user_id):
        return _page("Link not valid", "This unsubscribe link is not valid.", status=400)
    return _page(
        "Unsubscribed",
        "You will get no more emails about missed messages. You can turn them back on in Settings.",
    )


def _user_of(settings: Settings, token: str) -> uuid.UUID | None:
    found = unsubscribe.read_token(settings, token)
    try:
        return None if found is None else uuid.UUID(found)
    except ValueError:
        return None


def _page(title: str, text: str, *, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=title, text=text, form=form), status_code=status)
