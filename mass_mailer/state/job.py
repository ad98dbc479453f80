"""The job page: live progress while the page is open and the job runs, refreshed by the page's own ticker; its
controls (pause, resume, start now, reschedule, cancel, retry failed)."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta, timezone

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.errors import DomainError
from mass_mailer.services import jobs as jobs_service
from mass_mailer.services import lifecycle
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.clock import BrowserClockState
from mass_mailer.state.controls import browser_time, chosen
from mass_mailer.state.formatting import duration, page_count, when
from mass_mailer.state.threads import db_work

PAGE_SIZE = 25
TICK_MS = 500  # while the job runs, the page asks this often whether anything changed (one cheap query)
SIGNATURE_SECONDS = 0.2  # the pages of one job in this process share that query's answer for this long
FULL_REFRESH_SECONDS = 5.0  # with nothing changed, the page still reloads this often: the pace and time left move
CHART_SECONDS = 5.0  # the per-minute chart is a grouped query: refreshed every few seconds, not every tick
CHART_MINUTES = 120  # the chart shows the last two hours of the job's sending
SEARCH_SECONDS = 5.0  # while a search is typed in, the recipients it finds are reloaded at most this often
COUNT_LIMIT = 10_000  # a search counts its matches up to this many ("10,000+")
STATUS_FILTERS = ("all", "pending", "sent", "failed", "delivery_unknown", "suppressed", "cancelled")


@dataclasses.dataclass
class SenderLine:
    email: str = ""
    sent: int = 0
    failed: int = 0
    delivery_unknown: int = 0


@dataclasses.dataclass
class RecipientLine:
    email: str = ""
    status: str = ""
    sender: str = ""
    sent_at: str = ""
    error: str = ""
    attempts: int = 0


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


@dataclasses.dataclass
class PageData:
    """What the job page shows, loaded for one view of it (filter, search, page)."""

    signature: tuple
    status: jobs_service.JobStatusView
    error_message: str
    recipients: jobs_service.RecipientPage | None
    minutes: list[tuple[datetime, int, int]] | None


# Shared by the pages of one job open in this process (several tabs, several people of one account): the progress
# and the pages of recipients are loaded once per change of the job (its signature), the chart once per
# CHART_SECONDS, however many pages show it. Keys start with the user's id; an entry is only read after the user's
# own signature query has found the job theirs.
_shared: dict[tuple, tuple[float, object]] = {}
_SHARED_LIMIT = 512
# Pages load in worker threads (state/threads.py): one lock guards the dict, and one lock per key being loaded
# lets a single thread load a value while the other pages wanting it wait for that load instead of running it
# again; the key's lock is dropped once its load ends.
_shared_lock = threading.Lock()
_loading: dict[tuple, threading.Lock] = {}


def _fresh(key: tuple, max_age: float) -> tuple[bool, object]:
    found = _shared.get(key)
    if found is not None and time.monotonic() - found[0] < max_age:
        return True, found[1]
    return False, None


def _shared_value(key: tuple, max_age: float, load):
    with _shared_lock:
        fresh, value = _fresh(key, max_age)
        if fresh:
            return value
        key_lock = _loading.setdefault(key, threading.Lock())
    with key_lock:
        with _shared_lock:
            fresh, value = _fresh(key, max_age)  # loaded by another page while this one waited
        if fresh:
            return value
        now = time.monotonic()
        try:
            value = load()
            with _shared_lock:
                if len(_shared) >= _SHARED_LIMIT:
                    for old in [k for k, (at, _) in _shared.items()
                                if now - at >= max(CHART_SECONDS, FULL_REFRESH_SECONDS)]:
                        del _shared[old]
                    if len(_shared) >= _SHARED_LIMIT:
                        _shared.clear()
                _shared[key] = (now, value)
        finally:  # stored (or failed): the next page to want the key finds the value, or loads it itself
            with _shared_lock:
                if _loading.get(key) is key_lock:
                    del _loading[key]
    return value


def job_signature(*, user_id: int, job_id: int) -> tuple | None:
    """The job's progress signature (jobs_service.progress_signature), shared for SIGNATURE_SECONDS by the pages
    that show the job in this process: however many are open, it is queried about five times a second at most."""
    def query():
        with session_scope() as session:
            return jobs_service.progress_signature(session=session, user_id=user_id, job_id=job_id)

    return _shared_value(("signature", user_id, job_id), SIGNATURE_SECONDS, query)


def load_page_data(*, user_id: int, job_id: int, status_filter: str, search: str, page: int,
                   recipients: bool = True, chart: bool = False, signature: tuple | None = None) -> PageData | None:
    """The job's progress (and a page of its recipients, its per-minute chart when asked) for its owner; None when
    the job is not theirs. Every query is bounded by the job's senders or the sending rate, not its size (a search
    in the addresses excepted). `signature`: the job's signature as `job_signature` just found it for this user (a
    tick's), else it is queried here; either way it is this user's own query that finds the job theirs."""
    q = search.strip() or None
    status = None if status_filter == "all" else status_filter
    with session_scope() as session:
        if signature is None:
            signature = jobs_service.progress_signature(session=session, user_id=user_id, job_id=job_id)
        if signature is None:
            return None

        def progress():
            view = jobs_service.job_status(session=session, user_id=user_id, job_id=job_id)
            job = jobs_service.owned_job(session=session, user_id=user_id, job_id=job_id)  # the row loaded above
            return view, job.error_message or ""

        view, error = _shared_value(("status", user_id, job_id, signature), FULL_REFRESH_SECONDS, progress)
        page_of = None
        if recipients:
            page_of = _shared_value(
                ("recipients", user_id, job_id, signature, status, q, page), FULL_REFRESH_SECONDS,
                lambda: jobs_service.list_recipients(session=session, user_id=user_id, job_id=job_id, status=status,
                                                     q=q, limit=PAGE_SIZE, offset=page * PAGE_SIZE,
                                                     count_limit=COUNT_LIMIT))
        minutes = None
        if chart:
            minutes = _shared_value(
                ("chart", user_id, job_id, signature[0]), CHART_SECONDS,
                lambda: jobs_service.sends_per_minute(session=session, user_id=user_id, job_id=job_id,
                                                      minutes=CHART_MINUTES))
    return PageData(signature=signature, status=view, error_message=error, recipients=page_of, minutes=minutes)


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
    cancelled: int = 0
    percent: float = 0
    delivery_unknown: int = 0  # sends whose outcome is unknown: they may have been delivered
    suppressed: int = 0  # skipped: the address was suppressed (unsubscribed) while the job ran
    send_at: str = ""  # a scheduled job's start, in the UI's date format
    send_at_iso: str = ""  # the same, for the browser to show in its own time zone
    rate: str = "—"  # sends a minute: the current pace while running, the average once finished
    eta: str = ""  # while running: the time left
    took: str = ""  # once finished: how long it ran
    waiting_reason: str = ""
    senders: list[SenderLine] = []
    series: list[dict[str, int | str]] = []  # one bar per minute: {"minute": "HH:MM", "sent": n, "failed": n}
    recipients: list[RecipientLine] = []
    recipients_total: int = 0
    recipients_capped: bool = False  # a search found more than COUNT_LIMIT: the total reads "10,000+"
    status_filter: str = "all"
    search: str = ""
    page: int = 0
    confirm_cancel: bool = False
    confirm_retry: bool = False  # the retry asks first whether recipients of unknown delivery go too
    reschedule_at: str = ""  # the reschedule field's value, in the browser's time zone
    reschedule_error: str = ""
    _sender_emails: dict[int, str] = {}
    _charted_at: float = 0.0
    _signature: str = ""  # the job's progress signature when the page last loaded it
    _loaded_at: float = 0.0
    _searched_at: float = 0.0

    @rx.var
    def active(self) -> bool:
        """Queued or sending: the page follows it every second."""
        return self.status in lifecycle.JOB_ENGINE

    @rx.var
    def unfinished(self) -> bool:
        """Scheduled, queued, sending or paused: it can still be cancelled, and the page keeps following it."""
        return self.status in lifecycle.JOB_OPEN

    @rx.var
    def retryable(self) -> bool:
        """Finished with recipients that failed or whose delivery is unknown: "Retry failed" is offered."""
        return self.status in lifecycle.JOB_RETRYABLE and self.failed + self.delivery_unknown > 0

    @rx.var
    def page_count(self) -> int:
        return page_count(self.recipients_total, PAGE_SIZE)

    @rx.var
    def recipients_summary(self) -> str:
        """'1,234 recipients', or '10,000+ recipients' for a search that found more than it counts."""
        return f"{self.recipients_total:,}{'+' if self.recipients_capped else ''} recipients"

    @rx.var
    def export_url(self) -> str:
        return f"/api/email-jobs/{self.job_id}/recipients?format=csv"

    def _route_job_id(self) -> int:
        raw = str(self.router.page.params.get("job_id", ""))
        return int(raw) if raw.isdigit() else 0

    @rx.event
    async def load(self):
        """on_load: sign-in check, the job, its recipients; while it runs the page's ticker calls `tick`."""
        user = await signed_in_user(self)
        if user is None:
            return
        self.job_id, self.found = self._route_job_id(), False
        self.page, self.status_filter, self.search = 0, "all", ""
        self.confirm_cancel = self.confirm_retry = False
        self.reschedule_at, self.reschedule_error = "", ""
        await db_work(self._load_job, user.id)

    def _load_job(self, user_id: int) -> None:
        with session_scope() as session:
            job = jobs_service.get_job(session=session, user_id=user_id, job_id=self.job_id)
        self.found = True
        self.subject, self.created_at = job.name or job.subject, when(job.created_at)
        self._refresh(user_id, chart=True)

    @rx.event
    async def tick(self, _clock: str = ""):
        """Every TICK_MS while this page shows a running job (every few seconds while it is scheduled or paused):
        one cheap query tells whether anything changed since the page loaded it (a send settled, the job moved
        on); only then, or every FULL_REFRESH_SECONDS, is the rest loaded (shared with the other pages open on the
        job). The chart every few seconds and once more when the job starts or stops sending. Nothing for another
        page or a job that has finished."""
        user = await signed_in_user(self)
        if user is None or not self.found or not self.unfinished or self._route_job_id() != self.job_id:
            return
        await db_work(self._tick, user.id)

    def _tick(self, user_id: int) -> None:
        signature = job_signature(user_id=user_id, job_id=self.job_id)
        if signature is not None and repr(signature) == self._signature and \
                time.monotonic() - self._loaded_at < FULL_REFRESH_SECONDS:
            return
        was_active = self.active
        # A search scans the addresses: while one is typed in, the table follows the job only every few seconds.
        table = not self.search.strip() or time.monotonic() - self._searched_at >= SEARCH_SECONDS
        self._refresh(user_id, recipients=table, signature=signature,
                      chart=self.active and time.time() - self._charted_at >= CHART_SECONDS)
        if self.active != was_active:
            self._refresh(user_id, recipients=False, chart=True)

    def _refresh(self, user_id: int, *, recipients: bool = True, chart: bool = False,
                 signature: tuple | None = None) -> None:
        data = load_page_data(user_id=user_id, job_id=self.job_id, status_filter=self.status_filter,
                              search=self.search, page=self.page, recipients=recipients, chart=chart,
                              signature=signature)
        if data is None:  # deleted meanwhile, or no longer this user's
            self.found = False
            return
        status = data.status
        self._signature, self._loaded_at = repr(data.signature), time.monotonic()
        self.status, self.error_message = status.status, data.error_message
        self.total, self.sent, self.failed, self.pending = status.total, status.sent, status.failed, status.pending
        self.cancelled, self.percent = status.cancelled, status.percent
        self.delivery_unknown, self.suppressed = status.delivery_unknown, status.suppressed
        self.send_at = when(status.send_at) if status.send_at else ""
        self.send_at_iso = status.send_at.isoformat() if status.send_at else ""
        running = status.status in lifecycle.JOB_ENGINE
        rate = status.rate_per_minute if running else status.average_rate_per_minute
        self.rate = str(round(rate)) if rate else "—"
        self.eta = duration(status.eta_seconds) if running and status.eta_seconds else ""
        finished = status.status in lifecycle.JOB_FINISHED  # a paused job has not "taken" anything yet
        self.took = duration(status.duration_seconds) if finished and status.duration_seconds is not None else ""
        self.waiting_reason = status.waiting_reason or ""
        self._sender_emails = {s.sender_id: s.email for s in status.senders}
        self.senders = [SenderLine(email=s.email, sent=s.sent, failed=s.failed, delivery_unknown=s.delivery_unknown)
                        for s in status.senders]
        if data.minutes is not None:
            self.series = chart_series(data.minutes, until=_now_minute() if self.active else None)
            self._charted_at = time.time()
        page = data.recipients
        if page is None:
            return
        if self.search.strip():
            self._searched_at = time.monotonic()
        self.recipients_total, self.recipients_capped = page.total, page.total_capped
        self.recipients = [RecipientLine(email=r.email, status=r.status, sender=self._sender_emails.get(r.sender_id, ""),
                                         sent_at=when(r.sent_at) if r.sent_at else "", error=r.error_message or "",
                                         attempts=r.attempts) for r in page.items]

    @rx.event
    async def set_status_filter(self, value: str | list[str]):
        user = await signed_in_user(self)
        if user is None:
            return
        self.status_filter, self.page = chosen(value, STATUS_FILTERS), 0
        await db_work(self._refresh, user.id)

    @rx.event
    async def set_search(self, value: str):
        user = await signed_in_user(self)
        if user is None:
            return
        self.search, self.page = value, 0
        await db_work(self._refresh, user.id)

    @rx.event
    async def turn_page(self, delta: int):
        user = await signed_in_user(self)
        if user is None:
            return
        self.page = min(max(0, self.page + delta), self.page_count - 1)
        await db_work(self._refresh, user.id)

    @rx.event
    async def ask_cancel(self):
        if await signed_in_user(self) is not None:
            self.confirm_cancel = True

    @rx.event
    async def keep_running(self):
        if await signed_in_user(self) is not None:
            self.confirm_cancel = False

    @rx.event
    async def cancel(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        self.confirm_cancel = False
        return await db_work(self._control, user.id, jobs_service.cancel_job,
                             "Job cancelled: nothing more will be sent")

    @rx.event
    async def pause(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        return await db_work(self._control, user.id, jobs_service.pause_job,
                             "Paused: no new send starts (one already under way finishes)")

    @rx.event
    async def resume(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        return await db_work(self._control, user.id, jobs_service.resume_job, "Resumed where it stopped")

    @rx.event
    async def start_now(self):
        user = await signed_in_user(self)
        if user is None:
            return None
        return await db_work(self._control, user.id, jobs_service.start_job_now, "Starting now")

    @rx.event
    async def set_reschedule_at(self, value: str):
        if await signed_in_user(self) is not None and isinstance(value, str):
            self.reschedule_at, self.reschedule_error = value[:40], ""

    @rx.event
    async def reschedule(self):
        """Move a scheduled job's start to the time in the reschedule field (in the browser's time zone)."""
        user = await signed_in_user(self)
        if user is None:
            return None
        clock = await self.get_state(BrowserClockState)
        return await db_work(self._reschedule, user.id, clock.utc_offset)

    def _reschedule(self, user_id: int, utc_offset: str):
        try:
            send_at = browser_time(self.reschedule_at, utc_offset)
            with session_scope() as session:
                job = jobs_service.reschedule_job(session=session, user_id=user_id, job_id=self.job_id,
                                                  send_at=send_at)
        except DomainError as exc:  # a time in the past or too far ahead: said beside the field
            self.reschedule_error = exc.message
            self._refresh(user_id)
            return None
        self.reschedule_at, self.reschedule_error = "", ""
        self._refresh(user_id)
        return rx.toast.success(f"Rescheduled: starts {when(job.send_at)}")

    @rx.event
    async def ask_retry(self):
        """"Retry failed": at once, unless some recipients' delivery is unknown; then the dialog asks first."""
        user = await signed_in_user(self)
        if user is None:
            return None
        if self.delivery_unknown > 0:
            self.confirm_retry = True
            return None
        return await db_work(self._retry, user.id, include_unknown=False)

    @rx.event
    async def retry(self, include_unknown: bool):
        user = await signed_in_user(self)
        if user is None:
            return None
        self.confirm_retry = False
        return await db_work(self._retry, user.id, include_unknown=include_unknown is True)

    @rx.event
    async def keep_as_is(self):
        if await signed_in_user(self) is not None:
            self.confirm_retry = False

    def _retry(self, user_id: int, *, include_unknown: bool):
        try:
            with session_scope() as session:
                result = jobs_service.retry_job(session=session, user_id=user_id, job_id=self.job_id,
                                                include_unknown=include_unknown)
        except DomainError as exc:
            self._refresh(user_id)
            # "Nothing to retry: ...; <a hint naming the API's include_unknown>": the dialog is this page's way
            return rx.toast.error(exc.message.partition(";")[0])
        self._refresh(user_id, chart=True)
        left = (f"; {result.delivery_unknown_left} of unknown delivery left as they are"
                if result.delivery_unknown_left else "")
        return rx.toast.success(f"{result.requeued} recipient{'s' if result.requeued != 1 else ''} re-queued{left}")

    def _control(self, user_id: int, action, done: str):
        """Run one of the job's controls, then show the job as it now is (also when the control was refused:
        another tab or the engine may have moved it on)."""
        try:
            with session_scope() as session:
                action(session=session, user_id=user_id, job_id=self.job_id)
        except DomainError as exc:
            self._refresh(user_id)
            return rx.toast.error(exc.message)
        self._refresh(user_id, chart=True)
        return rx.toast.success(done)
