"""The dashboard: the user's jobs, newest first, and today's totals; refreshed while a job is active or
scheduled; pause and resume per job."""

from __future__ import annotations

import dataclasses

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.errors import DomainError
from mass_mailer.models import JobStatus, SenderStatus
from mass_mailer.services import jobs as jobs_service
from mass_mailer.services import senders as senders_service
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.controls import chosen
from mass_mailer.state.formatting import page_count, percent, when
from mass_mailer.state.threads import db_work

PAGE_SIZE = 25
KINDS = {"all": None, "campaign": "campaign", "test": "test"}  # the list's filter → the service's `kind`


@dataclasses.dataclass
class JobRow:
    id: int = 0
    subject: str = ""
    status: str = ""
    total: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    delivery_unknown: int = 0
    suppressed: int = 0
    percent: int = 0
    created_at: str = ""
    send_at: str = ""  # when a scheduled job starts


class DashboardState(rx.State):
    jobs: list[JobRow] = []
    total_jobs: int = 0
    page: int = 0
    kind: str = "all"
    sent_24h: int = 0
    cancelled_24h: int = 0
    active_jobs: int = 0
    remaining_today: int = 0
    sender_count: int = 0
    scheduled_listed: bool = False  # a scheduled job is on this page: it is followed until it starts

    @rx.var
    def page_count(self) -> int:
        return page_count(self.total_jobs, PAGE_SIZE)

    @rx.event
    async def load(self):
        user = await signed_in_user(self)
        if user is not None:
            await db_work(self._refresh, user.id)

    @rx.event
    async def tick(self, _clock: str = ""):
        """Every few seconds while one of the user's jobs is queued or in progress, or a listed one scheduled
        (the page's ticker)."""
        user = await signed_in_user(self)
        if user is not None and (self.active_jobs or self.scheduled_listed):
            await db_work(self._refresh, user.id)

    @rx.event
    async def pause(self, job_id: int):
        user = await signed_in_user(self)
        if user is None or not isinstance(job_id, int):
            return None
        return await db_work(self._control, user.id, jobs_service.pause_job, job_id, "Paused")

    @rx.event
    async def resume(self, job_id: int):
        user = await signed_in_user(self)
        if user is None or not isinstance(job_id, int):
            return None
        return await db_work(self._control, user.id, jobs_service.resume_job, job_id, "Resumed")

    def _control(self, user_id: int, action, job_id: int, done: str):
        try:
            with session_scope() as session:
                job = action(session=session, user_id=user_id, job_id=job_id)
        except DomainError as exc:  # another tab or the engine moved the job on: show it as it is now
            self._refresh(user_id)
            return rx.toast.error(exc.message)
        self._refresh(user_id)
        return rx.toast.success(f"{done}: {job.name or job.subject}")

    @rx.event
    async def turn_page(self, delta: int):
        user = await signed_in_user(self)
        if user is None:
            return
        self.page = min(max(0, self.page + delta), self.page_count - 1)
        await db_work(self._refresh, user.id)

    @rx.event
    async def set_kind(self, value: str | list[str]):
        user = await signed_in_user(self)
        if user is None:
            return
        self.kind, self.page = chosen(value, KINDS), 0
        await db_work(self._refresh, user.id)

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            page = jobs_service.list_jobs(session=session, user_id=user_id, limit=PAGE_SIZE,
                                          offset=self.page * PAGE_SIZE, kind=KINDS.get(self.kind))
            totals = jobs_service.job_totals(session=session, user_id=user_id)
            senders = senders_service.list_senders(session=session, user_id=user_id)
        self.total_jobs = page.total
        self.jobs = [JobRow(id=j.id, subject=j.name or j.subject, status=j.status, total=j.total_recipients,
                            sent=j.sent_count, failed=j.failed_count, cancelled=j.cancelled_count,
                            delivery_unknown=j.delivery_unknown_count, suppressed=j.suppressed_count,
                            percent=percent(j.sent_count + j.failed_count + j.delivery_unknown_count
                                            + j.suppressed_count, j.total_recipients),
                            created_at=when(j.created_at), send_at=when(j.send_at) if j.send_at else "")
                     for j in page.items]
        self.scheduled_listed = any(j.status == JobStatus.SCHEDULED for j in page.items)
        self.active_jobs, self.cancelled_24h = totals.active, totals.cancelled_24h
        self.sent_24h = sum(s.sent_last_24h for s in senders)
        self.remaining_today = sum(s.remaining_today for s in senders if s.status == SenderStatus.ACTIVE)
        self.sender_count = len(senders)
