"""Demo mode's outbox page: what the built-in emulator delivered for this user's senders."""

from __future__ import annotations

import dataclasses

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.services import outbox as outbox_service
from mass_mailer.services import senders as senders_service
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.formatting import when
from mass_mailer.state.threads import db_work


@dataclasses.dataclass
class OutboxRow:
    id: str = ""
    account: str = ""
    recipient: str = ""
    subject: str = ""
    received_at: str = ""


class OutboxState(rx.State):
    messages: list[OutboxRow] = []
    open_id: str = ""
    open_subject: str = ""
    open_to: str = ""
    open_from: str = ""
    open_html: str = ""
    _bodies: dict[str, str] = {}

    @rx.event
    async def load(self):
        user = await signed_in_user(self)
        if user is None:
            return
        found = await db_work(_messages, user.id)
        self._bodies = {m.id: m.html or f"<pre>{m.text or ''}</pre>" for m in found}
        self.messages = [OutboxRow(id=m.id, account=m.account, recipient=m.to, subject=m.subject,
                                   received_at=when(m.received_at)) for m in found]

    @rx.event
    async def open_message(self, message_id: str):
        if await signed_in_user(self) is None:
            return
        row = next((m for m in self.messages if m.id == message_id), None)
        if row is None:
            return
        self.open_id, self.open_subject, self.open_to, self.open_from = row.id, row.subject, row.recipient, row.account
        self.open_html = self._bodies.get(message_id, "")

    @rx.event
    async def close_message(self):
        if await signed_in_user(self) is not None:
            self.open_id = ""


def _messages(user_id: int) -> list:
    """The messages the user's sender accounts sent, as the outbox holds them."""
    with session_scope() as session:
        accounts = [s.email for s in senders_service.list_senders(session=session, user_id=user_id)]
    return outbox_service.list_messages(accounts=accounts)
