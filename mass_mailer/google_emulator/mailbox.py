"""Delivered messages, kept for inspection, and duplicate detection."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter, deque
from datetime import UTC, datetime

from mass_mailer.google_emulator.mime import Envelope, message_details


def iso_time(timestamp: float) -> str:
    """RFC 3339 UTC with milliseconds, as Google prints times."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclasses.dataclass(eq=False)
class Delivered:
    """One message Gmail accepted."""

    id: str
    account: str
    envelope: Envelope
    raw: bytes
    received_at: float
    _details: dict | None = None

    def as_dict(self) -> dict:
        """The inspection view; the full MIME parse happens on first look, not at send time."""
        if self._details is None:
            self._details = message_details(self.raw)
        env = self.envelope
        return {
            "id": self.id,
            "thread_id": self.id,
            "account": self.account,
            "from": env.sender or self.account,
            "to": ", ".join(env.to),
            "recipients": env.recipients,
            "subject": env.subject,
            **self._details,
            "date": env.date,
            "message_id": env.message_id,
            "received_at": iso_time(self.received_at),
        }


class Mailbox:
    """The newest `max_messages` deliveries plus all-time (recipient, subject) counts."""

    def __init__(self, max_messages: int) -> None:
        self.messages: deque[Delivered] = deque(maxlen=max_messages)
        self.pairs: Counter[tuple[str, str]] = Counter()
        # Gmail ids are 16 hex digits; a random start keeps runs apart.
        self._ids = itertools.count(random.getrandbits(60) | 1 << 60)

    def resize(self, max_messages: int) -> None:
        if max_messages != self.messages.maxlen:
            self.messages = deque(self.messages, maxlen=max_messages)

    def deliver(self, account: str, envelope: Envelope, raw: bytes, now: float) -> Delivered:
        message = Delivered(id=f"{next(self._ids):016x}", account=account, envelope=envelope, raw=raw, received_at=now)
        self.messages.append(message)
        self.pairs.update((to, envelope.subject) for to in set(envelope.recipients))
        return message

    def find(self, *, to: str | None = None, account: str | None = None, limit: int | None = None) -> list[dict]:
        """Deliveries oldest first, filtered by recipient and sending account; `limit` keeps the newest."""
        found = list(self.messages)
        if to:
            found = [m for m in found if to.lower() in m.envelope.recipients]
        if account:
            found = [m for m in found if m.account == account.lower()]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return [m.as_dict() for m in found]

    def duplicates(self) -> dict[str, dict[str, int]]:
        """{recipient: {subject: deliveries}} for every pair delivered more than once."""
        found: dict[str, dict[str, int]] = {}
        for (to, subject), count in self.pairs.items():
            if count > 1:
                found.setdefault(to, {})[subject] = count
        return found
