"""Sending a batch: reserve a few recipients, send each through Gmail, settle its row — the database decides what
is sent.

A batch reserves a few rows at a time (they become `sending`, tagged with the batch's claim, with a lease) in a
transaction that checks the job is still in progress, its owner still an active user, and the sender active and
under its daily quota, reserved rows included. Just before each send its row is marked begun (`send_started_at`;
BEGIN checks the job, owner and sender again, so a pause, cancel or suppression stops the next send at once), in
the same round trip as the previous send's settle (sent, failed, delivery_unknown, or back to pending for a retry)
when the next pace slot is at most SETTLE_HOLD away, else the settle goes on its own. A batch that ends releases the
rows it reserved and did not begin. A redelivered or duplicated queue message finds nothing to reserve. The
statements are the lifecycle's (services/lifecycle.py); a begun row whose worker died mid-send may or may not have
been delivered, so the scheduler makes it delivery_unknown rather than retrying it, and a row that was only reserved
goes back to the pool (`lifecycle.recover_stranded`).
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session

from mass_mailer import crypto
from mass_mailer.db import get_engine
from mass_mailer.errors import DomainError
from mass_mailer.gmail import client as gmail
from mass_mailer.gmail.mime import build_message, to_raw
from mass_mailer.logging_config import engine_context
from mass_mailer.models import EmailJob, FailureKind, JobStatus, Sender, SenderStatus, User, utcnow
from mass_mailer.redis_client import get_redis
from mass_mailer.services import coordination, lifecycle, metrics, senders, unsubscribe
from mass_mailer.services.coordination import live_key
from mass_mailer.services.prepared import Prepared
from mass_mailer.services.quota import SenderPace
from mass_mailer.services.templating import CompiledTemplates, compile_for_sending
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)
_CONNECTION_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

PROJECT_PAUSE = timedelta(hours=1)
MAX_IDLE_WAIT = 30.0  # a batch waits this long at most for a retry coming due, else ends
LIVE_TTL = 30  # seconds a (job, sender) pair counts as covered after its batch last claimed
SETTLE_HOLD = 0.1  # seconds a settle may wait for the next pace slot, to share the next claim's round trip
RESERVE_MAX = 20  # rows a batch reserves at a time, at most
OUTAGE_LIMIT = 90.0  # seconds a batch waits for a lost PostgreSQL or Redis before giving up (its rows stay safe)
# Set when the worker shuts down: batches stop between two sends (never during one) and hand over.
STOPPING = threading.Event()


@dataclass
class Claimed:
    """A recipient claimed for one send."""

    id: int
    email: str
    data: dict[str, Any]
    attempts: int
    blocked: bool = False  # on the suppression list: settled `suppressed` by the claim, not to be sent


@dataclass
class BatchContext:
    """What a batch needs, loaded once: the job's templates and the sender's identity and Gmail client."""

    job_id: int
    user_id: int
    sender_id: int
    sender_email: str
    sender_name: str | None
    templates: CompiledTemplates
    client: gmail.GmailClient
    refresh_token: str  # the grant this batch sends with (the account may be connected again while it runs)


@lru_cache(maxsize=64)
def _job_templates(job_id: int, subject: str, html: str) -> CompiledTemplates:
    return compile_for_sending(subject, html)


def load_batch(*, job_id: int, sender_id: int) -> BatchContext | None:
    """The batch context, or None when the job is not running or the sender cannot send."""
    with Session(get_engine(), expire_on_commit=False) as session:
        job, sender = session.get(EmailJob, job_id), session.get(Sender, sender_id)
        if job is None or job.status != JobStatus.IN_PROGRESS or sender is None:
            return None
        if sender.status != SenderStatus.ACTIVE or sender.deleted_at is not None or sender.user_id != job.user_id:
            return None
        user = session.get(User, job.user_id)
        if user is None or not user.is_active:  # a deactivated owner's job sends nothing more
            return None
        try:
            tokens = senders.load_tokens(sender)  # decrypted once per batch, kept in memory only
        except crypto.TokenDecryptionError:
            # A key was removed (or this process runs with old keys): the sender sends nothing until reconnected,
            # and its recipients go to the job's other senders.
            lifecycle.require_reauth(session=session, sender_id=sender_id, reason=senders.UNREADABLE_TOKENS)
            return None
        return BatchContext(job_id, job.user_id, sender_id, sender.email, user.name,
                            _job_templates(job_id, job.subject, job.html_content), gmail.GmailClient(tokens),
                            tokens.refresh_token)


@dataclass
class Settlement:
    """How one send ended: which settle statement applies to its row, with what, and what to count."""

    kind: str  # sent, failed or retry
    params: dict[str, Any]
    outcome: str | None  # the metric still to count
    stop: bool = False  # the sender (or the project) cannot send any more


def run_batch(*, job_id: int, sender_id: int, limit: int) -> bool:
    """Send up to `limit` messages of a job through one sender; True when it stopped with work left to do."""
    with engine_context(job_id, sender_id):  # every line logged on the way names the job and the sender
        return _run_batch(job_id=job_id, sender_id=sender_id, limit=limit)


def _run_batch(*, job_id: int, sender_id: int, limit: int) -> bool:
    if coordination.project_paused():
        return False
    ctx = load_batch(job_id=job_id, sender_id=sender_id)
    if ctx is None:
        return False
    batch = _BatchRun(ctx)
    try:
        return batch.run(limit)
    finally:
        try:
            # The last send's outcome is recorded and the rows reserved but not sent go back, even across a short
            # outage.
            batch.ride_out(batch.finish)
        finally:
            batch.conn.close()


# The lifecycle's engine statements, prepared once per connection.
_RESERVE = Prepared(lifecycle.RESERVE)
_BEGIN = Prepared(lifecycle.BEGIN)
_BEGIN_AND_SETTLE = {kind: Prepared(sql) for kind, sql in lifecycle.BEGIN_AND_SETTLE.items()}
_SETTLE = {kind: Prepared(sql) for kind, sql in lifecycle.SETTLE.items()}
_SETTLE_AND_RELEASE = {kind: Prepared(sql) for kind, sql in lifecycle.SETTLE_AND_RELEASE.items()}
_RELEASE = Prepared(lifecycle.RELEASE)


def _autocommit() -> Connection:
    return get_engine().connect().execution_options(isolation_level="AUTOCOMMIT")


def reserve_size(*, lease_seconds: float, per_minute: int) -> int:
    """How many rows a batch reserves at a time, at most: a handful, and never more than its sender's pace can send
    well within the lease (a reserved row must be begun before its lease runs out)."""
    return max(1, min(RESERVE_MAX, int(lease_seconds * per_minute / 60 / 8)))


class _BatchRun:
    """One batch's loop. It reserves a few rows at a time; each send begins its row (marks it `sending`) in the same
    round trip as the previous send's settle, and its outcome is counted by the next pace call (one Redis round
    trip); a settle never waits long for them."""

    def __init__(self, ctx: BatchContext) -> None:
        settings = get_settings()
        self.ctx, self.conn = ctx, _autocommit()
        self.pace = SenderPace(settings.sender_rate_per_minute)
        # The claim tag: this worker process (what the scheduler's liveness check knows) and this batch.
        self.claim_tag = f"{coordination.worker_id()}/{secrets.token_hex(4)}"
        self.params = {"job_id": ctx.job_id, "sender_id": ctx.sender_id, "lease": settings.lease_seconds,
                       "claim": self.claim_tag}
        # A batch starts by reserving one row and doubles up to `most`: a small job still goes to all its senders
        # (and a sender that cannot send is found out), a large one costs one reservation per many sends.
        self.most = reserve_size(lease_seconds=settings.lease_seconds, per_minute=settings.sender_rate_per_minute)
        self.chunk = 1
        self.reserved: deque[Claimed] = deque()
        self.unbegun: list[int] = []  # reserved rows whose begin found the job, the sender or the row not sendable
        self.settlement: Settlement | None = None  # the last send's, not applied yet
        self.blocked = False  # the job or the sender can no longer send
        self.marked = 0.0

    def ride_out(self, call):
        """`call()`, waiting while PostgreSQL or Redis is away (logged once, retried with a growing pause, a new
        database connection each time) for up to OUTAGE_LIMIT: a lost connection must not lose the outcome of a
        send that happened. A statement whose transaction did not commit is simply run again: settles only move
        rows still `sending`, a begin finds the row it may already have begun, and a reservation takes whatever
        rows are free then."""
        lost_at, pause = None, 0.5
        while True:
            try:
                result = call()
            except _CONNECTION_ERRORS as exc:
                now = time.monotonic()
                if lost_at is None:
                    lost_at = now
                    log.warning("lost the connection to %s (%s); waiting for it",
                                "Redis" if isinstance(exc, RedisError) else "PostgreSQL", type(exc).__name__)
                if now - lost_at > OUTAGE_LIMIT or STOPPING.is_set():
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                if isinstance(exc, DBAPIError):
                    self._reconnect()
                continue
            if lost_at is not None:
                log.info("connection back after %.0f s", time.monotonic() - lost_at)
            return result

    def _reconnect(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - the old connection is gone anyway
            pass
        try:
            self.conn = _autocommit()
        except DBAPIError:
            pass  # still away: the next try connects again

    def run(self, limit: int) -> bool:
        for done in range(limit):
            if time.monotonic() - self.marked > LIVE_TTL / 6:  # keep the pair covered, without a call per send
                self.ride_out(lambda: get_redis().set(live_key(self.ctx.job_id, self.ctx.sender_id),
                                                      coordination.worker_id(), ex=LIVE_TTL))
                self.marked = time.monotonic()
            if not self.ride_out(self._take_slot) or STOPPING.is_set():
                return True
            claimed = self._begin_next(limit - done)
            if claimed is None:
                if self.blocked or not self.ride_out(lambda: _wait_for_due_work(self.conn, self.ctx.job_id)):
                    self._end()
                    return False
                continue
            self.settlement = _send_one(self.ctx, claimed)
            if self.settlement.stop:
                self.settle()
                self._end()
                return False
        return True

    def _begin_next(self, wanted: int) -> Claimed | None:
        """The next reserved row, marked `sending` (with the last send's settle in the same round trip); None when
        nothing can be reserved now, or the job or sender can no longer send (`blocked`)."""
        while True:
            if not self.reserved:
                self.ride_out(self.settle)  # on its own: a reservation may wait on the sender's lock
                self.reserved.extend(self.ride_out(lambda: self._reserve(min(wanted, self.chunk))))
                if not self.reserved:
                    return None
                self.chunk = min(self.most, self.chunk * 2)
            claimed = self.reserved[0]
            settlement = self.settlement
            statement = _BEGIN if settlement is None else _BEGIN_AND_SETTLE[settlement.kind]
            params = self.params | {"next": claimed.id} | (settlement.params if settlement else {})
            attempts, can_send = self.ride_out(lambda: statement.run(self.conn, params)[0])
            self.reserved.popleft()
            if settlement is not None:
                _count(settlement)
                self.settlement = None
            if attempts is not None:
                claimed.attempts = attempts
                return claimed
            self.unbegun.append(claimed.id)  # released at the end (if it is still this batch's)
            if not can_send:  # paused, cancelled, owner deactivated, sender out: the rest is released at the end
                self.blocked = True
                return None
            # This row was taken away meanwhile (suppressed, its reservation expired): the next one.

    def _reserve(self, count: int) -> list[Claimed]:
        rows = [Claimed(*row) for row in _RESERVE.run(self.conn, self.params | {"count": count})]
        for row in rows:
            if row.blocked:
                log.info("recipient %s is suppressed: not sent", row.id)
        return [row for row in rows if not row.blocked]

    def _end(self) -> None:
        """Nothing more for this batch (the job is done, paused or stopped, or the sender is out): uncover the pair
        and wake the scheduler, which completes the job or covers the pair again when there is work."""
        try:
            get_redis().delete(live_key(self.ctx.job_id, self.ctx.sender_id))
            coordination.wake_scheduler(self.ctx.job_id)
        except RedisError:  # the scheduler's next round finds the pair uncovered once its mark expires
            log.warning("could not hand the pair back (Redis away)")

    def _take_slot(self) -> bool:
        """Wait for a pace slot (False: none came in time, or the worker stops), settling first if it is far."""
        deadline = time.monotonic() + LIVE_TTL / 2
        wait = self.pace.try_acquire(self.ctx.sender_id, count=self.settlement and self.settlement.outcome)
        if self.settlement:
            self.settlement.outcome = None  # counted by the pace call
        while wait > 0:
            if wait > SETTLE_HOLD:
                self.settle()
            if time.monotonic() + wait > deadline:
                # The slot is further off than a batch may wait (a pace under 4/min): wait out the batch's share
                # before handing over, so the follow-up batch does not spin.
                STOPPING.wait(max(0.0, deadline - time.monotonic()))
                return False
            if STOPPING.wait(wait):
                return False
            wait = self.pace.try_acquire(self.ctx.sender_id)
        return True

    def settle(self) -> None:
        """Apply the last send's settlement on its own, now."""
        if self.settlement is not None:
            _SETTLE[self.settlement.kind].run(self.conn, self.settlement.params)
            _count(self.settlement)
            self.settlement = None

    def finish(self) -> None:
        """The batch ends: the last settle, and the release of the rows it reserved but did not begin, together."""
        release = {"release": [row.id for row in self.reserved] + self.unbegun, "claim": self.claim_tag}
        if self.settlement is not None:
            _SETTLE_AND_RELEASE[self.settlement.kind].run(self.conn, self.settlement.params | release)
            _count(self.settlement)
            self.settlement = None
        elif release["release"]:
            _RELEASE.run(self.conn, release)
        self.reserved.clear()
        self.unbegun.clear()


def _count(settlement: Settlement) -> None:
    if settlement.outcome:
        metrics.record_send(settlement.outcome)


def _wait_for_due_work(conn: Connection, job_id: int) -> bool:
    """Nothing claimable now: wait for a retry coming due soon (True), or end (nothing pending, or the job is no
    longer running: the scheduler completes it)."""
    due_in = conn.execute(lifecycle.NEXT_DUE, {"job_id": job_id}).scalar()
    if due_in is None:
        return False
    if due_in > MAX_IDLE_WAIT:
        return False
    if due_in <= 0:  # due now, yet unclaimable: the sender is over quota or stopped
        return False
    return not STOPPING.wait(due_in + 0.05)


def _send_one(ctx: BatchContext, claimed: Claimed) -> Settlement:
    """Render and send one recipient; how its row must be settled."""
    try:
        raw = render_raw(ctx.templates, sender_email=ctx.sender_email, sender_name=ctx.sender_name,
                         to=claimed.email, data=claimed.data,
                         unsubscribe_url=unsubscribe.link(user_id=ctx.user_id, job_id=ctx.job_id, email=claimed.email))
        _store_refreshed(ctx, ctx.client.refresh_if_expired())
        tokens_before = ctx.client.tokens
        message_id = ctx.client.send(raw)
        if ctx.client.tokens is not tokens_before:
            try:
                _store_refreshed(ctx, ctx.client.tokens)
            except Exception:  # noqa: BLE001 - the message is out: only the refreshed token is not stored
                log.warning("a refreshed token could not be stored", exc_info=True)
    except gmail.DeliveryUnknown as exc:
        return Settlement("unknown", {"id": claimed.id, "reason": exc.reason}, "delivery_unknown")
    except gmail.PermanentError as exc:
        return _failed(claimed, exc.reason, FailureKind.PERMANENT)
    except gmail.TemporaryError as exc:
        return _retry_or_fail(claimed, exc)
    except gmail.SendError as exc:
        return _stop_sender(ctx, claimed, exc)
    except DomainError as exc:  # e.g. a template refusing this recipient's data: the reason is user-safe
        return _failed(claimed, exc.message, FailureKind.PERMANENT)
    except Exception as exc:  # an unexpected error must not strand the row in `sending`
        log.exception("sending recipient %s failed unexpectedly", claimed.id)
        return _failed(claimed, f"internal error: {type(exc).__name__}", FailureKind.INTERNAL)
    return Settlement("sent", {"id": claimed.id, "message_id": message_id}, "sent")


def _failed(claimed: Claimed, reason: str, failure: FailureKind) -> Settlement:
    return Settlement("failed", {"id": claimed.id, "reason": reason, "failure": failure.value}, "failed")


def render_raw(templates: CompiledTemplates, *, sender_email: str, sender_name: str | None, to: str,
               data: dict[str, Any], unsubscribe_url: str) -> str:
    """The Gmail `raw` message for one recipient: personalised subject, HTML and text part, with its one-click
    unsubscribe headers, as MIME. `{{ unsubscribe_url }}` is the same link as the headers'."""
    subject, html, text_part = templates.render_message({**data, "email": to, "unsubscribe_url": unsubscribe_url})
    return to_raw(build_message(sender_email=sender_email, sender_name=sender_name, to=to, subject=subject,
                                html=html, text=text_part, extra_headers=unsubscribe.headers(unsubscribe_url)))


def _retry_or_fail(claimed: Claimed, exc: gmail.TemporaryError) -> Settlement:
    """Back to pending after an exponential backoff with jitter (at least Retry-After), or failed."""
    if claimed.attempts >= get_settings().max_attempts:
        return _failed(claimed, f"gave up after {claimed.attempts} attempts: {exc.reason}", FailureKind.GAVE_UP)
    delay = min(300.0, 2.0 ** (claimed.attempts - 1)) * random.uniform(0.5, 1.5)
    return Settlement("retry", {"id": claimed.id, "reason": exc.reason, "delay": max(delay, exc.retry_after or 0),
                                "refund": 0}, "retried")


def _stop_sender(ctx: BatchContext, claimed: Claimed, exc: gmail.SendError) -> Settlement:
    """A sender-level refusal: take the sender out; its recipient goes back to the job's other senders."""
    delay = 0.0
    with Session(get_engine()) as session:
        if isinstance(exc, gmail.SenderReauth):
            # Only the grant this batch used is refused: if the account was connected again meanwhile, the
            # sender stays active and the next batch sends with the new grant.
            if senders.holds_grant(session=session, sender_id=ctx.sender_id, refresh_token=ctx.refresh_token):
                lifecycle.require_reauth(session=session, sender_id=ctx.sender_id, reason=exc.reason)
        elif isinstance(exc, gmail.SenderQuotaExhausted):
            lifecycle.rest_sender(session=session, sender_id=ctx.sender_id, reset_at=exc.reset_at, reason=exc.reason)
        elif isinstance(exc, gmail.ProjectLimitReached):
            pause_project(exc.reason)
            delay = PROJECT_PAUSE.total_seconds()
    return Settlement("retry", {"id": claimed.id, "reason": exc.reason, "delay": delay, "refund": 1}, None,
                      stop=True)


def _store_refreshed(ctx: BatchContext, tokens) -> None:
    if tokens is not None:
        with Session(get_engine()) as session:
            senders.save_refreshed_tokens(session=session, sender_id=ctx.sender_id, tokens=tokens,
                                          granted_by=ctx.refresh_token)
        ctx.refresh_token = tokens.refresh_token or ctx.refresh_token


def pause_project(reason: str) -> None:
    """The project's daily API limit: no sends at all for PROJECT_PAUSE."""
    until = utcnow() + PROJECT_PAUSE
    get_redis().set(coordination.PROJECT_PAUSE_KEY, until.isoformat(), ex=int(PROJECT_PAUSE.total_seconds()))
    log.error("Gmail project limit reached (%s); sending paused until %s", reason, until.isoformat())
