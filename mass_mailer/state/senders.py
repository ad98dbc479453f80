"""The senders page: connected Gmail accounts, their quota use, reconnect, quota edits and removal."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.errors import InvalidInput
from mass_mailer.models import SenderStatus
from mass_mailer import routes
from mass_mailer.services import callback_errors
from mass_mailer.services import senders as senders_service
from mass_mailer.settings import get_settings
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.formatting import percent, when
from mass_mailer.state.threads import db_work, in_session


@dataclasses.dataclass
class SenderRow:
    id: int = 0
    email: str = ""
    status: str = ""
    daily_quota: int = 0
    sent_24h: int = 0
    remaining_today: int = 0
    used_percent: int = 0
    sent_total: int = 0
    failed_total: int = 0
    reset_at: str = ""
    last_error: str = ""
    reconnect_url: str = ""
    warmup: bool = False
    effective_quota: int = 0  # the quota that limits it now: the warm-up step's while it warms up
    warmup_note: str = ""  # "Warm-up step 2 of 5: 100/day"; "" when it does not warm up
    warmup_next: str = ""  # "next step on" or "its own quota from", when it moves on if it sends today
    warmup_next_on: str = ""  # that day, "2026-12-05"


def warmup_note(view: senders_service.SenderView) -> tuple[str, str, str]:
    """Where a warming-up sender is on its ramp, and what it reaches next on which day (if it sends today)."""
    if not view.warmup:
        return "", "", ""
    if view.warmup_step is None:
        return f"Warm-up done: its own quota of {view.daily_quota}/day applies", "", ""
    note = f"Warm-up step {view.warmup_step} of {view.warmup_steps}: {view.effective_quota}/day"
    if view.next_warmup_step_on is None:
        return note, "", ""
    following = "next step on" if view.warmup_step < view.warmup_steps else "its own quota from"
    return note, following, f"{view.next_warmup_step_on:%Y-%m-%d}"


def connect_url(daily_quota: int | None = None, login_hint: str = "") -> str:
    """The browser navigation that connects (or reconnects) a Gmail account."""
    params = {}
    if daily_quota:
        params["daily_quota"] = str(daily_quota)
    if login_hint.strip():
        params["login_hint"] = login_hint.strip()
    return f"{routes.CONNECT_SENDER}?{urlencode(params)}" if params else routes.CONNECT_SENDER


_WARMUP_FIELDS = ("warmup_note", "warmup_next", "warmup_next_on")


class SendersState(rx.State):
    senders: list[SenderRow] = []
    sent_24h: int = 0
    failed_24h: int = 0
    remaining_today: int = 0
    new_quota: str = ""
    new_warmup: bool = False  # whether "Add Gmail account" starts with the warm-up box ticked
    editing_id: int = 0
    editing_email: str = ""
    editing_quota: str = ""
    removing_id: int = 0
    removing_email: str = ""

    @rx.event
    async def load(self):
        """on_load: check sign-in, list senders, toast the outcome of a connection that just came back."""
        user = await signed_in_user(self)
        if user is None:
            return None
        self.new_quota = str(get_settings().default_daily_quota)
        self.new_warmup = get_settings().warmup_default
        await db_work(self._refresh, user.id)
        # Anyone can write a link to /senders?error=...: the page shows only fixed messages for error codes, and
        # "Connected ..." only for an address that is one of this user's senders.
        params = self.router.url.query_parameters
        connected = (params.get("connected") or "").strip().lower()
        if connected and any(row.email == connected for row in self.senders):
            return rx.toast.success(f"Connected {connected}")
        if params.get("error"):
            return rx.toast.error(callback_errors.message_for(params["error"]))
        return None

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            views = {v.id: v for v in senders_service.list_senders(session=session, user_id=user_id)}
            stats = senders_service.sender_stats(session=session, user_id=user_id)
        counts = {row.sender_id: row for row in stats.senders}
        self.sent_24h, self.failed_24h = stats.total.sent_24h, stats.total.failed_24h
        self.remaining_today = sum(v.remaining_today for v in views.values() if v.status == SenderStatus.ACTIVE)
        self.senders = [
            SenderRow(id=v.id, email=v.email, status=v.status, daily_quota=v.daily_quota, sent_24h=v.sent_last_24h,
                      remaining_today=v.remaining_today, used_percent=percent(v.sent_last_24h, v.effective_quota),
                      sent_total=counts[v.id].sent_total if v.id in counts else 0,
                      failed_total=counts[v.id].failed_total if v.id in counts else 0,
                      reset_at=when(v.quota_reset_at) if v.quota_reset_at else "", last_error=v.last_error or "",
                      reconnect_url=connect_url(v.daily_quota, v.email), warmup=v.warmup,
                      effective_quota=v.effective_quota, **dict(zip(_WARMUP_FIELDS, warmup_note(v))))
            for v in views.values()
        ]

    @rx.event
    def set_editing_quota(self, value: str) -> None:
        self.editing_quota = value

    @rx.event
    def start_edit(self, sender_id: int, email: str, quota: int) -> None:
        self.editing_id, self.editing_email, self.editing_quota = sender_id, email, str(quota)

    @rx.event
    def stop_edit(self) -> None:
        self.editing_id = 0

    @rx.event
    async def save_quota(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        quota = senders_service.parse_daily_quota(self.editing_quota)  # the API's rule: ASCII digits, 1..10,000
        if type(self.editing_id) is not int:
            raise InvalidInput("Choose a sender first")
        await in_session(senders_service.update_sender, user_id=user.id, sender_id=self.editing_id,
                         daily_quota=quota)
        email, self.editing_id = self.editing_email, 0
        await db_work(self._refresh, user.id)
        return rx.toast.success(f"Daily quota of {email} set to {quota}")

    @rx.event
    async def set_warmup(self, sender_id: int, value: bool):
        """The "New account: warm up" switch of a sender."""
        user = await signed_in_user(self)
        if user is None:
            return None
        if type(sender_id) is not int or not isinstance(value, bool):
            raise InvalidInput("Choose a sender first")
        view = await in_session(senders_service.update_sender, user_id=user.id, sender_id=sender_id, warmup=value)
        await db_work(self._refresh, user.id)
        if value:
            return rx.toast.success(f"{view.email} warms up: {view.effective_quota}/day today, more each day it sends")
        return rx.toast.success(f"{view.email} uses its own quota of {view.daily_quota}/day")

    @rx.event
    def ask_remove(self, sender_id: int, email: str) -> None:
        self.removing_id, self.removing_email = sender_id, email

    @rx.event
    def cancel_remove(self) -> None:
        self.removing_id = 0

    @rx.event
    async def confirm_remove(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        sender_id, self.removing_id = self.removing_id, 0
        await in_session(senders_service.delete_sender, user_id=user.id, sender_id=sender_id)
        await db_work(self._refresh, user.id)
        return rx.toast.success(f"Removed {self.removing_email}")
