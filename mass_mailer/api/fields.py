"""Input field types shared by the routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from mass_mailer.errors import InvalidInput


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no email, name or template has a use for it.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def form_text(value: object, name: str) -> str:
    """A multipart form field as text; 400 for a NUL character."""
    text = str(value or "")
    try:
        return _no_nul(text)
    except ValueError as exc:
        raise InvalidInput(f"Invalid request: {name}: {exc}") from None
