"""The dashboard: the user's jobs, newest first, and today's totals."""

from __future__ import annotations

import dataclasses

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.models import JobStatus, SenderStatus
from mass_mailer.services import jobs as jobs_service
from mass_mailer.services import senders as senders_service
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.formatting import percent, when

PAGE_SIZE = 25
ACTIVE = (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


@dataclasses.dataclass
class JobRow:
    id: int = 0
    subject: str = ""
    status: str = ""
    total: int = 0
    sent: int = 0
    failed: int = 0
    percent: int = 0
    created_at: str = ""


class DashboardState(rx.State):
    jobs: list[JobRow] = []
    total_jobs: int = 0
    page: int = 0
    sent_24h: int = 0
    active_jobs: int = 0
    remaining_today: int = 0
    sender_count: int = 0

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.total_jobs // PAGE_SIZE))

    @rx.event
    async def load(self):
        user = await signed_in_user(self)
        if user is not None:
            self._refresh(user.id)

    @rx.event
    async def turn_page(self, delta: int):
        self.page = min(max(0, self.page + delta), self.page_count - 1)
        return DashboardState.load

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            page = jobs_service.list_jobs(session=session, user_id=user_id, limit=PAGE_SIZE,
                                          offset=self.page * PAGE_SIZE)
            active = jobs_service.list_jobs(session=session, user_id=user_id, limit=200)
            stats = senders_service.sender_stats(session=session, user_id=user_id)
        self.total_jobs = page.total
        self.jobs = [JobRow(id=j.id, subject=j.subject, status=j.status, total=j.total_recipients,
                            sent=j.sent_count, failed=j.failed_count,
                            percent=percent(j.sent_count + j.failed_count, j.total_recipients),
                            created_at=when(j.created_at)) for j in page.items]
        self.active_jobs = sum(1 for j in active.items if j.status in ACTIVE)
        self.sent_24h = stats.total.sent_24h
        self.remaining_today = sum(s.remaining_today for s in stats.senders if s.status == SenderStatus.ACTIVE)
        self.sender_count = len(stats.senders)
