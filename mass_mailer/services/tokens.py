"""Session tokens: short-lived HS256 JWTs signed with SECRET_KEY, revocable by `jti` in Redis."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import jwt

from mass_mailer.redis_client import get_redis
from mass_mailer.settings import SettingsError, get_settings

ISSUER = "mass_mailer"
AUDIENCE = "mass_mailer:session"
_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "nbf", "jti", "sub", "iss", "aud"]
_LEEWAY_SECONDS = 10


@dataclass
class SessionClaims:
    """The verified claims of a session token."""

    user_id: int
    jti: str
    expires_at: int
    issued_at: int


def _key() -> str:
    secret = get_settings().secret_key
    if not secret:
        raise SettingsError("SECRET_KEY is not set")
    return secret.get_secret_value()


def _revoked_key(jti: str) -> str:
    return f"mm:jwt:revoked:{jti}"


def issue(user_id: int) -> str:
    """A signed session token for this user, valid for JWT_TTL_MINUTES."""
    now = int(time.time())
    claims = {"sub": str(user_id), "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
              "exp": now + get_settings().jwt_ttl_minutes * 60, "jti": secrets.token_urlsafe(16)}
    return jwt.encode(claims, _key(), algorithm=_ALGORITHM)


def decode(token: str) -> SessionClaims | None:
    """The session a token carries, or None when it is malformed, forged or expired; revocation is not checked
    here (`verify` does, or the caller with `revoked_key`)."""
    try:
        claims = jwt.decode(token, _key(), algorithms=[_ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            leeway=_LEEWAY_SECONDS, options={"require": _REQUIRED})
        return SessionClaims(user_id=int(claims["sub"]), jti=str(claims["jti"]), expires_at=int(claims["exp"]),
                             issued_at=int(claims["iat"]))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def issued_to(session: SessionClaims, created_at: datetime) -> bool:
    """Whether the session can have been issued to the user row created at `created_at`: not before that row
    existed (within the clock leeway). A user id that comes back for someone else (the user tables reset, a
    database restored from an older backup) belongs to a row newer than every token of the id's previous holder,
    so those tokens do not open the new person's account."""
    return created_at.timestamp() <= session.issued_at + _LEEWAY_SECONDS


def revoked_key(jti: str) -> str:
    """The Redis key that exists while the session `jti` is revoked."""
    return _revoked_key(jti)


def verify(token: str) -> SessionClaims | None:
    """The session a token carries, or None when it is malformed, forged, expired or revoked."""
    session = decode(token)
    if session is None or get_redis().exists(_revoked_key(session.jti)):
        return None
    return session


def revoke(token: str) -> None:
    """Stop a token from working at once (until it would have expired anyway)."""
    session = verify(token)
    if session is None:
        return
    ttl = max(1, session.expires_at + _LEEWAY_SECONDS - int(time.time()))
    get_redis().set(_revoked_key(session.jti), "1", ex=ttl)
