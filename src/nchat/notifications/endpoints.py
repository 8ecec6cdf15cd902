"""Web Push endpoints are URLs a client chooses, so the server would be fetching wherever it
is told: only public https addresses, unless NCHAT_PUSH_ALLOW_PRIVATE_ENDPOINTS allows
private networks (and plain http) for tests and closed networks. Checked at registration
and again before each send (a name may resolve elsewhere later)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_S = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(ValueError):
    pass


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def check(url: str, *, allow_private: bool) -> None:
    """Raise EndpointRefused saying why `url` is not somewhere nchat will send pushes."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused("the endpoint is not a URL") from exc
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise EndpointRefused("the endpoint must be an https URL")
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        raise EndpointRefused("the endpoint must name a host, without credentials")
    if allow_private:
        return
    for address in await _addresses(host, port or 443):
        if not _public(address):
            raise EndpointRefused("the endpoint is on a private, loopback or link-local network")


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise EndpointRefused("the endpoint's host does not resolve") from exc
    # The zone of a scoped IPv6 address ("fe80::1%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
