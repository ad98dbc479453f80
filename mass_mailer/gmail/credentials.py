"""Google OAuth credentials for a sender: built from its tokens, refreshed with google-auth."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone

import google.auth.transport.requests
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials

from mass_mailer.settings import get_settings

GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
REFRESH_TIMEOUT = 10  # seconds


class ReauthRequired(Exception):
    """Google refused the refresh token (revoked or expired): the account must be connected again."""


class TokenRefreshUnavailable(Exception):
    """Google could not be reached to refresh the token; try again later."""


@dataclass
class SenderTokens:
    """Plaintext tokens of one sender, as held in memory only while sending."""

    access_token: str | None
    refresh_token: str | None
    expiry: datetime | None


def build_credentials(tokens: SenderTokens) -> Credentials:
    """google-auth Credentials for these tokens and the configured OAuth client."""
    settings = get_settings()
    expiry = tokens.expiry
    if expiry is not None and expiry.tzinfo is not None:
        expiry = expiry.astimezone(timezone.utc).replace(tzinfo=None)  # google-auth compares naive UTC
    return Credentials(
        token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_uri=settings.google_token_uri,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret.get_secret_value() if settings.google_client_secret else None,
        scopes=[GMAIL_SEND_SCOPE],
        expiry=expiry,
    )


def refresh(credentials: Credentials) -> SenderTokens:
    """Refresh the access token; ReauthRequired when Google refuses the refresh token."""
    try:
        # A short timeout (the default is 120 s): a refresh runs while a recipient's claim lease is ticking.
        credentials.refresh(functools.partial(google.auth.transport.requests.Request(), timeout=REFRESH_TIMEOUT))
    except RefreshError as exc:
        raise ReauthRequired(_refresh_reason(exc)) from None
    except TransportError as exc:
        raise TokenRefreshUnavailable(type(exc).__name__) from None
    expiry = credentials.expiry.replace(tzinfo=timezone.utc) if credentials.expiry else None
    return SenderTokens(credentials.token, credentials.refresh_token, expiry)


def _refresh_reason(exc: RefreshError) -> str:
    # RefreshError args are (message, response body); keep only Google's error code, never token material.
    text = str(exc.args[0]) if exc.args else ""
    return text.split(":", 1)[0][:200] or "refresh refused"
