"""Cookies, CSRF checks and client identity shared by the routes."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from mass_mailer.errors import Forbidden
from mass_mailer.services.oauth_flows import FLOW_TTL_SECONDS
from mass_mailer.settings import get_settings

TOKEN_COOKIE = "mm_token"
FLOW_COOKIE = "mm_oauth"
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


def set_flow_cookie(response: Response, nonce: str) -> None:
    """Bind an OAuth flow to this browser: the callback must come back with the same nonce."""
    response.set_cookie(FLOW_COOKIE, nonce, max_age=FLOW_TTL_SECONDS, path="/api/", httponly=True,
                        samesite="lax", secure=_secure())


def clear_flow_cookie(response: Response) -> None:
    """Remove the flow cookie once its flow is finished."""
    response.delete_cookie(FLOW_COOKIE, path="/api/", httponly=True, samesite="lax", secure=_secure())


def check_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated state change that a browser marks as coming from another site."""
    if request.method not in _UNSAFE_METHODS or request.headers.get("x-requested-with"):
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("Cross-site request refused")
    source = request.headers.get("origin") or request.headers.get("referer")
    # Browsers always name the page behind a POST/PATCH/DELETE (Origin); API clients keeping cookies send
    # neither header and are not a cross-site page, so they pass, as the contract promises cookie clients.
    if source is None or (source != "null" and _origin(source) == _origin(get_settings().app_url)):
        return
    raise Forbidden("Cross-site request refused")


def client_ip(request: Request) -> str:
    """The peer address (X-Forwarded-For is not trusted: a client could choose its own rate-limit bucket)."""
    return request.client.host if request.client else "unknown"
