"""Email jobs: creating one from a recipient list, reading it, cancelling it. Sending is the engine's part."""

from __future__ import annotations

import contextlib
import functools
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg2
from pydantic import BaseModel, computed_field, field_validator
from sqlalchemy import func, text
from sqlmodel import Session, select

from mass_mailer.errors import Conflict, DomainError, InvalidInput, NotFound
from mass_mailer.models import EmailJob, JobStatus, RecipientStatus, Sender, SenderStatus, User, utcnow
from mass_mailer.services import coordination, counters, lifecycle, ratelimit, suppressions, unsubscribe
from mass_mailer.services.coordination import wake_scheduler
from mass_mailer.services.csv_export import iter_csv_rows
from mass_mailer.services.planner import usable_senders
from mass_mailer.services.recipients_csv import (ParsedRecipients, RecipientChunk, RecipientsCsv, open_recipients_csv,
                                                  parse_recipients_json)
from mass_mailer.services.templating import CompiledTemplates, check_subject, compile_templates
from mass_mailer.settings import get_settings

SAMPLED_RENDERS = 20
RATE_WINDOW = 60  # seconds: the current rate of a job that has been sending for longer is the one of this stretch
MIN_RATE_SPAN = 1.0  # seconds of sending before a rate is measured at all


JobKind = Literal["campaign", "test"]


class JobCreated(BaseModel):
    id: int
    status: str
    total_recipients: int
    rejected: list[dict[str, Any]]


class JobView(BaseModel):
    id: int
    name: str | None = None  # the campaign's name; the UI lists jobs by it (by the subject when there is none)
    subject: str
    html_content: str
    status: str
    total_recipients: int
    sent_count: int
    failed_count: int
    delivery_unknown_count: int = 0  # sends whose outcome is unknown (may have been delivered); never retried unasked
    suppressed_count: int = 0  # recipients skipped while the job ran: their address was suppressed meanwhile
    send_at: datetime | None = None  # when a scheduled job starts
    sender_ids: list[int] | None = None
    error_message: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    is_test: bool = False  # a "Send test to myself" job

    @field_validator("is_test", mode="before")
    @classmethod
    def _unmarked_is_campaign(cls, value: bool | None) -> bool:
        return bool(value)

    @computed_field
    @property
    def cancelled_count(self) -> int:
        """Recipients a cancellation left unsent (a send under way at that moment settles within seconds)."""
        if self.status != JobStatus.CANCELLED:
            return 0
        return max(0, self.total_recipients - self.sent_count - self.failed_count - self.delivery_unknown_count
                   - self.suppressed_count)


class JobPage(BaseModel):
    total: int
    items: list[JobView]


def create_job_from_csv(*, session: Session, user: User, subject: str, html_content: str, data: bytes,
                        email_column: str | None = None, sender_ids: list[int] | None = None,
                        name: str | None = None, send_at: datetime | str | None = None) -> JobCreated:
    """Create and start (or schedule) a job for the recipients of an uploaded CSV file.

    The file is read in chunks, each checked and COPYed into the job's recipients before the next is read, in one
    transaction: a failure stores nothing. Errors are the same, and said in the same order, as for a file read
    whole before anything is stored: the file's own (unreadable rows, too many rows), the campaign name, no valid
    recipient, the senders, then the templates tried on sampled recipients."""
    templates = _check_content(subject, html_content)
    send_at = check_send_at(send_at)
    source = open_recipients_csv(data, email_column)
    # Checked now, said once the whole file is read (as if it had been read before anything was stored).
    name_error = sender_error = None
    chosen: list[int] | None = None
    try:
        name = check_name(name)
    except DomainError as exc:
        name_error = exc
    try:
        chosen = _check_senders(session=session, user_id=user.id, sender_ids=sender_ids)
    except DomainError as exc:
        sender_error = exc
    try:
        job = None
        if name_error is None and sender_error is None:
            job = EmailJob(user_id=user.id, name=name, subject=subject, html_content=html_content,
                           sender_ids=chosen, total_recipients=0, send_at=send_at,
                           status=lifecycle.initial_status(send_at))
            session.add(job)
            session.flush()
        ingest = _CsvIngest(session=session, user_id=user.id, source=source, job_id=job.id if job else None)
        ingest.run()  # without a job (an error to say), the file is only read to its end for its own errors
        if name_error is not None:
            raise name_error
        if not ingest.count:
            raise InvalidInput("No valid recipient in the list", rejected=ingest.rejected)
        if sender_error is not None:
            raise sender_error
        _try_templates(templates, user.id, ingest.sample.rows(ingest.count))
        job.total_recipients = ingest.count
        session.commit()
    except BaseException:
        session.rollback()
        raise
    wake_scheduler(job.id)
    return JobCreated(id=job.id, status=job.status, total_recipients=job.total_recipients, rejected=ingest.rejected)


