"""Demo mode's outbox: the messages the built-in Google emulator delivered, read over HTTP."""

from __future__ import annotations

from datetime import datetime

import httpx
from pydantic import BaseModel

from mass_mailer.errors import Forbidden, InvalidInput
from mass_mailer.settings import get_settings


class OutboxMessage(BaseModel):
    """One delivered message as the emulator kept it."""

    id: str
    account: str
    to: str
    subject: str = ""
    received_at: datetime | None = None
    html: str | None = None
    text: str | None = None


def list_messages(*, accounts: list[str], limit: int = 200) -> list[OutboxMessage]:
    """The newest messages sent through these Gmail accounts, newest first; demo mode only."""
    settings = get_settings()
    if not settings.demo_mode:
        raise Forbidden("The outbox exists only in demo mode")
    wanted = {a.lower() for a in accounts}
    if not wanted:
        return []
    # In demo mode the Gmail endpoint is the emulator itself.
    url = settings.gmail_api_endpoint.rstrip("/") + "/_emulator/messages"
    try:
        response = httpx.get(url, params={"limit": str(max(limit * 5, 500))}, timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError:
        raise InvalidInput("The demo mail server does not answer; is the emulator running?") from None
    found = [OutboxMessage(**m) for m in response.json().get("messages", []) if m.get("account", "").lower() in wanted]
    return found[::-1][:limit]
