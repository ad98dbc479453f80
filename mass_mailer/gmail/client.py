"""Sending through the Gmail API with googleapiclient, and classifying what Gmail answers."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from mass_mailer.gmail.credentials import ReauthRequired, SenderTokens, TokenRefreshUnavailable, build_credentials
from mass_mailer.gmail.credentials import refresh as refresh_credentials
from mass_mailer.settings import get_settings

_RETRY_AFTER_RE = re.compile(r"Retry after (\S+)")
_MAX_IDLE_SECONDS = 4.0  # a kept-alive connection idle longer than this may have been closed by the server


class _SingleAttemptHttp(httplib2.Http):
    """httplib2 without its silent replay of a POST whose connection dropped before the reply.

    httplib2 re-sends a request once when the reply's status line is missing (it assumes a stale kept-alive
    connection): for messages.send that can deliver a message twice. Here a POST is written once; a connection
    idle long enough to have gone stale is replaced before the request, not after it.
    """

    def _conn_request(self, conn, request_uri, method, body, headers):
        if method != "POST":
            return super()._conn_request(conn, request_uri, method, body, headers)
        if conn.sock is not None and time.monotonic() - getattr(conn, "mm_last_used", 0.0) > _MAX_IDLE_SECONDS:
            conn.close()
        if conn.sock is None:
            conn.connect()  # fails before anything was sent: safe to retry
        try:
            conn.request(method, request_uri, body, headers)
            reply = conn.getresponse()
            content = reply.read()
        except BaseException:
            conn.close()
            raise
        conn.mm_last_used = time.monotonic()
        response = httplib2.Response(reply)
        return response, httplib2._decompressContent(response, content, self.limit_kwargs)

# Errors raised before the request could reach Gmail (a token refresh after a 401 included): retrying them
# cannot deliver twice.
_NOT_SENT_ERRORS = (ConnectionRefusedError, socket.gaierror, httplib2.ServerNotFoundError, TransportError)
DELIVERY_UNKNOWN_NETWORK = ("delivery unknown: the connection to Gmail broke after the message was sent; "
                            "not retried to avoid a duplicate")
PERMANENT_REASONS = {"invalidArgument", "failedPrecondition", "invalid", "badRequest", "notFound", "required"}


class SendError(Exception):
    """A send that did not deliver; subclasses say what to do next."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryError(SendError):
    """Retry later (rate limits, 5xx, network), not before `retry_after` seconds when Gmail names it."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(SendError):
    """This recipient can never be delivered through Gmail (bad address, bad message)."""


class DeliveryUnknown(PermanentError):
    """The request was on its way when the connection broke: Gmail may have delivered it, so it is never retried."""


class SenderReauth(SendError):
    """The sender's authorisation is gone: the account must be connected again."""


class SenderQuotaExhausted(SendError):
    """Gmail's daily sending limit for this account: no sends before `reset_at`."""

    def __init__(self, reason: str, reset_at: datetime) -> None:
        super().__init__(reason)
        self.reset_at = reset_at


class ProjectLimitReached(SendError):
    """The OAuth project's daily API limit: nothing can be sent through it for a while."""


@dataclass
class GmailClient:
    """One sender's Gmail service, built once and reused for a whole batch (one thread)."""

    tokens: SenderTokens

    def __post_init__(self) -> None:
        self.credentials = build_credentials(self.tokens)
        http = google_auth_httplib2.AuthorizedHttp(
            self.credentials, http=_SingleAttemptHttp(timeout=get_settings().gmail_timeout_seconds))
        service = build("gmail", "v1", http=http, static_discovery=True, cache_discovery=False,
                        client_options={"api_endpoint": get_settings().gmail_api_endpoint})
        self.messages = service.users().messages()  # the resource, built once: building it costs a lot per call

    def refresh_if_expired(self) -> SenderTokens | None:
        """Refresh an expired access token; the new tokens (to store) or None when still valid."""
        if self.credentials.token and not self.credentials.expired:
            return None
        try:
            self.tokens = refresh_credentials(self.credentials)
        except ReauthRequired as exc:
            raise SenderReauth(f"authorisation refused by Google: {exc}") from None
        except TokenRefreshUnavailable as exc:
            raise TemporaryError(f"token refresh unavailable: {exc}") from None
        return self.tokens

    def send(self, raw: str) -> str:
        """Send one message; its Gmail id, or a SendError saying what went wrong."""
        token_before = self.credentials.token
        try:
            reply = self.messages.send(userId="me", body={"raw": raw}).execute(num_retries=0)
        except HttpError as exc:
            raise classify(exc) from None
        except RefreshError as exc:
            raise SenderReauth(f"authorisation refused by Google: {str(exc.args[0])[:120]}") from None
        except _NOT_SENT_ERRORS as exc:
            raise TemporaryError(f"network error: {type(exc).__name__}") from None
        except (httplib2.HttpLib2Error, http.client.HTTPException, OSError):
            # A timeout or a dropped connection once the request was on its way: Gmail may have delivered it.
            raise DeliveryUnknown(DELIVERY_UNKNOWN_NETWORK) from None
        if self.credentials.token != token_before:  # the library refreshed after a 401
            self.tokens = SenderTokens(self.credentials.token, self.credentials.refresh_token,
                                       _aware(self.credentials.expiry))
        return reply["id"]


def classify(exc: HttpError) -> SendError:
    """The SendError for a Gmail HTTP error, from its status and Google's `reason`."""
    status = exc.resp.status
    reason, message = _reason(exc)
    label = f"{status} {reason}: {message}"[:300]
    if status == 429 and (reset_at := _retry_after_time(message)) is not None:
        return SenderQuotaExhausted(label, reset_at)
    if reason == "dailyLimitExceeded":
        return ProjectLimitReached(label)
    if status == 401 or reason in {"insufficientPermissions", "authError"}:
        return SenderReauth(label)
    if status == 429 or status >= 500 or reason in {"userRateLimitExceeded", "rateLimitExceeded", "backendError"}:
        return TemporaryError(label, _retry_after_header(exc))
    if status in (400, 404) or reason in PERMANENT_REASONS:
        return PermanentError(label)
    return TemporaryError(label, _retry_after_header(exc))


def _reason(exc: HttpError) -> tuple[str, str]:
    try:
        error = json.loads(exc.content)["error"]
        return error.get("errors", [{}])[0].get("reason", "unknown"), error.get("message", "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "unknown", ""


def _retry_after_time(message: str) -> datetime | None:
    match = _RETRY_AFTER_RE.search(message)
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc) + timedelta(hours=24)  # unreadable time: assume a full day


def _retry_after_header(exc: HttpError) -> float | None:
    try:
        return float(exc.resp.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _aware(expiry: datetime | None) -> datetime | None:
    return expiry.replace(tzinfo=timezone.utc) if expiry else None
