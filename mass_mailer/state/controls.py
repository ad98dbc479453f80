"""What the page's controls send, read safely: any client may send any value to a handler."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from mass_mailer.errors import InvalidInput


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
