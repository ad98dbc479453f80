"""The profile page: one's own name, picture and sending totals."""

from __future__ import annotations

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.services import senders as senders_service
from mass_mailer.services import users as users_service
from mass_mailer.state.auth import AuthState, signed_in_user
from mass_mailer.state.formatting import when
from mass_mailer.state.threads import db_work, in_session


class ProfileState(rx.State):
    name_input: str = ""
    member_since: str = ""
    job_count: int = 0
    sent_total: int = 0
    failed_total: int = 0
    sender_count: int = 0

    @rx.event
    def set_name_input(self, value: str) -> None:
        self.name_input = value

    @rx.event
    async def load(self):
        user = await signed_in_user(self)
        if user is None:
            return
        self.name_input = user.name or ""
        self.member_since = when(user.created_at)
        summary, stats = await db_work(_summary, user.id)
        self.job_count = summary.job_count if summary else 0
        self.sent_total, self.failed_total = stats.total.sent_total, stats.total.failed_total
        self.sender_count = len(stats.senders)

    @rx.event
    async def save_name(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        await in_session(users_service.update_profile, user_id=user.id, name=self.name_input)
        await (await self.get_state(AuthState))._load_user()
        return rx.toast.success("Name saved")


def _summary(user_id: int):
    with session_scope() as session:
        summary = next((u for u in users_service.list_users(session=session) if u.id == user_id), None)
        return summary, senders_service.sender_stats(session=session, user_id=user_id)
