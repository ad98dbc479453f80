"""One-click unsubscribe (RFC 8058): a signed link in every message, and what following it does.

The link is `PUBLIC_URL/u/<token>`, the token an itsdangerous signature (HMAC-SHA256 with SECRET_KEY) over the
user, the job and the address: unguessable, tamper-evident, and without expiry (it keeps working as long as
SECRET_KEY does). A mail provider's one-click POST, or the confirmation button of the page a GET shows, puts the
address on the user's suppression list at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session

from mass_mailer.errors import InvalidInput
from mass_mailer.models import SuppressionReason
from mass_mailer.services import suppressions
from mass_mailer.settings import get_settings

PATH = "/u/"
ONE_CLICK = "List-Unsubscribe=One-Click"
PREVIEW_JOB = 0  # the job id of links shown in previews, before the job exists


@dataclass(frozen=True)
class Unsubscribe:
    """Who asked not to receive a user's mail any more, from which job's message."""

    user_id: int
    job_id: int
    email: str


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="mass-mailer-unsubscribe", signer_kwargs={"digest_method": hashlib.sha256})


def _current() -> URLSafeSerializer:
    return _serializer(get_settings().secret_key.get_secret_value())


def token(*, user_id: int, job_id: int, email: str) -> str:
    """The signed token of one recipient of one job."""
    return _current().dumps([user_id, job_id, email])


def link(*, user_id: int, job_id: int, email: str) -> str:
    """The unsubscribe URL for one recipient of one job."""
    return f"{get_settings().app_url}{PATH}{token(user_id=user_id, job_id=job_id, email=email)}"


def headers(url: str) -> dict[str, str]:
    """The List-Unsubscribe headers of a message whose unsubscribe URL is `url` (RFC 2369, RFC 8058)."""
    targets = [f"<{url}>"]
    if mailto := get_settings().unsubscribe_mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


def read(value: str) -> Unsubscribe:
    """The request behind a token; InvalidInput for a token that was not made here or was changed."""
    try:
        user_id, job_id, email = _current().loads(value)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("This unsubscribe link is not valid: it may be incomplete or changed") from None
    if not (isinstance(user_id, int) and isinstance(job_id, int) and isinstance(email, str) and email):
        raise InvalidInput("This unsubscribe link is not valid: it may be incomplete or changed")
    return Unsubscribe(user_id, job_id, email)


def unsubscribe(*, session: Session, value: str) -> Unsubscribe:
    """Suppress the address of a token for its user's later jobs (and the rest of running ones); idempotent."""
    request = read(value)
    suppressions.suppress(session=session, user_id=request.user_id, emails=[request.email],
                          reason=SuppressionReason.UNSUBSCRIBED, job_id=request.job_id or None)
    return request
