"""OAuth scope names as Google reports them."""

from __future__ import annotations

from collections.abc import Iterable

EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
OPENID = "openid"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"

# Every scope that lets a token call messages.send.
SEND_SCOPES = frozenset(
    {
        GMAIL_SEND,
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    }
)
IDENTITY_SCOPES = frozenset({OPENID, EMAIL, PROFILE})
DEFAULT_ISSUED_SCOPES = (OPENID, EMAIL, PROFILE, GMAIL_SEND)

# Google answers the short names with their full URLs.
_ALIASES = {"email": EMAIL, "profile": PROFILE}


def normalise_scopes(scopes: Iterable[str] | str) -> frozenset[str]:
    """Expand short scope names the way Google does; accepts a space-separated string too."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    return frozenset(_ALIASES.get(s, s) for s in scopes if s)
