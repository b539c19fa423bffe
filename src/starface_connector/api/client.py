"""Who is asking: the client's address, for login throttling.

The peer of the connection, unless that peer is a reverse proxy named by ``--trusted-proxy``:
then the right-most address of ``X-Forwarded-For`` that is not a trusted proxy itself. What
a client writes into the header itself is left of what its proxy appended, so it cannot
choose the address it is counted under; a peer that is no trusted proxy is never asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

from fastapi import HTTPException, status
from starlette.requests import Request

from ..config import Network
from ..service.throttling import LoginThrottled


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed.version == net.version and parsed in net for net in proxies)


def client_address(request: Request, proxies: Sequence[Network]) -> str | None:
    """The address a login attempt counts against (None if the server does not know it)."""
    peer = request.client.host if request.client else None
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, proxies):
            try:
                return str(ip_address(hop))
            except ValueError:
                # not an address: the proxy's header is broken; count the proxy itself
                return peer
    return peer


def address_of(request: Request) -> str | None:
    """:func:`client_address` with the proxies this connector trusts."""
    container = request.app.state.container
    return client_address(request, container.settings.trusted_proxies)


def too_many(exc: LoginThrottled) -> HTTPException:
    """The API's answer to a throttled login: 429 with Retry-After."""
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed logins; retry after {exc.retry_after} seconds",
        headers={"Retry-After": str(exc.retry_after)},
    )
