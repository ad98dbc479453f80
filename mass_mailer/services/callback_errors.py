"""Why an OAuth callback failed, as a short code for the browser's redirect and a fixed message to show for it.

Browser flows end on `/?error=<code>` or `/senders?error=<code>`: anyone can make such a link, so the page shows
only the message this table holds for the code (an unknown code gets the generic one), never text from the URL.
"""

from __future__ import annotations

from mass_mailer.errors import DomainError, Forbidden, InvalidInput

MESSAGES = {
    "invalid_email": "Enter a valid email address.",
    "access_denied": "Google did not grant access. Please try again and allow access.",
    "no_code": "Google sent no authorization code back. Please start again.",
    "google_refused": "Google could not complete the sign-in. Please start again.",
    "email_unverified": "Google has not verified this account's email address.",
    "deactivated": "This account has been deactivated; ask an administrator.",
    "not_allowed": "This Google account is not allowed to sign in here; ask an administrator to allow it.",
    "wrong_user": "Sign in as the user who started connecting this account, then try again.",
    "no_send_permission": "Gmail send permission was not granted. Connect the account again and allow sending.",
    "no_refresh_token": "Google granted no refresh token, so mail cannot be sent later. Remove the app's access "
                        "in your Google account and connect again.",
}
GENERIC = "Something went wrong with Google. Please try again."
FALLBACK_CODE = "failed"


def message_for(code: str | None) -> str:
    """The fixed message for an error code from a URL; the generic one for anything unknown."""
    return MESSAGES.get(code or "", GENERIC)


def code_of(exc: DomainError) -> str:
    """The code a callback error carries (FALLBACK_CODE when it names none)."""
    code = exc.extra.get("code")
    return code if code in MESSAGES else FALLBACK_CODE


def invalid(code: str, detail: str | None = None) -> InvalidInput:
    """A 400 for `code`; `detail` is what API clients read (default: the code's message)."""
    return InvalidInput(detail or MESSAGES[code], code=code)


def forbidden(code: str, detail: str | None = None) -> Forbidden:
    """A 403 for `code`."""
    return Forbidden(detail or MESSAGES[code], code=code)
