"""Google's OAuth 2.0 web flow (PKCE), userinfo and token revocation, via google-auth-oauthlib."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from mass_mailer.gmail.credentials import GMAIL_SEND_SCOPE
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)
# These libraries log whole token responses at DEBUG; keep them quiet whatever LOG_LEVEL says.
for _noisy in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_noisy).setLevel(logging.INFO)

SIGNIN_SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email",
                 "https://www.googleapis.com/auth/userinfo.profile"]
SENDER_SCOPES = [*SIGNIN_SCOPES, GMAIL_SEND_SCOPE]
_HTTP_TIMEOUT = 10


class GoogleOAuthError(Exception):
    """Google refused or could not complete an OAuth step; the message is safe to show."""


@dataclass
class AuthorizationRequest:
    """Where to send the browser, and what must be kept to finish the flow."""

    url: str
    state: str
    code_verifier: str


@dataclass
class Grant:
    """Tokens and scopes Google granted in a code exchange."""

    access_token: str
    refresh_token: str | None
    expiry: datetime | None
    scopes: set[str]


def _flow(scopes: list[str], *, state: str | None = None, code_verifier: str | None = None) -> Flow:
    settings = get_settings()
    if settings.google_endpoints_are_loopback:
        # oauthlib refuses plain http; the emulator on this machine is the only place it is allowed.
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    secret = settings.google_client_secret.get_secret_value() if settings.google_client_secret else ""
    config = {"web": {
        "client_id": settings.google_client_id, "client_secret": secret,
        "auth_uri": settings.google_auth_uri, "token_uri": settings.google_token_uri,
        "redirect_uris": [settings.oauth_redirect_uri],
    }}
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=settings.oauth_redirect_uri, state=state,
                                   code_verifier=code_verifier, autogenerate_code_verifier=code_verifier is None)


def authorization_request(scopes: list[str], *, login_hint: str | None = None,
                          offline: bool = False) -> AuthorizationRequest:
    """A Google authorization URL with a fresh state and PKCE (S256) challenge."""
    extra = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"} if offline \
        else {"access_type": "online", "prompt": "select_account"}
    if login_hint:
        extra["login_hint"] = login_hint
    flow = _flow(scopes)
    url, state = flow.authorization_url(**extra)
    return AuthorizationRequest(url=url, state=state, code_verifier=flow.code_verifier)


def exchange_code(code: str, *, scopes: list[str], state: str, code_verifier: str | None) -> Grant:
    """Trade an authorization code (and its PKCE verifier) for tokens."""
    flow = _flow(scopes, state=state, code_verifier=code_verifier)
    try:
        token = flow.fetch_token(code=code)
    except Warning as changed:
        # oauthlib raises "Scope has changed" when the user unticked or already held scopes; the token is valid.
        token = changed.token
    except OAuth2Error as exc:
        raise GoogleOAuthError(f"Google refused the sign-in ({exc.error})") from None
    except requests.RequestException as exc:
        raise GoogleOAuthError(f"Google could not be reached ({type(exc).__name__})") from None
    scope = token.get("scope") or []
    granted = set(scope.split() if isinstance(scope, str) else scope)
    expires_in = token.get("expires_in")
    expiry = datetime.now(timezone.utc) + timedelta(seconds=int(expires_in)) if expires_in else None
    return Grant(access_token=token["access_token"], refresh_token=token.get("refresh_token"),
                 expiry=expiry, scopes=granted)


def fetch_userinfo(access_token: str) -> dict:
    """The OpenID profile (`sub`, `email`, `name`, `picture`, ...) of the account behind an access token."""
    try:
        response = requests.get(get_settings().google_userinfo_uri, timeout=_HTTP_TIMEOUT,
                                headers={"Authorization": f"Bearer {access_token}"})
    except requests.RequestException as exc:
        raise GoogleOAuthError(f"Google could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise GoogleOAuthError(f"Google refused the profile request (HTTP {response.status_code})")
    info = response.json()
    if not info.get("sub") or not info.get("email"):
        raise GoogleOAuthError("Google did not share the account's email address")
    return info


def revoke_token(token: str) -> bool:
    """Revoke a token (and its grant) at Google; False, logged, when that fails."""
    try:
        response = requests.post(get_settings().google_revoke_uri, data={"token": token}, timeout=_HTTP_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("token revocation failed: %s", type(exc).__name__)
        return False
    if response.status_code != 200:
        log.warning("token revocation refused by Google: HTTP %s", response.status_code)
        return False
    return True