def create_job_from_list(*, session: Session, user: User, subject: str, html_content: str,
                         recipients: list[dict[str, Any]], sender_ids: list[int] | None = None,
                         is_test: bool = False, name: str | None = None,
                         send_at: datetime | str | None = None) -> JobCreated:
    """Create and start (or schedule) a job for recipients given as objects with an "email" field; `is_test` marks
    a test send, listed apart from campaigns."""
    _check_content(subject, html_content)
    send_at = check_send_at(send_at)
    return create_job(session=session, user=user, subject=subject, html_content=html_content,
                      recipients=parse_recipients_json(recipients), sender_ids=sender_ids, is_test=is_test,
                      name=name, send_at=send_at)


def create_job(*, session: Session, user: User, subject: str, html_content: str, recipients: ParsedRecipients,
               sender_ids: list[int] | None = None, is_test: bool = False, name: str | None = None,
               send_at: datetime | str | None = None) -> JobCreated:
    """Store the job and its valid recipients, then wake the scheduler to start it (now, or at `send_at`)."""
    name = check_name(name)
    send_at = check_send_at(send_at)
    templates = _check_content(subject, html_content)
    # Addresses on the user's suppression list are rejected with the reason and never stored.
    if suppressed := suppressions.suppressed_among(session=session, user_id=user.id,
                                                   emails=(row["email"] for row in recipients.valid)):
        recipients.drop(suppressed)
    if not recipients.valid:
        raise InvalidInput("No valid recipient in the list", rejected=recipients.rejected)
    chosen = _check_senders(session=session, user_id=user.id, sender_ids=sender_ids)
    _try_templates(templates, user.id, sample_rows(recipients.valid))
    job = EmailJob(user_id=user.id, name=name, subject=subject, html_content=html_content, sender_ids=chosen,
                   total_recipients=len(recipients.valid), is_test=is_test, send_at=send_at,
                   status=lifecycle.initial_status(send_at))
    session.add(job)
    session.flush()
    _copy_recipients(session, job.id, recipients.valid)
    session.commit()
    wake_scheduler(job.id)
    return JobCreated(id=job.id, status=job.status, total_recipients=job.total_recipients,
                      rejected=recipients.rejected)


MAX_NAME_CHARS = 200
MAX_SCHEDULE_AHEAD = timedelta(days=366)
SCHEDULE_GRACE = timedelta(seconds=60)  # a send_at this little in the past (clocks, typing) means "now"


