"""ASGI guards around the whole app: the API, the Reflex websocket (/_event), /_upload and the frontend files."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from mass_mailer.settings import get_settings, is_loopback_host

# On every HTTP response, pages and API alike: no other site may frame the app (clickjacking), browsers do not
# guess content types, and other sites are not told which page a visitor came from. Email previews are
# `srcdoc` iframes inside the app's own pages, which `frame-ancestors` does not concern.
SECURITY_HEADERS = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
_DEMO_REFUSAL = json.dumps({"detail": "Demo mode answers only on a loopback address such as 127.0.0.1"}).encode()


def host_of(header: str) -> str:
    """The host name of a Host header, without its port ("[::1]:8000" → "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    name, colon, port = header.rpartition(":")
    if colon and name and ":" not in name and port.isdigit():
        return name
    return header


def _host_header(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return value.decode("latin-1")
    return ""


class SecurityGuard:
    """Adds SECURITY_HEADERS to every HTTP response. In demo mode (anyone may sign in as anyone) refuses every
    request and websocket whose Host header is not a loopback host with 403, so another site cannot reach the
    app through DNS rebinding or a proxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        if get_settings().demo_mode and not is_loopback_host(host_of(_host_header(scope))):
            await _refuse(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _with_security_headers(send: Send) -> Send:
    async def sending(message) -> None:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            present = {name.lower() for name, _ in message.get("headers", ())}
            extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)
    return sending


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_DEMO_REFUSAL)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": _DEMO_REFUSAL})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": _DEMO_REFUSAL})
    else:
        await send({"type": "websocket.close", "code": 1008})  # before accepting: the server answers 403
