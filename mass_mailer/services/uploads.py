"""Recipient files uploaded in the UI, kept in Redis for an hour between the upload and the job's start.

They are not kept in the UI state: that state travels with every event of the page, and a file belongs to
the user who uploaded it, whoever holds the tab next (keys are scoped by user id).
"""

from __future__ import annotations

import secrets

from mass_mailer.errors import InvalidInput
from mass_mailer.redis_client import get_binary_redis

UPLOAD_TTL_SECONDS = 3600


def _key(user_id: int, upload_id: str) -> str:
    return f"mm:upload:{user_id}:{upload_id}"


def store_upload(*, user_id: int, data: bytes) -> str:
    """Keep an uploaded file for the user; the id names it in later calls."""
    upload_id = secrets.token_urlsafe(16)
    get_binary_redis().set(_key(user_id, upload_id), data, ex=UPLOAD_TTL_SECONDS)
    return upload_id


def load_upload(*, user_id: int, upload_id: str) -> bytes:
    """The user's uploaded file; InvalidInput when it expired (or was never theirs)."""
    data = get_binary_redis().get(_key(user_id, upload_id)) if upload_id else None
    if data is None:
        raise InvalidInput("The uploaded file is no longer available: upload it again")
    return data


def discard_upload(*, user_id: int, upload_id: str) -> None:
    """Forget an uploaded file (removed, replaced, or used by a job)."""
    if upload_id:
        get_binary_redis().delete(_key(user_id, upload_id))