def check_send_at(value: datetime | str | None) -> datetime | None:
    """A job's start time: ISO 8601 with an offset, not in the past, at most a year ahead (None: start now)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidInput("The start time (send_at) must be a date and time in ISO 8601 with an offset, "
                               "such as 2026-12-24T09:00:00+01:00") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("The start time (send_at) needs a time zone offset, such as 2026-12-24T09:00:00+01:00")
    now = utcnow()
    if value < now - SCHEDULE_GRACE:
        raise InvalidInput("The start time (send_at) is in the past")
    if value > now + MAX_SCHEDULE_AHEAD:
        raise InvalidInput("The start time (send_at) is more than a year ahead")
    return max(value, now)


def check_name(name: str | None) -> str | None:
    """A campaign name: one line of at most MAX_NAME_CHARS, or None when blank."""
    name = (name or "").strip()
    if "\r" in name or "\n" in name or "\x00" in name:
        raise InvalidInput("The campaign name must be a single line")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"The campaign name is longer than {MAX_NAME_CHARS} characters")
    return name or None


def check_job_rate(user: User) -> None:
    """Count one job creation of the user; RateLimited past JOB_RATE_LIMIT (called before any costly work)."""
    ratelimit.check("job_create", str(user.id), get_settings().job_rate_limit)


def sample_rows(rows: list[dict[str, Any]], count: int = SAMPLED_RENDERS) -> list[dict[str, Any]]:
    """The first rows and rows spread over the rest, the last included: the recipients a template is tried on
    before a job starts."""
    if len(rows) <= count:
        return rows
    head, spread = count // 2, count - count // 2
    last = len(rows) - 1
    return rows[:head] + [rows[head + round(i * (last - head) / (spread - 1))] for i in range(spread)]


def _check_content(subject: str, html_content: str) -> CompiledTemplates:
    check_subject(subject)
    if not html_content.strip():
        raise InvalidInput("The HTML content is empty")
    return compile_templates(subject, html_content)


def _check_senders(*, session: Session, user_id: int, sender_ids: list[int] | None) -> list[int] | None:
    """The chosen sender ids (None = all of the user's); refuse unknown ones and a job nobody can send."""
    owned = {s.id: s for s in session.exec(select(Sender).where(Sender.user_id == user_id,
                                                                Sender.deleted_at.is_(None)))}
    chosen = sorted(set(sender_ids)) if sender_ids else None
    if chosen:
        unknown = [sid for sid in chosen if sid not in owned]
        if unknown:
            raise NotFound(f"Sender not found: {', '.join(map(str, unknown))}")
    candidates = [owned[sid] for sid in chosen] if chosen else list(owned.values())
    if not candidates:
        raise Conflict("No sender: connect a Gmail account first")
    if not any(s.status != SenderStatus.REAUTH_REQUIRED for s in candidates):
        raise Conflict("No usable sender: every chosen Gmail account must be reconnected")
    return chosen


# One encoder for every row: json.dumps with options builds a new one per call.
_ENCODE_DATA = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _copy_recipients(session: Session, job_id: int, valid: list[dict[str, Any]]) -> None:
    """COPY the recipients in one round trip (100k rows in about a second)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        (job_id, row["email"], _ENCODE_DATA({k: v for k, v in row.items() if k != "email"})) for row in valid)
    buffer.seek(0)
    cursor = session.connection().connection.dbapi_connection.cursor()
    cursor.copy_expert("COPY email_recipients (job_id, email, data) FROM STDIN WITH (FORMAT csv)", buffer)


def _try_templates(templates: CompiledTemplates, user_id: int, rows: list[dict[str, Any]]) -> None:
    """A template the sandbox refuses, or one too heavy for its limits, fails at render time only: try it on the
    sampled recipients before the job is stored, so the user gets a 422 instead of a job whose every recipient
    fails."""
    for row in rows:
        templates.render({**row, "unsubscribe_url": unsubscribe.link(user_id=user_id, job_id=unsubscribe.PREVIEW_JOB,
                                                                     email=row["email"])})


_HAS_SUPPRESSIONS_SQL = text("SELECT EXISTS (SELECT 1 FROM suppressions WHERE user_id = :u)")


class _CsvIngest:
    """Reads a CSV file's chunks and COPYs each chunk's valid recipients into the job as it comes (PostgreSQL
    stores one chunk while the next is parsed), dropping suppressed addresses and keeping the rejected rows, the
    count and the sampled recipients. Without a job, the file is only read and checked."""

    def __init__(self, *, session: Session, user_id: int, source: RecipientsCsv, job_id: int | None) -> None:
        self.session, self.user_id, self.source, self.job_id = session, user_id, source, job_id
        self.rejected: list[dict[str, Any]] = []
        self.count = 0
        self.sample = _Sample()

    def run(self) -> None:
        has_list = self.session.execute(_HAS_SUPPRESSIONS_SQL, {"u": self.user_id}).scalar()
        # The session's connection is busy with the COPY: suppressions are looked up on another one.
        with Session(self.session.get_bind()) if has_list else contextlib.nullcontext() as lookups:
            pieces = self._pieces(lookups)
            if self.job_id is None:
                for _ in pieces:
                    pass
                return
            source = _CopySource(pieces)
            cursor = self.session.connection().connection.dbapi_connection.cursor()
            try:
                cursor.copy_expert("COPY email_recipients (job_id, email, data) FROM STDIN", source)
            except psycopg2.Error:
                if source.error is not None:  # psycopg2 reports it as a cancelled COPY: say what it was
                    raise source.error from None
                raise

    def _pieces(self, lookups: Session | None) -> Iterator[str]:
        """The COPY text (PostgreSQL's text format) of each chunk's valid recipients."""
        prefix = f"{self.job_id}\t"
        for chunk in self.source.chunks():
            if lookups is not None and chunk.emails:
                chunk.drop(suppressions.suppressed_among(session=lookups, user_id=self.user_id, emails=chunk.emails))
            self.rejected.extend(chunk.rejected)
            self.sample.add(chunk, self.count)
            self.count += len(chunk.emails)
            if self.job_id is None or not chunk.emails:
                continue
            # Checked addresses hold no tab, line break or backslash, and JSON escapes its control characters: only
            # JSON's backslashes need escaping for the text format.
            lines = "".join([prefix + email + "\t" + data + "\n" for email, data in zip(chunk.emails,
                                                                                        chunk.data_json())])
            yield lines.replace("\\", "\\\\") if "\\" in lines else lines


class _CopySource:
    """A file for psycopg2's copy_expert that reads the COPY text of an iterator's pieces, in blocks that each leave
    as one CopyData message at once; an exception raised while reading is kept (psycopg2 turns it into a cancelled
    COPY) to be raised as it was.

    PostgreSQL handles a CopyData message only once it has all of it, and libpq holds back the last partial 8 kB of
    what it was given until its next call: with messages of a row chunk each, PostgreSQL would wait for the next
    chunk to be parsed before storing the one it has, and the two would take turns instead of working at once.
    Messages of a whole number of 8 kB (with their 5-byte header) leave at once, whatever their content."""

    BLOCK = 64 * 1024 - 5

    def __init__(self, pieces: Iterator[str]) -> None:
        self.pieces, self.error = pieces, None
        self.buffer, self.offset, self.ended = b"", 0, False

    def read(self, size: int = -1) -> bytes:
        try:
            while len(self.buffer) - self.offset < self.BLOCK and not self.ended:
                piece = next(self.pieces, None)
                if piece is None:
                    self.ended = True
                else:
                    self.buffer, self.offset = self.buffer[self.offset:] + piece.encode(), 0
        except BaseException as exc:
            self.error = exc
            raise
        block = self.buffer[self.offset:self.offset + self.BLOCK]
        self.offset += len(block)
        return block

    readline = read


class _Sample:
    """The recipients a template is tried on, as `sample_rows` picks them from a list, kept while the list streams
    by: the first rows, then every `stride`-th row (the stride doubles whenever more than SLOTS are kept) and the
    last. Exact while at most SLOTS rows follow the first ones; beyond, each spread row is the kept row nearest to
    the place `sample_rows` would pick."""

    SLOTS = 1024

    def __init__(self, count: int = SAMPLED_RENDERS) -> None:
        self.head_count, self.spread = count // 2, count - count // 2
        self.head: list[dict[str, Any]] = []
        self.kept: list[tuple[int, dict[str, Any]]] = []  # (place in the list, row) at head_count + k * stride
        self.stride = 1
        self.last: dict[str, Any] | None = None

    def add(self, chunk: RecipientChunk, offset: int) -> None:
        """The chunk's valid recipients, which are the list's rows from `offset` on."""
        end = offset + len(chunk.emails)
        if end == offset:
            return
        for place in range(offset, min(end, self.head_count)):
            self.head.append(chunk.recipient(place - offset))
        place = self._next(max(offset, self.head_count))
        while place < end:
            self.kept.append((place, chunk.recipient(place - offset)))
            if len(self.kept) > self.SLOTS:
                self.stride *= 2
                self.kept = [(p, row) for p, row in self.kept if (p - self.head_count) % self.stride == 0]
            place = self._next(place + 1)
        self.last = chunk.recipient(end - 1 - offset)

    def _next(self, place: int) -> int:
        """The first place from `place` on that is kept."""
        return place + (-(place - self.head_count)) % self.stride

    def rows(self, total: int) -> list[dict[str, Any]]:
        """The sample of a list of `total` rows (all of them were added)."""
        if total <= self.head_count + self.spread:
            return self.head + [row for _, row in self.kept]
        last, picked = total - 1, []
        for i in range(self.spread):
            place = self.head_count + round(i * (last - self.head_count) / (self.spread - 1))
            if place == last:
                picked.append(self.last)
            else:
                slot = min(round((place - self.head_count) / self.stride), len(self.kept) - 1)
                picked.append(self.kept[slot][1])
        return self.head + picked


def owned_job(*, session: Session, user_id: int, job_id: int) -> EmailJob:
    """The user's job; NotFound for anyone else's."""
    job = session.get(EmailJob, job_id)
    if job is None or job.user_id != user_id:
        raise NotFound("Job not found")
    return job


def get_job(*, session: Session, user_id: int, job_id: int) -> JobView:
    """One of the user's jobs."""
    return live_views(session, [owned_job(session=session, user_id=user_id, job_id=job_id)])[0]


def live_views(session: Session, jobs: list[EmailJob]) -> list[JobView]:
    """Views of jobs with their counters exact to the last settle: the job's own counters plus the per-sender
    counts the scheduler has not folded into them yet (services/counters.py)."""
    views = [JobView.model_validate(job, from_attributes=True) for job in jobs]
    exact = counters.live(session=session, job_ids=[view.id for view in views])
    for view in views:
        if counts := exact.get(view.id):
            view.sent_count, view.failed_count = counts.sent, counts.failed
            view.delivery_unknown_count = counts.delivery_unknown
    return views


def list_jobs(*, session: Session, user_id: int, limit: int = 20, offset: int = 0,
              kind: JobKind | None = None) -> JobPage:
    """The user's jobs, newest first: all of them, only campaigns, or only test sends."""
    limit, offset = max(1, min(limit, 200)), max(0, offset)
    where = [EmailJob.user_id == user_id]
    if kind == "test":
        where.append(EmailJob.is_test.is_(True))
    elif kind == "campaign":
        where.append(EmailJob.is_test.is_not(True))
    total = session.exec(select(func.count()).select_from(EmailJob).where(*where)).one()
    jobs = session.exec(select(EmailJob).where(*where)
                        .order_by(EmailJob.created_at.desc(), EmailJob.id.desc()).limit(limit).offset(offset))
    return JobPage(total=total, items=live_views(session, list(jobs)))


class JobTotals(BaseModel):
    active: int  # queued or in progress
    cancelled_24h: int  # recipients left unsent by jobs cancelled in the last 24 h


_TOTALS_SQL = text("""
    SELECT count(*) FILTER (WHERE status IN ('queued', 'in_progress')),
           coalesce(sum(greatest(0, total_recipients - sent_count - failed_count - delivery_unknown_count
                                 - suppressed_count))
                    FILTER (WHERE status = 'cancelled' AND finished_at > now() - interval '24 hours'), 0)
    FROM email_jobs WHERE user_id = :user_id
""")


def job_totals(*, session: Session, user_id: int) -> JobTotals:
    """The user's active jobs and the recipients their cancellations of the last 24 h left unsent."""
    active, cancelled = session.execute(_TOTALS_SQL, {"user_id": user_id}).one()
    return JobTotals(active=active, cancelled_24h=cancelled)


def cancel_job(*, session: Session, user_id: int, job_id: int) -> JobView:
    """Stop a job that has not finished, at once: nothing more is claimed, unsent recipients become cancelled."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    if job.status not in lifecycle.JOB_OPEN or not lifecycle.cancel(session=session, job_ids=[job_id]):
        session.refresh(job)
        raise Conflict(f"The job has already finished ({job.status})")
    return _fresh_view(session, job)


def cancel_active_jobs_of_user(*, session: Session, user_id: int, reason: str) -> int:
    """Cancel every unfinished job of a user (deactivated by an admin); how many were cancelled."""
    ids = list(session.exec(select(EmailJob.id).where(EmailJob.user_id == user_id,
                                                      EmailJob.status.in_([s.value for s in lifecycle.JOB_OPEN]))))
    if ids:
        lifecycle.cancel(session=session, job_ids=ids, reason=reason)
    session.commit()
    return len(ids)


def pause_job(*, session: Session, user_id: int, job_id: int) -> JobView:
    """Pause a queued or running job: no new send starts (the one under way settles); 409 in another state."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    lifecycle.pause(session=session, job_id=job_id)
    return _fresh_view(session, job)


def resume_job(*, session: Session, user_id: int, job_id: int) -> JobView:
    """Resume a paused job where it stopped; 409 unless it is paused."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    lifecycle.resume(session=session, job_id=job_id)
    _replan(job_id)
    return _fresh_view(session, job)


def reschedule_job(*, session: Session, user_id: int, job_id: int, send_at: datetime | str) -> JobView:
    """Move a scheduled job's start; 409 unless it is scheduled, 400 for a time in the past or over a year away."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    when = check_send_at(send_at)
    if when is None:
        raise InvalidInput("send_at is required")
    lifecycle.reschedule(session=session, job_id=job_id, send_at=when)
    wake_scheduler(job_id)
    return _fresh_view(session, job)


def start_job_now(*, session: Session, user_id: int, job_id: int) -> JobView:
    """Start a scheduled job now; 409 unless it is scheduled."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    lifecycle.start_now(session=session, job_id=job_id)
    wake_scheduler(job_id)
    return _fresh_view(session, job)


class RetryResult(BaseModel):
    job: JobView
    requeued: int  # recipients put back to pending
    delivery_unknown_left: int  # delivery_unknown recipients not re-queued (ask with include_unknown)


def retry_job(*, session: Session, user_id: int, job_id: int, include_unknown: bool = False) -> RetryResult:
    """Send again a finished job's recipients that failed for a temporary or sender-level reason (never those
    refused for a bad address or another permanent error), and those whose delivery is unknown only when asked."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    if job.status not in lifecycle.JOB_RETRYABLE:
        raise Conflict(f"Only a completed or failed job can be retried (this one is {job.status})")
    requeued = lifecycle.retry(session=session, job_id=job_id, include_unknown=include_unknown)
    view = _fresh_view(session, job)
    if not requeued:
        hint = (f"; {view.delivery_unknown_count} recipient(s) have an unknown delivery: retry them with "
                "include_unknown, knowing that they may receive the email twice") if view.delivery_unknown_count else ""
        raise Conflict(f"Nothing to retry: no recipient failed for a temporary or sender-level reason{hint}")
    _replan(job_id)
    return RetryResult(job=view, requeued=requeued, delivery_unknown_left=view.delivery_unknown_count)


def _replan(job_id: int) -> None:
    """The job runs again: its pairs are covered anew (batches that ended on the pause left nothing running)."""
    coordination.release_live_keys(job_id)
    wake_scheduler(job_id)


def _fresh_view(session: Session, job: EmailJob) -> JobView:
    session.refresh(job)
    return live_views(session, [job])[0]


class SenderProgress(BaseModel):
    sender_id: int
    email: str
    sent: int
    failed: int
    delivery_unknown: int = 0


class JobStatusView(BaseModel):
    id: int
    status: str
    total: int
    sent: int
    failed: int
    pending: int
    percent: float
    rate_per_minute: float  # the current pace: over the job's sending time, then over the last minute
    eta_seconds: int | None
    senders: list[SenderProgress]
    waiting_reason: str | None = None
    cancelled: int = 0
    average_rate_per_minute: float | None = None  # first settled send to now, or to the last one when finished
    duration_seconds: int | None = None  # since the job started; start to finish once it has finished
    started_at: datetime | None = None
    finished_at: datetime | None = None
    delivery_unknown: int = 0  # sends whose outcome is unknown: they may have been delivered
    suppressed: int = 0  # skipped while the job ran: the address was suppressed (unsubscribed) meanwhile
    send_at: datetime | None = None  # a scheduled job's start


class RecipientView(BaseModel):
    email: str
    status: str
    sender_id: int | None
    sent_at: datetime | None
    error_message: str | None
    attempts: int = 0


class RecipientPage(BaseModel):
    total: int
    items: list[RecipientView]
    total_capped: bool = False  # a search matched more than the count asked for: `total` is that many, "or more"


# What a page showing the job's progress polls: changes with every settle (job_sender_counts), every fold and every
# change of the job row; None for a job that is not the user's. One row by primary key and the job's sender rows.
_SIGNATURE_SQL = text("""
    SELECT j.status, j.updated_at, j.sent_count, j.failed_count, j.delivery_unknown_count, j.suppressed_count,
           j.total_recipients, j.send_at,
           (SELECT coalesce(sum(c.sent + c.failed + c.delivery_unknown), 0) FROM job_sender_counts c
            WHERE c.job_id = j.id)
    FROM email_jobs j WHERE j.id = :job_id AND j.user_id = :user_id
""")
# The first and last settled sends, and the sends of the last RATE_WINDOW seconds: index range scans on
# (job_id, settled_at), so their cost does not grow with the job.
_TIMING_SQL = text("""
    SELECT (SELECT settled_at FROM email_recipients WHERE job_id = :job_id AND settled_at IS NOT NULL
              AND status IN ('sent', 'failed', 'delivery_unknown') ORDER BY settled_at LIMIT 1),
           (SELECT settled_at FROM email_recipients WHERE job_id = :job_id AND settled_at IS NOT NULL
              AND status IN ('sent', 'failed', 'delivery_unknown') ORDER BY settled_at DESC LIMIT 1),
           (SELECT count(*) FROM email_recipients WHERE job_id = :job_id AND settled_at IS NOT NULL
              AND settled_at > now() - make_interval(secs => :window)
              AND status IN ('sent', 'failed', 'delivery_unknown')),
           now()
""")
_PER_MINUTE_SQL = text("""
    SELECT date_trunc('minute', settled_at), count(*) FILTER (WHERE status = 'sent'),
           count(*) FILTER (WHERE status = 'failed')
    FROM email_recipients WHERE job_id = :job_id AND settled_at IS NOT NULL
    GROUP BY 1 ORDER BY 1
""")
# The same over the last :minutes minutes up to the job's last settled send: a range of the (job_id, settled_at)
# index, so its cost follows the sending rate, not the size of the job.
_RECENT_MINUTES_SQL = text("""
    WITH last AS (SELECT max(settled_at) AS at FROM email_recipients WHERE job_id = :job_id AND settled_at IS NOT NULL)
    SELECT date_trunc('minute', r.settled_at), count(*) FILTER (WHERE r.status = 'sent'),
           count(*) FILTER (WHERE r.status = 'failed')
    FROM email_recipients r, last
    WHERE r.job_id = :job_id AND r.settled_at IS NOT NULL
      AND r.settled_at >= date_trunc('minute', last.at) - make_interval(mins => :minutes - 1)
    GROUP BY 1 ORDER BY 1
""")
_UNSETTLED_SQL = text("SELECT count(*) FROM email_recipients WHERE job_id = :job_id "
                      "AND status IN ('pending', 'sending')")


def job_status(*, session: Session, user_id: int, job_id: int) -> JobStatusView:
    """Progress of a job: counts, its measured pace, an estimate of the time left, per sender."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    # Per sender from job_sender_counts, the totals from the job's counters plus what is not folded yet: the cost
    # follows the number of senders, not of recipients.
    progress = [SenderProgress(sender_id=sid, email=email, sent=sent, failed=failed, delivery_unknown=unknown)
                for sid, email, sent, failed, unknown in counters.by_sender(session=session, job_id=job_id)]
    sent, failed, unknown = live_counts(session=session, job_id=job_id)
    active = job.status in lifecycle.JOB_OPEN
    sends = sent + failed + unknown
    settled = sends + job.suppressed_count
    pending = max(0, job.total_recipients - settled if active
                  else session.execute(_UNSETTLED_SQL, {"job_id": job_id}).scalar_one())
    first, last, recent, now = session.execute(_TIMING_SQL, {"job_id": job_id, "window": RATE_WINDOW}).one()
    current, average = measured_rates(settled=sends, first=first, last=last, recent=recent, now=now,
                                      finished=not active)
    running = job.status in lifecycle.JOB_ENGINE
    usable = usable_senders(session=session, job=job) if running and pending else {}
    waiting = None
    if running and pending and not usable:
        waiting = "waiting: no sender can send now (daily quota used, reconnect needed, or Gmail limit)"
    return JobStatusView(
        id=job.id, status=job.status, total=job.total_recipients, sent=sent, failed=failed,
        pending=pending, cancelled=max(0, job.total_recipients - settled - pending) if not active else 0,
        percent=round(100.0 * settled / job.total_recipients, 1) if job.total_recipients else 0,
        rate_per_minute=round(current or 0.0, 1),
        eta_seconds=time_left(pending=pending, senders=len(usable), measured=current) if running or not pending
        else None,
        delivery_unknown=unknown, suppressed=job.suppressed_count, send_at=job.send_at,
        average_rate_per_minute=None if average is None else round(average, 1),
        duration_seconds=_seconds_between(job.started_at, job.finished_at or (now if active else None)),
        started_at=job.started_at, finished_at=job.finished_at, senders=progress, waiting_reason=waiting)


def live_counts(*, session: Session, job_id: int) -> tuple[int, int, int]:
    """(sent, failed, delivery_unknown) of the job, exact to the last settle."""
    counts = counters.live(session=session, job_ids=[job_id]).get(job_id, counters.Live())
    return counts.sent, counts.failed, counts.delivery_unknown


def progress_signature(*, session: Session, user_id: int, job_id: int) -> tuple | None:
    """A value that changes whenever anything the job's progress shows may have changed (a settle, a fold, a change
    of the job's status or counters); None when the job is not the user's. Cheap: what a live page polls."""
    row = session.execute(_SIGNATURE_SQL, {"job_id": job_id, "user_id": user_id}).one_or_none()
    return None if row is None else tuple(row)


def measured_rates(*, settled: int, first: datetime | None, last: datetime | None, recent: int, now: datetime,
                   finished: bool) -> tuple[float | None, float | None]:
    """(current, average) sends per minute, None while too little was sent to tell.

    The average spans the job's sending time: its first settled send to now, or to its last one once it has
    finished. The current rate is that average until the job has been sending for RATE_WINDOW, then the pace
    of the last RATE_WINDOW seconds, so that a slowdown shows."""
    if first is None or last is None or settled < 2:
        return None, None
    span = ((last if finished else now) - first).total_seconds()
    if span < MIN_RATE_SPAN:
        return None, None
    average = (settled - 1) * 60 / span
    if finished or (now - first).total_seconds() < RATE_WINDOW:
        return average, average
    return recent * 60 / RATE_WINDOW, average


def time_left(*, pending: int, senders: int, measured: float | None) -> int | None:
    """Seconds until the pending work is sent at the senders' pace (each at SENDER_RATE_PER_MINUTE), or at the
    measured rate when that is lower; 0 when nothing is left, None when nobody can send."""
    if not pending:
        return 0
    pace = senders * get_settings().sender_rate_per_minute
    if measured is not None:
        pace = min(pace, measured)
    return round(pending * 60 / pace) if pace > 0 else None


def _seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else max(0, round((end - start).total_seconds()))


def sends_per_minute(*, session: Session, user_id: int, job_id: int,
                     minutes: int | None = None) -> list[tuple[datetime, int, int]]:
    """(minute, sent, failed) for each minute in which some of the job's sends ended, oldest first; with `minutes`,
    only those of the last `minutes` minutes up to its last send (bounded work, whatever the size of the job)."""
    owned_job(session=session, user_id=user_id, job_id=job_id)
    if minutes is None:
        rows = session.execute(_PER_MINUTE_SQL, {"job_id": job_id})
    else:
        rows = session.execute(_RECENT_MINUTES_SQL, {"job_id": job_id, "minutes": max(1, minutes)})
    return [(minute, sent, failed) for minute, sent, failed in rows]


def list_recipients(*, session: Session, user_id: int, job_id: int, status: str | None = None,
                    q: str | None = None, limit: int = 50, offset: int = 0,
                    count_limit: int | None = None) -> RecipientPage:
    """A page of the job's recipients, filtered by status and by a search in the address.

    The total comes from the job's counters when no search is given (no count of its recipients); with a search it
    is counted, up to `count_limit` matches when given (beyond: `total` = count_limit, `total_capped`)."""
    job = owned_job(session=session, user_id=user_id, job_id=job_id)
    where, params = _recipient_filter(job_id, status, q)
    capped = False
    if q:
        if count_limit is None:
            total = session.execute(text(f"SELECT count(*) FROM email_recipients WHERE {where}"), params).scalar_one()
        else:
            total = session.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM email_recipients WHERE {where} "
                                         "LIMIT :cap) m"), params | {"cap": count_limit + 1}).scalar_one()
            capped, total = total > count_limit, min(total, count_limit)
    else:
        total = _status_total(session, job, status)
    limit, offset = max(1, min(limit, 1000)), max(0, offset)
    if q:
        rows = session.execute(text(f"""SELECT email, status, sender_id, sent_at, error_message, attempts
                                        FROM email_recipients WHERE {where} ORDER BY id LIMIT :limit OFFSET :offset"""),
                               params | {"limit": limit, "offset": offset})
    else:
        statuses = _statuses_of(status) if status else [s.value for s in RecipientStatus]
        rows = session.execute(_page_in_order(len(statuses)),
                               {"job_id": job_id, "limit": limit, "offset": offset,
                                "reach": min(limit + offset, _BIGINT_MAX)}
                               | {f"s{i}": [value] for i, value in enumerate(statuses)})
    return RecipientPage(total=total, total_capped=capped, items=[_recipient(row) for row in rows])


_BIGINT_MAX = 2**63 - 1  # PostgreSQL's LIMIT is a bigint; an offset may be up to that


@functools.lru_cache
def _page_in_order(count: int):
    """A page of a job's recipients of `count` statuses (:s0, :s1, ... each a one-element array) in upload order:
    each status's first :reach rows straight from the (job_id, status, id) index, merged. It reads at most
    count × (page size + offset) rows, however large the job and however many rows older jobs have.

    The status is matched with `= ANY` and each part ordered by (status, id) on purpose: with a plain `status = `
    PostgreSQL treats the order as by id alone and may walk the primary key from the table's first row, past every
    older job's rows, filtering (13 ms instead of 1 ms for a 1,000,000-row job behind 110,000 older rows)."""
    parts = " UNION ALL ".join(
        f"(SELECT id, email, status, sender_id, sent_at, error_message, attempts FROM email_recipients "
        f"WHERE job_id = :job_id AND status = ANY(:s{i}) ORDER BY status, id LIMIT :reach)" for i in range(count))
    return text(f"SELECT email, status, sender_id, sent_at, error_message, attempts FROM ({parts}) p "
                "ORDER BY id LIMIT :limit OFFSET :offset")


def _status_total(session: Session, job: EmailJob, status: str | None) -> int:
    """How many of the job's recipients have this status (all of them for None), from its counters: constant time.
    Only rows the counters do not tell apart are counted, through the (job_id, status) index: a finished job's
    unsettled rows (none, or the few sends a cancellation caught under way) and the cancelled rows of a job that
    was not cancelled (none)."""
    if status is None:
        return job.total_recipients
    if status == "suppressed":
        return job.suppressed_count
    sent, failed, unknown = live_counts(session=session, job_id=job.id)
    counted = {"sent": sent, "failed": failed, "delivery_unknown": unknown}
    if status in counted:
        return counted[status]
    left = max(0, job.total_recipients - sent - failed - unknown - job.suppressed_count)
    if status == "pending" and job.status in lifecycle.JOB_OPEN:
        return left
    unsettled = session.execute(_UNSETTLED_SQL, {"job_id": job.id}).scalar_one()
    if status == "pending":
        return unsettled
    if status == "cancelled" and job.status == JobStatus.CANCELLED:
        return max(0, left - unsettled)
    where, params = _recipient_filter(job.id, status, None)
    return session.execute(text(f"SELECT count(*) FROM email_recipients WHERE {where}"), params).scalar_one()


def export_recipients_csv(*, session: Session, user_id: int, job_id: int) -> Iterator[str]:
    """Every recipient of the job as CSV lines (email, status, sender, sent_at, error, attempts)."""
    owned_job(session=session, user_id=user_id, job_id=job_id)
    rows = session.execute(text("""
        SELECT r.email, CASE WHEN r.status = 'sending' THEN 'pending' ELSE r.status END, s.email, r.sent_at,
               r.error_message, r.attempts
        FROM email_recipients r LEFT JOIN senders s ON s.id = r.sender_id
        WHERE r.job_id = :job_id ORDER BY r.id"""), {"job_id": job_id}).yield_per(2000)
    return iter_csv_rows(("email", "status", "sender", "sent_at", "error_message", "attempts"), rows)


def _statuses_of(status: str) -> list[str]:
    """The stored statuses a status filter shows (a row being sent is shown as pending)."""
    return ["pending", "sending"] if status == "pending" else [status]


def _recipient_filter(job_id: int, status: str | None, q: str | None) -> tuple[str, dict[str, Any]]:
    where, params = ["job_id = :job_id"], {"job_id": job_id}
    if status:
        where.append("status = ANY(:statuses)")
        params["statuses"] = _statuses_of(status)
    if q:
        where.append("email ILIKE :q")
        params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return " AND ".join(where), params


def _recipient(row) -> RecipientView:
    email, status, sender_id, sent_at, error, attempts = row
    return RecipientView(email=email, status="pending" if status == "sending" else status, sender_id=sender_id,
                         sent_at=sent_at, error_message=error, attempts=attempts)
