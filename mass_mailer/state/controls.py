"""What the page's controls send, read safely: any client may send any value to a handler."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

import reflex as rx

from mass_mailer.errors import InvalidInput
from mass_mailer.settings import get_settings


def chosen(value: str | list[str], allowed: Collection[str], default: str = "all") -> str:
    """The option a segmented control or select sent (a value or a list of them), if it is one of `allowed`."""
    picked = value if isinstance(value, str) else next(iter(value), default)
    return picked if picked in allowed else default


UTC_OFFSET = re.compile(r"[+-](0\d|1[0-4]):[0-5]\d")  # what moment's "Z" format gives: "+01:00", "-05:30"
LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")  # a datetime-local field's value


def browser_time(local: str, utc_offset: str) -> datetime:
    """A datetime-local field's value ("2026-12-24T09:00") in the browser's time zone, as an aware datetime."""
    if not isinstance(utc_offset, str) or not UTC_OFFSET.fullmatch(utc_offset):
        raise InvalidInput("Your browser's time zone is not known yet: try again in a moment")
    if not isinstance(local, str) or not LOCAL_TIME.fullmatch(local.strip()):
        raise InvalidInput("Choose a date and a time")
    try:
        return datetime.fromisoformat(local.strip() + utc_offset)
    except ValueError:  # shaped right, but no such day or hour
        raise InvalidInput("Choose a date and a time") from None


async def read_upload(files: list[rx.UploadFile], fallback_name: str) -> tuple[str, bytes | None, str]:
    """The first uploaded file's name (at most 200 characters) and bytes, read no further than MAX_UPLOAD_MB past
    which the bytes are None and the third value says why."""
    limit = get_settings().max_upload_mb * 1024 * 1024
    upload = files[0]
    data = await upload.read(limit + 1)
    name = (upload.name or fallback_name)[:200]
    if len(data) > limit:
        return name, None, f"{name} is larger than {get_settings().max_upload_mb} MB"
    return name, data, ""
