"""The job page: live progress streamed over the websocket while the page is open and the job runs."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timedelta, timezone

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.models import JobStatus
from mass_mailer.services import jobs as jobs_service
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.formatting import duration, when

PAGE_SIZE = 25
TICK_SECONDS = 1.0
CHART_SECONDS = 5.0  # the per-minute chart is a grouped query: refreshed every few seconds, not every tick
MAX_WATCH_SECONDS = 12 * 3600
CHART_MINUTES = 120  # the chart shows the last two hours of the job's sending
ACTIVE = (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


@dataclasses.dataclass
class SenderLine:
    email: str = ""
    sent: int = 0
    failed: int = 0


@dataclasses.dataclass
class RecipientLine:
    email: str = ""
    status: str = ""
    sender: str = ""
    sent_at: str = ""
    error: str = ""
    attempts: int = 0


def _client_connected(token: str) -> bool:
    """True while the browser tab that owns this state still has its websocket open."""
    from mass_mailer.mass_mailer import app  # the app module imports every page, so import it late

    namespace = app.event_namespace
    return namespace is None or token in namespace.token_to_sid


def _now_minute() -> datetime:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


def chart_series(minutes: list[tuple[datetime, int, int]], *, until: datetime | None) -> list[dict[str, int | str]]:
    """One bar per minute, quiet minutes included, over the last CHART_MINUTES up to `until` (or the last send)."""
    if not minutes:
        return []
    counts = {minute: (sent, failed) for minute, sent, failed in minutes}
    last = max(until or minutes[-1][0], minutes[-1][0])
    first = max(minutes[0][0], last - timedelta(minutes=CHART_MINUTES - 1))
    bars = []
    while first <= last:
        sent, failed = counts.get(first, (0, 0))
        bars.append({"minute": first.astimezone(timezone.utc).strftime("%H:%M"), "sent": sent, "failed": failed})
        first += timedelta(minutes=1)
    return bars


class JobState(rx.State):
    job_id: int = 0
    found: bool = False
    subject: str = ""
    status: str = ""
    created_at: str = ""
    error_message: str = ""
    total: int = 0
    sent: int = 0
    failed: int = 0
    pending: int = 0
    percent: float = 0
    rate: int = 0
    eta: str = ""
    waiting_reason: str = ""
    senders: list[SenderLine] = []
    series: list[dict[str, int | str]] = []  # one bar per minute: {"minute": "HH:MM", "sent": n, "failed": n}
    recipients: list[RecipientLine] = []
    recipients_total: int = 0
    status_filter: str = "all"
    search: str = ""
    page: int = 0
    watching: bool = False
    confirm_cancel: bool = False
    _sender_emails: dict[int, str] = {}

    @rx.var
    def active(self) -> bool:
        return self.status in ACTIVE

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.recipients_total // PAGE_SIZE))

    @rx.var
    def export_url(self) -> str:
        return f"/api/email-jobs/{self.job_id}/recipients?format=csv"

    def _route_job_id(self) -> int:
        raw = str(self.router.page.params.get("job_id", ""))
        return int(raw) if raw.isdigit() else 0

    @rx.event
    async def load(self):
        """on_load: sign-in check, the job, its recipients, then live updates while it runs."""
        user = await signed_in_user(self)
        if user is None:
            return None
        self.job_id, self.found = self._route_job_id(), False
        self.page, self.status_filter, self.search = 0, "all", ""
        with session_scope() as session:
            job = jobs_service.get_job(session=session, user_id=user.id, job_id=self.job_id)
        self.found = True
        self.subject, self.created_at = job.subject, when(job.created_at)
        self._refresh(user.id)
        self._refresh_chart(user.id)
        if self.active and not self.watching:
            return JobState.watch
        return None

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            status = jobs_service.job_status(session=session, user_id=user_id, job_id=self.job_id)
            job = jobs_service.get_job(session=session, user_id=user_id, job_id=self.job_id)
            page = jobs_service.list_recipients(
                session=session, user_id=user_id, job_id=self.job_id,
                status=None if self.status_filter == "all" else self.status_filter, q=self.search.strip() or None,
                limit=PAGE_SIZE, offset=self.page * PAGE_SIZE)
        self.status, self.error_message = status.status, job.error_message or ""
        self.total, self.sent, self.failed, self.pending = status.total, status.sent, status.failed, status.pending
        self.percent, self.rate = status.percent, round(status.rate_per_minute)
        self.eta = duration(status.eta_seconds) if status.eta_seconds and status.status in ACTIVE else ""
        self.waiting_reason = status.waiting_reason or ""
        self._sender_emails = {s.sender_id: s.email for s in status.senders}
        self.senders = [SenderLine(email=s.email, sent=s.sent, failed=s.failed) for s in status.senders]
        self.recipients_total = page.total
        self.recipients = [RecipientLine(email=r.email, status=r.status, sender=self._sender_emails.get(r.sender_id, ""),
                                         sent_at=when(r.sent_at) if r.sent_at else "", error=r.error_message or "",
                                         attempts=r.attempts) for r in page.items]

    def _refresh_chart(self, user_id: int) -> None:
        with session_scope() as session:
            minutes = jobs_service.sends_per_minute(session=session, user_id=user_id, job_id=self.job_id)
        self.series = chart_series(minutes, until=_now_minute() if self.active else None)

    @rx.event(background=True)
    async def watch(self):
        """Poll the job every second while this tab shows it and it runs; stop when either ends."""
        async with self:
            if self.watching:
                return
            self.watching = True
            job_id, token = self.job_id, self.router.session.client_token
        started = charted = time.monotonic()
        try:
            while time.monotonic() - started < MAX_WATCH_SECONDS and _client_connected(token):
                await asyncio.sleep(TICK_SECONDS)
                async with self:
                    if self.job_id != job_id or self._route_job_id() != job_id:
                        break  # the tab moved to another page
                    user = await signed_in_user(self)
                    if user is None:
                        break
                    self._refresh(user.id)
                    if not self.active or time.monotonic() - charted >= CHART_SECONDS:
                        self._refresh_chart(user.id)
                        charted = time.monotonic()
                    if not self.active:
                        break
        finally:
            async with self:
                self.watching = False

    async def _reload_recipients(self):
        user = await signed_in_user(self)
        if user is not None:
            self._refresh(user.id)

    @rx.event
    async def set_status_filter(self, value: str | list[str]):
        self.status_filter, self.page = value if isinstance(value, str) else value[0], 0
        await self._reload_recipients()

    @rx.event
    async def set_search(self, value: str):
        self.search, self.page = value, 0
        await self._reload_recipients()

    @rx.event
    async def turn_page(self, delta: int):
        self.page = min(max(0, self.page + delta), self.page_count - 1)
        await self._reload_recipients()

    @rx.event
    def ask_cancel(self) -> None:
        self.confirm_cancel = True

    @rx.event
    def keep_running(self) -> None:
        self.confirm_cancel = False

    @rx.event
    async def cancel(self):
        self.confirm_cancel = False
        user = await signed_in_user(self)
        if user is None:
            return None
        with session_scope() as session:
            jobs_service.cancel_job(session=session, user_id=user.id, job_id=self.job_id)
        self._refresh(user.id)
        return rx.toast.success("Job cancelled: nothing more will be sent")
