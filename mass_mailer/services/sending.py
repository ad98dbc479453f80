"""Sending a batch: claim one recipient, send it through Gmail, settle the row — the database decides what is sent.

A recipient row is claimed (pending → sending, with a lease) in the same transaction that checks the job is
still in progress, its owner still an active user, the sender active and under its daily quota; it is settled
right after the send (sent, failed, delivery_unknown, or back to pending for a retry), together with the batch's
next claim when the next pace slot is at most SETTLE_HOLD away, else on its own. A redelivered or duplicated queue
message finds nothing to claim. The statements are the lifecycle's (services/lifecycle.py); a row still `sending`
whose worker died mid-send may or may not have been delivered, so the scheduler makes it delivery_unknown rather
than retrying it (`lifecycle.recover_stranded`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
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
from mass_mailer.services.quota import SenderPace
from mass_mailer.services.templating import CompiledTemplates, compile_for_sending
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)
_CONNECTION_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

PROJECT_PAUSE = timedelta(hours=1)
MAX_IDLE_WAIT = 30.0  # a batch waits this long at most for a retry coming due, else ends
LIVE_TTL = 30  # seconds a (job, sender) pair counts as covered after its batch last claimed
SETTLE_HOLD = 0.1  # seconds a settle may wait for the next pace slot, to share the next claim's round trip
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
            batch.ride_out(batch.settle)  # the last send's outcome is recorded, even across a short outage
        finally:
            batch.conn.close()


def _autocommit() -> Connection:
    return get_engine().connect().execution_options(isolation_level="AUTOCOMMIT")


class _BatchRun:
    """One batch's loop. Each send's settle travels with the next claim (one round trip, one transaction) and its
    outcome is counted by the next pace call (one Redis round trip); a settle never waits long for them."""

    def __init__(self, ctx: BatchContext) -> None:
        self.ctx, self.conn = ctx, _autocommit()
        self.pace = SenderPace(get_settings().sender_rate_per_minute)
        self.claim_params = {"job_id": ctx.job_id, "sender_id": ctx.sender_id, "lease": get_settings().lease_seconds,
                             "worker": coordination.worker_id()}
        self.settlement: Settlement | None = None  # the last send's, not applied yet
        self.marked = 0.0

    def ride_out(self, call):
        """`call()`, waiting while PostgreSQL or Redis is away (logged once, retried with a growing pause, a new
        database connection each time) for up to OUTAGE_LIMIT: a lost connection must not lose the outcome of a
        send that happened. A statement whose transaction did not commit is simply run again: settles only move
        rows still `sending`, and a claim takes whatever row is claimable then."""
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
        for _ in range(limit):
            if time.monotonic() - self.marked > LIVE_TTL / 6:  # keep the pair covered, without a call per send
                self.ride_out(lambda: get_redis().set(live_key(self.ctx.job_id, self.ctx.sender_id),
                                                      coordination.worker_id(), ex=LIVE_TTL))
                self.marked = time.monotonic()
            if not self.ride_out(self._take_slot) or STOPPING.is_set():
                return True
            claimed = self.ride_out(lambda: claim(self.conn, self.claim_params, self.settlement))
            self.settlement = None
            if claimed is None:
                if not self.ride_out(lambda: _wait_for_due_work(self.conn, self.ctx.job_id)):
                    self._end()
                    return False
                continue
            if claimed.blocked:
                self.ride_out(lambda: self.conn.execute(lifecycle.COUNT_SUPPRESSED, {"job_id": self.ctx.job_id}))
                log.info("recipient %s is suppressed: not sent", claimed.id)
                continue
            self.settlement = _send_one(self.ctx, claimed)
            if self.settlement.stop:
                self.settle()
                self._end()
                return False
        return True

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
            self.conn.execute(lifecycle.SETTLE[self.settlement.kind], self.settlement.params)
            _count(self.settlement)
            self.settlement = None


def claim(conn: Connection, params: dict[str, Any], settlement: Settlement | None = None) -> Claimed | None:
    """Claim one sendable recipient of the job and settle the previous send (if any), in one transaction."""
    statement = lifecycle.CLAIM if settlement is None else lifecycle.CLAIM_AND_SETTLE[settlement.kind]
    row = conn.execute(statement, params if settlement is None else params | settlement.params).first()
    if settlement is not None:
        _count(settlement)
    return Claimed(*row) if row else None


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
