"""How times, durations and counts read in the UI."""

from __future__ import annotations

from datetime import datetime, timezone


def when(value: datetime | None) -> str:
    """A timestamp to the second, in UTC: '2026-12-02 17:02:05 UTC'; the one date format of the UI."""
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """'45 s', '2 min 5 s' (under 10 min), '12 min', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 10:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(done: int, total: int) -> int:
    """Whole percent, 0 for an empty total."""
    return int(done * 100 / total) if total else 0


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill, at least one."""
    return max(1, -(-total // page_size))
