"""The ASGI application: routing over the emulator's endpoints."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from mass_mailer.google_emulator import batch, control, gmail, oauth
from mass_mailer.google_emulator.config import EmulatorConfig
from mass_mailer.google_emulator.state import Emulator
from mass_mailer.google_emulator.wire import Request, Response, google_error, json_response

log = logging.getLogger(__name__)

MAX_BODY = 36 * 1024 * 1024  # Gmail's upload limit is 35 MB

Handler = Callable[[Emulator, Request], Awaitable[Response]]

ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/o/oauth2/auth"): oauth.authorize,
    ("GET", "/o/oauth2/v2/auth"): oauth.authorize,
    ("POST", "/token"): oauth.token,
    ("POST", "/o/oauth2/token"): oauth.token,
    ("POST", "/oauth2/v4/token"): oauth.token,
    ("GET", "/v1/userinfo"): oauth.userinfo,
    ("GET", "/oauth2/v3/userinfo"): oauth.userinfo,
    ("GET", "/oauth2/v2/userinfo"): oauth.userinfo_v2,
    ("POST", "/revoke"): oauth.revoke,
    ("POST", "/o/oauth2/revoke"): oauth.revoke,
    ("GET", "/_emulator/health"): control.health,
    ("GET", "/_emulator/config"): control.get_config,
    ("POST", "/_emulator/config"): control.set_config,
    ("GET", "/_emulator/messages"): control.messages,
    ("GET", "/_emulator/stats"): control.stats,
    ("POST", "/_emulator/reset"): control.reset,
    ("POST", "/_emulator/revoke"): control.revoke_account,
    ("POST", "/_emulator/tokens"): control.issue_tokens,
}
_PATHS = {path for _, path in ROUTES}
_BATCH_PATHS = ("/batch/gmail/v1", "/batch")
_SEND = re.compile(r"/(upload/)?gmail/v1/users/([^/]+)/messages/send")
_AVATAR = re.compile(r"/_emulator/avatar/(\d+)\.svg")


def _not_found(req: Request) -> Response:
    return google_error(404, f"The requested URL {req.path} was not found on this server.", "notFound")


class EmulatorApp:
    """An ASGI app over one Emulator state."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.emulator = Emulator(config or EmulatorConfig())

    async def dispatch_api(self, req: Request) -> Response:
        """Route a Gmail API call (also the calls inside a batch)."""
        match = _SEND.fullmatch(req.path)
        if match is None:
            return _not_found(req)
        if req.method != "POST":
            return google_error(405, f"Method {req.method} is not allowed here.", "methodNotAllowed")
        return await gmail.send(self.emulator, req, unquote(match.group(2)), upload=bool(match.group(1)))

    async def dispatch(self, req: Request) -> Response:
        """Route any request to its handler."""
        handler = ROUTES.get((req.method, req.path))
        if handler is not None:
            return await handler(self.emulator, req)
        if req.path in _PATHS:
            return google_error(405, f"Method {req.method} is not allowed here.", "methodNotAllowed")
        if req.path in _BATCH_PATHS and req.method == "POST":
            return await batch.handle(req, self.dispatch_api)
        match = _AVATAR.fullmatch(req.path)
        if match and req.method == "GET":
            return await control.avatar(self.emulator, req, match.group(1))
        if req.path == "/" and req.method == "GET":
            return json_response({"service": "google-emulator", "paths": sorted(_PATHS | set(_BATCH_PATHS))})
        return await self.dispatch_api(req)

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        self.emulator.stats.requests += 1
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        body, too_large = await _read_body(receive)
        if too_large:
            response = google_error(413, "Request payload is too large.", "uploadTooLarge")
        else:
            req = Request(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body)
            try:
                response = await self.dispatch(req)
            except Exception:
                log.exception("emulator error on %s %s", req.method, req.path)
                response = google_error(500, "Internal error encountered.", "backendError")
        raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        if not any(name == "content-length" for name, _ in response.headers):
            raw_headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Callable) -> tuple[bytes, bool]:
    """The whole request body, or (b"", True) once it passes MAX_BODY."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", True
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), False


def create_app(config: EmulatorConfig | None = None, **settings: Any) -> EmulatorApp:
    """An emulator ASGI app; `settings` override `config` (see EmulatorConfig)."""
    return EmulatorApp((config or EmulatorConfig()).updated(settings))
