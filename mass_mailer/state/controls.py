"""What the page's controls send, read safely: any client may send any value to a handler."""

from __future__ import annotations

from collections.abc import Collection


def chosen(value: str | list[str], allowed: Collection[str], default: str = "all") -> str:
    """The option a segmented control or select sent (a value or a list of them), if it is one of `allowed`."""
    picked = value if isinstance(value, str) else next(iter(value), default)
    return picked if picked in allowed else default
