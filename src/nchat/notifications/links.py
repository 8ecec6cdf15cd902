"""Addresses of nchat for links that leave the server (emails): the public URL, a message
and a conversation in the web client."""

from __future__ import annotations

import ipaddress

from nchat.config import Settings


def base_url(settings: Settings) -> str:
    """NCHAT_PUBLIC_URL, or the address the server listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name
        return f"http://{host}:{settings.port}"
    # A server bound to every interface is reached by a name, not by 0.0.0.0 or ::.
    if address.is_unspecified:
        host = "localhost"
    elif address.version == 6:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def conversation_link(base: str, channel_id: str) -> str:
    return f"{base}/#/c/{channel_id}"


def message_link(base: str, channel_id: str, message_id: str) -> str:
    return f"{base}/#/c/{channel_id}/m/{message_id}"
