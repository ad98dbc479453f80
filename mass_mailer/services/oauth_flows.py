"""OAuth flows in progress: state, PKCE verifier and purpose kept in Redis, single use, bound to a browser."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass

from email_validator import EmailNotValidError, validate_email

from mass_mailer.errors import InvalidInput
from mass_mailer.gmail import oauth
from mass_mailer.redis_client import get_redis
from mass_mailer.services import callback_errors

FLOW_TTL_SECONDS = 600
SIGNIN = "signin"
CONNECT_SENDER = "connect_sender"
# A local path only: no scheme, no host, no protocol-relative "//" or "/\" that browsers treat as a host.
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_\-.~%?=&]*")


def checked_login_hint(value: str | None) -> str | None:
    """The account address a browser form asked for; None when none was asked (the parameter is absent).

    A present but empty or malformed address is refused: the form asked for that account, and signing in as
    another one (Google's choice, or the emulator's default) would not be what the person typed.
    """
    if value is None:
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise callback_errors.invalid("invalid_email") from None


@dataclass
class PendingFlow:
    """What the callback needs to finish a flow."""

    kind: str
    code_verifier: str | None
    nonce_hash: str
    browser: bool
    user_id: int | None = None
    daily_quota: int | None = None
    next_path: str = "/"
    warmup: bool | None = None  # a sender connection: ramp its quota up as a new account (None: the default)


@dataclass
class StartedFlow:
    """The authorization URL, and the nonce the starting client keeps in its flow cookie."""

    url: str
    nonce: str


def _key(state: str) -> str:
    return f"mm:oauth:state:{hashlib.sha256(state.encode()).hexdigest()}"


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def safe_next_path(path: str | None) -> str:
    """`path` when it is a local path on this site, else "/" (no open redirects)."""
    return path if path and _LOCAL_PATH.fullmatch(path) else "/"


def start(kind: str, *, browser: bool, login_hint: str | None = None, user_id: int | None = None,
          daily_quota: int | None = None, next_path: str | None = None, warmup: bool | None = None) -> StartedFlow:
    """Begin a sign-in or sender connection: an authorization URL whose state is remembered for 10 minutes."""
    scopes = oauth.SENDER_SCOPES if kind == CONNECT_SENDER else oauth.SIGNIN_SCOPES
    request = oauth.authorization_request(scopes, login_hint=login_hint, offline=kind == CONNECT_SENDER)
    nonce = secrets.token_urlsafe(32)
    pending = PendingFlow(kind=kind, code_verifier=request.code_verifier, nonce_hash=_hash(nonce), browser=browser,
                          user_id=user_id, daily_quota=daily_quota, next_path=safe_next_path(next_path),
                          warmup=warmup)
    get_redis().set(_key(request.state), json.dumps(asdict(pending)), ex=FLOW_TTL_SECONDS)
    return StartedFlow(url=request.url, nonce=nonce)


def take(state: str | None, nonce: str | None) -> PendingFlow:
    """The flow behind `state`, consumed; InvalidInput when unknown, expired, used, or started by another client."""
    raw = get_redis().getdel(_key(state)) if state else None
    if raw is None:
        raise InvalidInput("This sign-in link has expired or was already used; please start again")
    pending = PendingFlow(**json.loads(raw))
    if not nonce or not hmac.compare_digest(_hash(nonce), pending.nonce_hash):
        raise InvalidInput("This sign-in was started in another browser; please start again")
    return pending
