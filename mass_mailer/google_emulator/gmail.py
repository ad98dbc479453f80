"""Gmail API `users.messages.send`, with limits and injected faults."""

from __future__ import annotations

import asyncio
import math

from mass_mailer.google_emulator.limits import Rejection, draw_fault
from mass_mailer.google_emulator.mailbox import iso_time
from mass_mailer.google_emulator.mime import InvalidMessage, decode_raw, read_envelope
from mass_mailer.google_emulator.multipart import boundary_of, parse_headers, split_head, split_parts
from mass_mailer.google_emulator.scopes import SEND_SCOPES
from mass_mailer.google_emulator.state import Emulator
from mass_mailer.google_emulator.wire import Request, Response, google_error, json_response

_SEE = "See https://developers.google.com/identity/sign-in/web/devconsole-project."
_INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    f"login cookie or other valid authentication credential. {_SEE}"
)
_REALM = 'Bearer realm="https://accounts.google.com/"'


def _raw_message(req: Request, upload: bool) -> bytes:
    """The RFC 822 bytes: `raw` in a JSON body, or an /upload/ body (media or multipart)."""
    if not upload:
        try:
            payload = req.json()
        except ValueError:
            raise InvalidMessage("Invalid JSON payload received.") from None
        return decode_raw(payload.get("raw") if isinstance(payload, dict) else None)
    upload_type = req.query.get("uploadType", "media")
    if upload_type == "media" and req.body:
        return req.body
    boundary = boundary_of(req.headers.get("content-type", ""))
    if upload_type == "multipart" and boundary:
        for part in split_parts(req.body, boundary):
            lines, body = split_head(part)
            if parse_headers(lines).get("content-type", "").startswith("message/rfc822"):
                return body
    raise InvalidMessage("'raw' RFC822 payload message string or uploading message via /upload/* URL required")


def _limit_error(rejection: Rejection, now: float) -> Response:
    if rejection.kind == "daily":
        message = f"User-rate limit exceeded.  Retry after {iso_time(rejection.retry_at)} (Mail sending)"
        return google_error(429, message, "rateLimitExceeded")
    retry_after = str(max(1, math.ceil(rejection.retry_at - now)))
    return google_error(429, "User-rate limit exceeded", "rateLimitExceeded", headers=[("retry-after", retry_after)])


def _fault_error(status: int) -> Response:
    if status == 503:
        return google_error(503, "The service is currently unavailable.", "backendError")
    return google_error(429, "Too many concurrent requests for user.", "rateLimitExceeded")


async def send(emu: Emulator, req: Request, user_id: str, *, upload: bool = False) -> Response:
    """Authenticate, apply limits and faults, validate and deliver one message."""
    if emu.config.latency_ms:
        # Before the limit check, so the check and the delivery stay atomic on the event loop.
        await asyncio.sleep(emu.config.latency_ms / 1000)
    now = emu.now()
    token = req.bearer_token()
    access = emu.tokens.valid_access_token(token, now) if token else None
    if access is None:
        auth = [("www-authenticate", _REALM + (', error="invalid_token"' if token else ""))]
        if token is None:
            return google_error(401, "Login Required.", "required", headers=auth)
        return google_error(401, _INVALID_CREDENTIALS, "authError", headers=auth)
    account = access.grant.account.email
    if user_id != "me" and user_id.lower() != account:
        return google_error(403, f"Delegation denied for {account}", "forbidden")
    if not access.scopes & SEND_SCOPES:
        auth = [("www-authenticate", _REALM + ', error="insufficient_scope"')]
        return google_error(
            403, "Request had insufficient authentication scopes.", "insufficientPermissions", headers=auth
        )
    try:
        raw = _raw_message(req, upload)
    except InvalidMessage as exc:
        emu.stats.count(account, "rejected")
        return google_error(400, str(exc), "invalidArgument")

    rejection = emu.limiter.admit(account, now, emu.config, emu.stats)
    if rejection:
        return _limit_error(rejection, now)
    fault = draw_fault(emu.rng, emu.config)
    if fault:
        emu.stats.count(account, "faults")
        return _fault_error(fault)
    try:
        envelope = read_envelope(raw)
    except InvalidMessage as exc:
        emu.stats.count(account, "rejected")
        return google_error(400, str(exc), "invalidArgument")
    if emu.config.reject_recipients and set(envelope.recipients) & set(emu.config.reject_recipients):
        emu.stats.count(account, "rejected")
        return google_error(400, "Invalid To header", "invalidArgument")
    emu.limiter.record_delivery(account, now)
    emu.stats.count(account, "sent")
    message = emu.mailbox.deliver(account, envelope, raw, now)
    return json_response({"id": message.id, "threadId": message.id, "labelIds": ["SENT"]})
