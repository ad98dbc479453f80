"""The UI's file upload endpoint (Reflex's `/_upload`), checked before a byte of the body is read.

Reflex parses an upload's whole multipart body into temporary files before any event handler runs, so the
checks cannot wait for the handler: the signed-in user (cookie), the browser's origin, the upload rate limit
and `MAX_UPLOAD_MB` are enforced here, on the raw request. A body that grows past the limit while it streams
(chunked, or lying about its length) is cut off with 413 as soon as it passes it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mass_mailer.api.security import TOKEN_COOKIE, check_csrf
from mass_mailer.db import session_scope
from mass_mailer.errors import DomainError
from mass_mailer.services import auth, ratelimit
from mass_mailer.settings import get_settings

UPLOAD_PATH = "/_upload"
_MULTIPART_ALLOWANCE = 64 * 1024  # boundaries, part headers and the handler's small arguments


def _signed_in_user_id(token: str | None) -> int | None:
    with session_scope() as session:
        user = auth.user_from_token(token, session=session)
        return user.id if user is not None else None


class UploadGuard:
    """ASGI middleware: sign-in, origin, rate limit and size checks for `/_upload`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        settings = get_settings()
        cap = settings.max_upload_mb * 1024 * 1024 + _MULTIPART_ALLOWANCE
        try:
            user_id = await run_in_threadpool(_signed_in_user_id, request.cookies.get(TOKEN_COOKIE))
            if user_id is None:
                await _error(401, "Not signed in, or the session has expired")(scope, receive, send)
                return
            check_csrf(request)
            ratelimit.check("upload", str(user_id), settings.job_rate_limit)
        except DomainError as exc:
            await _error(exc.status, exc.message, exc.extra.get("retry_after"))(scope, receive, send)
            return
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(settings.max_upload_mb)(scope, receive, send)
            return
        await _BoundedUpload(self.app, cap, settings.max_upload_mb)(scope, receive, send)


class _BoundedUpload:
    """Passes the body through while it stays under `cap`; past it, answers 413 and ends the request."""

    def __init__(self, app: ASGIApp, cap: int, limit_mb: int) -> None:
        self.app, self.cap, self.limit_mb = app, cap, limit_mb
        self.received = 0
        self.refused = False
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def bounded_receive() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.cap:
                    self.refused = True
                    if not self.started:
                        await _too_large(self.limit_mb)(scope, receive, send)
                    return {"type": "http.disconnect"}  # the parser stops as if the client had gone
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused:
                return  # the 413 is the answer; whatever the app says after the cut-off is dropped
            self.started = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)


def _error(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _too_large(limit_mb: int) -> JSONResponse:
    return _error(413, f"The upload is larger than {limit_mb} MB")
