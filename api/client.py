"""Who the client is on the network: the one function every user of the client's address calls (rate
limits, sign-up limits, logs).

Behind a load balancer the peer is the balancer. Its `X-Forwarded-For` (or RFC 7239 `Forwarded`: one of
the two, `CHIRP_PROXY_HEADER`, the one the proxies write) is believed only when the peer is one of
`CHIRP_TRUSTED_PROXIES`, and only as far as it was written by trusted proxies: the chain is read from the
right, skipping trusted hops, and the first untrusted hop is the client. Everything left of it was sent
by the client itself and may be forged. A malformed hop stops the walk at the last trusted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web
from multidict import CIMultiDictProxy

from api.keys import SETTINGS

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

_CACHE_KEY: web.RequestKey[str] = web.RequestKey("chirp.client_address")


def client_address(request: web.Request) -> str:
    """The client's address as text ("unknown" if the socket has none), computed once per request."""
    if _CACHE_KEY in request:
        return request[_CACHE_KEY]
    settings = request.app[SETTINGS]
    address = resolve(request.remote, request.headers, settings.trusted_proxies, settings.proxy_header)
    request[_CACHE_KEY] = address
    return address


def resolve(
    peer: str | None, headers: CIMultiDictProxy[str], trusted: Sequence[Network], header: str = "x-forwarded-for"
) -> str:
    """The client's address given the socket's `peer`, the request headers and the trusted networks."""
    if not peer:
        return "unknown"
    peer_address = _parse(peer)
    if not trusted or peer_address is None or not _trusted(peer_address, trusted):
        return peer
    values = headers.getall("Forwarded" if header == "forwarded" else "X-Forwarded-For", [])
    hops = _forwarded_for(values) if header == "forwarded" else _x_forwarded_for(values)
    client = peer_address
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def _trusted(address: Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def _parse(raw: str) -> Address | None:
    """An address from a header's hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`."""
    text = raw.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _x_forwarded_for(values: Iterable[str]) -> list[str]:
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """The `for=` of each element of RFC 7239 `Forwarded` headers, in order (an element without one: "")."""
    hops: list[str] = []
    for value in values:
        for element in value.split(","):
            found = ""
            for pair in element.split(";"):
                name, _, token = pair.strip().partition("=")
                if name.lower() == "for":
                    found = token.strip()
            hops.append(found)
    return hops
