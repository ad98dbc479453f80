"""Cookies, CSRF checks and client identity shared by the routes."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fastapi import Request, Response

from mass_mailer.errors import Forbidden
from mass_mailer.services.oauth_flows import FLOW_TTL_SECONDS
from mass_mailer.settings import get_settings

TOKEN_COOKIE = "mm_token"
FLOW_COOKIE = "mm_oauth"  # plain http (a local install); see flow_cookie_name()
HOST_FLOW_COOKIE = "__Host-mm_oauth"
_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _secure() -> bool:
    return get_settings().app_url.startswith("https://")


def set_session_cookie(response: Response, token: str) -> None:
    """The session JWT as an HttpOnly, SameSite=Lax cookie living as long as the token."""
    response.set_cookie(TOKEN_COOKIE, token, max_age=get_settings().jwt_ttl_minutes * 60, path="/",
                        httponly=True, samesite="lax", secure=_secure())


def clear_session_cookie(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure())


def flow_cookie_name() -> str:
    """`__Host-mm_oauth` when PUBLIC_URL is https, else `mm_oauth`.

    Browsers accept a `__Host-` cookie only from this very host (Secure, no Domain, Path=/), so a sibling
    subdomain cannot plant its own flow cookie and finish its own sign-in in a visitor's browser."""
    return HOST_FLOW_COOKIE if _secure() else FLOW_COOKIE


def _flow_cookie_path() -> str:
    return "/" if _secure() else "/api/"


def set_flow_cookie(response: Response, nonce: str) -> None:
    """Bind an OAuth flow to this browser: the callback must come back with the same nonce."""
    response.set_cookie(flow_cookie_name(), nonce, max_age=FLOW_TTL_SECONDS, path=_flow_cookie_path(),
                        httponly=True, samesite="lax", secure=_secure())


def clear_flow_cookie(response: Response) -> None:
    """Remove the flow cookie once its flow is finished."""
    response.delete_cookie(flow_cookie_name(), path=_flow_cookie_path(), httponly=True, samesite="lax",
                           secure=_secure())


def flow_cookie(request: Request) -> str | None:
    """The flow nonce the browser came back with (on https only from the `__Host-` cookie)."""
    return request.cookies.get(flow_cookie_name())


def check_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated request that a browser marks as coming from another site."""
    ours = _origin(get_settings().app_url)
    origin = request.headers.get("origin")
    # A browser names the calling page in Origin on every cross-origin request: another page (even one on
    # this host, which SameSite treats as the same site) may neither read nor change anything with the cookie.
    if origin is not None and (origin == "null" or _origin(origin) != ours):
        raise Forbidden("Cross-site request refused")
    if request.method not in _UNSAFE_METHODS:
        return
    referer = request.headers.get("referer")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
            origin is None and referer is not None and _origin(referer) != ours):
        raise Forbidden("Cross-site request refused")
    # No Origin, Referer or Sec-Fetch-Site at all: not a browser page (API clients keeping cookies, as the
    # contract promises them), so nothing cross-site to refuse.


def client_ip(request: Request) -> str:
    """The client's address for rate limits: the peer, or, when the peer is one of TRUSTED_PROXIES, the right-most
    X-Forwarded-For address that is not itself a trusted proxy (the left part of that header is whatever the client
    wrote, so it is never believed). IPv6 addresses count by their /64, the block one subscriber holds."""
    peer = request.client.host if request.client else ""
    address = _ip(peer)
    if address is None:
        return peer or "unknown"
    networks = get_settings().trusted_proxy_networks
    if networks and _within(address, networks):
        hops = [hop for header in request.headers.getlist("x-forwarded-for") for hop in header.split(",")]
        for hop in reversed(hops):
            forwarded = _ip(hop)
            if forwarded is None:
                break  # not an address: stop at the last hop a trusted proxy vouched for
            address = forwarded
            if not _within(forwarded, networks):
                break
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a peer or an X-Forwarded-For entry gives it ("1.2.3.4", "1.2.3.4:80", "[2001:db8::1]:443")."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _within(address, networks) -> bool:
    return any(address.version == network.version and address in network for network in networks)
