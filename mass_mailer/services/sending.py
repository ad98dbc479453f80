"""Sending a batch: claim one recipient, send it through Gmail, settle the row — the database decides what is sent.

A recipient row is claimed (pending → sending, with a lease) in the same transaction that checks the job is
still in progress, the sender is active and under its daily quota; it is settled right after the send (sent,
failed, or back to pending for a retry). A redelivered or duplicated queue message finds nothing to claim.
A row still `sending` when its lease expires belonged to a worker that died mid-send: it may or may not have
been delivered, so it is failed as "delivery unknown" rather than retried (see `recover_expired_leases`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, text
from sqlmodel import Session

from mass_mailer.db import get_engine
from mass_mailer.gmail import client as gmail
from mass_mailer.gmail.mime import build_message, to_raw
from mass_mailer.models import EmailJob, JobStatus, Sender, SenderStatus, User, utcnow
from mass_mailer.redis_client import get_redis
from mass_mailer.services import metrics, senders
from mass_mailer.services.quota import USED_BY_SENDER_SQL, SenderPace
from mass_mailer.services.templating import CompiledTemplates, compile_templates, html_to_text
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)

DELIVERY_UNKNOWN = "delivery unknown: the worker stopped during the send; not retried to avoid a duplicate"
PROJECT_PAUSE_KEY = "mm:project_paused_until"
PROJECT_PAUSE = timedelta(hours=1)
MAX_IDLE_WAIT = 30.0  # a batch waits this long at most for a retry coming due, else ends
LIVE_TTL = 30  # seconds a (job, sender) pair counts as covered after its batch last claimed
# Set when the worker shuts down: batches stop between two sends (never during one) and hand over.
STOPPING = threading.Event()

_USED_SQL = USED_BY_SENDER_SQL.format(sender=":sender_id", cutoff="now() - interval '24 hours'")
_CLAIM_SQL = text(f"""
    SELECT pg_advisory_xact_lock(7001, :sender_id);
    WITH pick AS (
        SELECT r.id FROM email_recipients r
        WHERE r.job_id = :job_id AND r.status = 'pending'
          AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
          AND EXISTS (SELECT 1 FROM email_jobs j WHERE j.id = :job_id AND j.status = 'in_progress')
          AND EXISTS (SELECT 1 FROM senders s WHERE s.id = :sender_id AND s.status = 'active'
                        AND s.deleted_at IS NULL
                        AND s.daily_quota > {_USED_SQL})
        LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE email_recipients r
    SET status = 'sending', sender_id = :sender_id, attempts = r.attempts + 1,
        lease_expires_at = clock_timestamp() + make_interval(secs => :lease)
    FROM pick WHERE r.id = pick.id
    RETURNING r.id, r.email, r.data, r.attempts
""")
_SETTLE_SQL = """
    WITH r AS (UPDATE email_recipients SET {changes}, lease_expires_at = NULL
               WHERE id = :id AND status = 'sending' RETURNING job_id)
    UPDATE email_jobs SET {counter} = {counter} + 1, updated_at = now() WHERE id IN (SELECT job_id FROM r)
"""
_SENT_SQL = text(_SETTLE_SQL.format(
    changes="status = 'sent', sent_at = now(), gmail_message_id = :message_id, error_message = NULL, "
            "next_attempt_at = NULL", counter="sent_count"))
_FAILED_SQL = text(_SETTLE_SQL.format(changes="status = 'failed', error_message = :reason", counter="failed_count"))
_RETRY_SQL = text("""
    UPDATE email_recipients
    SET status = 'pending', sender_id = NULL, lease_expires_at = NULL, error_message = :reason,
        next_attempt_at = now() + make_interval(secs => :delay), attempts = attempts - :refund
    WHERE id = :id AND status = 'sending'
""")
_NEXT_DUE_SQL = text("""
    SELECT extract(epoch FROM min(coalesce(next_attempt_at, now())) - now())
    FROM email_recipients r JOIN email_jobs j ON j.id = r.job_id
    WHERE r.job_id = :job_id AND r.status = 'pending' AND j.status = 'in_progress'
""")
FINISH_SQL = text("""
    UPDATE email_jobs SET status = 'completed', finished_at = now(), updated_at = now()
    WHERE id = :job_id AND status = 'in_progress'
      AND NOT EXISTS (SELECT 1 FROM email_recipients
                      WHERE job_id = :job_id AND status IN ('pending', 'sending'))
""")


@dataclass
class Claimed:
    """A recipient claimed for one send."""

    id: int
    email: str
    data: dict[str, Any]
    attempts: int


@dataclass
class BatchContext:
    """What a batch needs, loaded once: the job's templates and the sender's identity and Gmail client."""

    job_id: int
    sender_id: int
    sender_email: str
    sender_name: str | None
    templates: CompiledTemplates
    client: gmail.GmailClient


def live_key(job_id: int, sender_id: int) -> str:
    """Redis key present while some batch covers this (job, sender) pair."""
    return f"mm:live:{job_id}:{sender_id}"


@lru_cache(maxsize=64)
def _job_templates(job_id: int, subject: str, html: str) -> CompiledTemplates:
    return compile_templates(subject, html)


def load_batch(*, job_id: int, sender_id: int) -> BatchContext | None:
    """The batch context, or None when the job is not running or the sender cannot send."""
    with Session(get_engine(), expire_on_commit=False) as session:
        job, sender = session.get(EmailJob, job_id), session.get(Sender, sender_id)
        if job is None or job.status != JobStatus.IN_PROGRESS or sender is None:
            return None
        if sender.status != SenderStatus.ACTIVE or sender.deleted_at is not None or sender.user_id != job.user_id:
            return None
        user = session.get(User, job.user_id)
        tokens = senders.load_tokens(sender)  # decrypted once per batch, kept in memory only
        return BatchContext(job_id, sender_id, sender.email, user.name if user else None,
                            _job_templates(job_id, job.subject, job.html_content), gmail.GmailClient(tokens))


def run_batch(*, job_id: int, sender_id: int, limit: int) -> bool:
    """Send up to `limit` messages of a job through one sender; True when it stopped with work left to do."""
    if project_paused():
        return False
    ctx = load_batch(job_id=job_id, sender_id=sender_id)
    if ctx is None:
        return False
    pace = SenderPace(get_settings().sender_rate_per_minute)
    redis = get_redis()
    marked = 0.0
    with get_engine().connect() as conn:
        for _ in range(limit):
            if time.monotonic() - marked > LIVE_TTL / 6:  # keep the pair covered, without a call per send
                redis.set(live_key(job_id, sender_id), 1, ex=LIVE_TTL)
                marked = time.monotonic()
            if not pace.acquire(sender_id, give_up_after=LIVE_TTL / 2, stop=STOPPING) or STOPPING.is_set():
                return True
            claimed = claim(conn, job_id=job_id, sender_id=sender_id)
            if claimed is None:
                if not _wait_for_due_work(conn, job_id):
                    return False
                continue
            if not _send_one(conn, ctx, claimed):
                return False
    return True


def claim(conn: Connection, *, job_id: int, sender_id: int) -> Claimed | None:
    """Claim one sendable recipient of the job for this sender, or None."""
    with conn.begin():
        row = conn.execute(_CLAIM_SQL, {"job_id": job_id, "sender_id": sender_id,
                                        "lease": get_settings().lease_seconds}).first()
    return Claimed(*row) if row else None


def _wait_for_due_work(conn: Connection, job_id: int) -> bool:
    """Nothing claimable now: wait for a retry coming due soon (True), or finish the job if it is done."""
    with conn.begin():
        due_in = conn.execute(_NEXT_DUE_SQL, {"job_id": job_id}).scalar()
        if due_in is None:
            conn.execute(FINISH_SQL, {"job_id": job_id})
            return False
    if due_in > MAX_IDLE_WAIT:
        return False
    if due_in <= 0:  # due now, yet unclaimable: the sender is over quota or stopped
        return False
    return not STOPPING.wait(due_in + 0.05)


def _send_one(conn: Connection, ctx: BatchContext, claimed: Claimed) -> bool:
    """Render, send and settle one recipient; False when the sender (or the project) must stop."""
    try:
        subject, html = ctx.templates.render({**claimed.data, "email": claimed.email})
        raw = to_raw(build_message(sender_email=ctx.sender_email, sender_name=ctx.sender_name, to=claimed.email,
                                   subject=subject, html=html, text=html_to_text(html)))
        _store_refreshed(ctx, ctx.client.refresh_if_expired())
        tokens_before = ctx.client.tokens
        message_id = ctx.client.send(raw)
        if ctx.client.tokens is not tokens_before:
            _store_refreshed(ctx, ctx.client.tokens)
    except gmail.PermanentError as exc:
        _settle(conn, _FAILED_SQL, id=claimed.id, reason=exc.reason)
        metrics.record_send("failed")
        return True
    except gmail.TemporaryError as exc:
        _retry_or_fail(conn, claimed, exc)
        return True
    except gmail.SendError as exc:
        _stop_sender(conn, ctx, claimed, exc)
        return False
    except Exception as exc:  # an unexpected error must not strand the row in `sending`
        log.exception("sending recipient %s failed unexpectedly", claimed.id)
        _settle(conn, _FAILED_SQL, id=claimed.id, reason=f"internal error: {type(exc).__name__}")
        metrics.record_send("failed")
        return True
    _settle(conn, _SENT_SQL, id=claimed.id, message_id=message_id)
    metrics.record_send("sent")
    return True


def _settle(conn: Connection, statement, **params) -> None:
    with conn.begin():
        conn.execute(statement, params)


def _retry_or_fail(conn: Connection, claimed: Claimed, exc: gmail.TemporaryError) -> None:
    """Back to pending after an exponential backoff with jitter (at least Retry-After), or failed."""
    if claimed.attempts >= get_settings().max_attempts:
        _settle(conn, _FAILED_SQL, id=claimed.id, reason=f"gave up after {claimed.attempts} attempts: {exc.reason}")
        metrics.record_send("failed")
        return
    delay = min(300.0, 2.0 ** (claimed.attempts - 1)) * random.uniform(0.5, 1.5)
    _settle(conn, _RETRY_SQL, id=claimed.id, reason=exc.reason, delay=max(delay, exc.retry_after or 0), refund=0)
    metrics.record_send("retried")


def _stop_sender(conn: Connection, ctx: BatchContext, claimed: Claimed, exc: gmail.SendError) -> None:
    """A sender-level refusal: release the recipient to the job's other senders and take the sender out."""
    delay = 0.0
    with Session(get_engine()) as session:
        if isinstance(exc, gmail.SenderReauth):
            senders.mark_reauth_required(session=session, sender_id=ctx.sender_id, reason=exc.reason)
        elif isinstance(exc, gmail.SenderQuotaExhausted):
            mark_quota_exhausted(session=session, sender_id=ctx.sender_id, reset_at=exc.reset_at, reason=exc.reason)
        elif isinstance(exc, gmail.ProjectLimitReached):
            pause_project(exc.reason)
            delay = PROJECT_PAUSE.total_seconds()
    _settle(conn, _RETRY_SQL, id=claimed.id, reason=exc.reason, delay=delay, refund=1)
    get_redis().delete(live_key(ctx.job_id, ctx.sender_id))


def _store_refreshed(ctx: BatchContext, tokens) -> None:
    if tokens is not None:
        with Session(get_engine()) as session:
            senders.save_refreshed_tokens(session=session, sender_id=ctx.sender_id, tokens=tokens)


def mark_quota_exhausted(*, session: Session, sender_id: int, reset_at: datetime, reason: str) -> None:
    """Gmail's daily limit: the sender rests until the time Gmail named."""
    session.execute(text("""UPDATE senders SET status = 'quota_exhausted', quota_reset_at = :reset_at,
                            last_error = :reason, updated_at = now() WHERE id = :id"""),
                    {"id": sender_id, "reset_at": reset_at, "reason": f"Gmail daily limit: {reason}"[:500]})
    session.commit()
    log.warning("sender %s reached Gmail's daily limit; resting until %s", sender_id, reset_at.isoformat())


def pause_project(reason: str) -> None:
    """The project's daily API limit: no sends at all for PROJECT_PAUSE."""
    until = utcnow() + PROJECT_PAUSE
    get_redis().set(PROJECT_PAUSE_KEY, until.isoformat(), ex=int(PROJECT_PAUSE.total_seconds()))
    log.error("Gmail project limit reached (%s); sending paused until %s", reason, until.isoformat())


def project_paused() -> bool:
    """True while sending is paused for the whole project."""
    return bool(get_redis().exists(PROJECT_PAUSE_KEY))
