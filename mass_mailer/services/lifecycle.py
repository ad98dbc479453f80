"""The one home of every status change of jobs, recipients and senders; no other module writes a status column.

Jobs
| from | to | function | by |
|---|---|---|---|
| (new) | scheduled, or queued | `initial_status` (jobs.create_job) | user |
| scheduled | queued | `start_due` (its send_at came), `start_now` | scheduler, user |
| scheduled | scheduled | `reschedule` | user |
| queued | in_progress | `start` | planner |
| queued, in_progress | paused | `pause` | user |
| paused | in_progress | `resume` | user |
| in_progress | completed | `complete_finished` (nothing pending or sending) | scheduler |
| queued, in_progress | failed | `fail` (no sender left) | planner |
| completed, failed | in_progress | `retry` | user |
| scheduled, queued, in_progress, paused | cancelled | `cancel` | user, admin (deactivation), scheduler |

Recipients
| from | to | function | by |
|---|---|---|---|
| pending | sending (reserved) | `RESERVE` (job in_progress, owner active, sender active and under quota) | batch |
| sending (reserved) | sending (begun) | `BEGIN` (about to be sent: job, owner and sender checked again) | batch |
| sending (reserved) | pending | `RELEASE` (the batch ends), `recover_stranded` (worker died, lease expired) | batch, scheduler |
| sending (begun) | sent, failed, delivery_unknown | `SETTLE` sent / failed / unknown | batch |
| sending (begun) | pending (backoff) | `SETTLE` retry (cancelled or failed instead when the job stopped meanwhile) | batch |
| sending (begun) | delivery_unknown | `recover_stranded` (lease expired, or its worker process died) | scheduler |
| pending, sending (reserved) | suppressed | `suppress_pending` (the address was suppressed); `RESERVE` (found on the list) | web, batch |
| pending, sending (reserved) | cancelled | `cancel` | as above |
| pending, sending (reserved) | failed | `fail`; `tidy_orphans` (left pending in a stopped job) | planner, scheduler |
| failed (retryable kind), delivery_unknown (when asked) | pending | `retry` | user |

"Reserved" and "begun" are not statuses of their own: both are `sending`, claimed by a batch (`claimed_by`); a begun
row has `send_started_at` (its send may have reached Gmail), a reserved one does not (it certainly has not).

Senders
| from | to | function | by |
|---|---|---|---|
| active | quota_exhausted | `rest_sender` (Gmail's daily limit, until the time Gmail names) | batch |
| quota_exhausted | active | `wake_rested_senders` | scheduler |
| any | reauth_required | `require_reauth` | batch, web (check) |
| any | active | `reactivate_sender` (connected again, or a refresh succeeded) | web, batch |

Who continues and who completes. A batch that stops with work left (its size reached, or the worker stopping)
queues its own follow-up (tasks/actors.py): the actor alone continues a batch, so a running pair is never left
uncovered between two batches. The planner only covers pairs no batch covers (a new, resumed or retried job, a
sender back from rest, a dead worker's pairs). The scheduler alone completes jobs (`complete_finished`): a batch
that runs out of work wakes it instead, so completion happens in one place, after recovery of stranded claims
in the same round, and a job is never completed while a claim of it is still under way.

Locks: recipient rows first, then the sender row, then the job row, in every statement here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from mass_mailer.errors import Conflict
from mass_mailer.models import RETRYABLE_FAILURES, FailureKind, JobStatus, RecipientStatus
from mass_mailer.services.quota import effective_quota_sql

log = logging.getLogger(__name__)


def sql_list(statuses) -> str:
    """Statuses as a SQL list: 'a', 'b'."""
    return ", ".join(f"'{s.value}'" for s in statuses)


# Status sets, defined once.
JOB_ENGINE = (JobStatus.QUEUED, JobStatus.IN_PROGRESS)  # the planner works on these
JOB_PAUSABLE = JOB_ENGINE
JOB_OPEN = (JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.PAUSED)  # not finished
JOB_FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
JOB_RETRYABLE = (JobStatus.COMPLETED, JobStatus.FAILED)
RECIPIENT_UNSETTLED = (RecipientStatus.PENDING, RecipientStatus.SENDING)
RECIPIENT_SETTLED = (RecipientStatus.SENT, RecipientStatus.FAILED, RecipientStatus.DELIVERY_UNKNOWN,
                     RecipientStatus.SUPPRESSED, RecipientStatus.CANCELLED)

DELIVERY_UNKNOWN = "delivery unknown: the worker stopped during the send; not retried to avoid a duplicate"

def _commit(session: Session) -> None:
    """Commit, and forget the session's loaded objects: the statements here change rows behind the ORM's back."""
    session.commit()
    session.expire_all()


# --- recipients: the sending engine's claim and settle ---------------------------------------------------
#
# A batch reserves a few rows at a time (RESERVE): they become `sending`, with the batch's claim tag in `claimed_by`,
# its sender and a lease, so nobody else takes them and they count against the sender's quota. Just before each
# send, its row's `send_started_at` is set (BEGIN), in the same round trip as the previous send's settle. So a row
# whose send may have begun always has `send_started_at`, and a reserved row that was never sent never has it:
# when a worker dies, its reserved rows simply go back to the pool and only the rows it began sending become
# delivery_unknown. BEGIN changes no indexed column, so PostgreSQL can update the row in place (HOT).

# The quota counts sent rows in the rolling window, claimed rows (reserved or being sent), and rows whose delivery
# is unknown (Gmail may have delivered them).
USED_BY_SENDER_SQL = """
    (SELECT count(*) FROM email_recipients
      WHERE sender_id = {sender} AND status = 'sent' AND sent_at > {cutoff})
  + (SELECT count(*) FROM email_recipients WHERE sender_id = {sender} AND status = 'sending')
  + (SELECT count(*) FROM email_recipients
      WHERE sender_id = {sender} AND status = 'delivery_unknown' AND settled_at > {cutoff})
"""
_USED_SQL = USED_BY_SENDER_SQL.format(sender=":sender_id", cutoff="now() - interval '24 hours'")
# The lock on the sender comes first, in its own statement, so that the quota is counted with a snapshot taken
# after the previous reservation of this sender committed.
_LOCK_SENDER = "SELECT pg_advisory_xact_lock(7001, :sender_id);"
_JOB_RUNS = ("EXISTS (SELECT 1 FROM email_jobs j JOIN users u ON u.id = j.user_id "
             "WHERE j.id = :job_id AND j.status = 'in_progress' AND u.is_active)")
_SENDER_SENDS = ("EXISTS (SELECT 1 FROM senders s WHERE s.id = :sender_id AND s.status = 'active' "
                 "AND s.deleted_at IS NULL)")
# Up to :count rows, no more than the sender's quota leaves. A row whose address is on its user's suppression list
# is settled `suppressed` instead (`blocked`), and counted on the job.
RESERVE = text(f"""{_LOCK_SENDER}
    WITH room AS (
        SELECT CASE WHEN {_JOB_RUNS} THEN greatest(0, least(:count, {effective_quota_sql("s")} - ({_USED_SQL})))
                    ELSE 0 END AS n
        FROM senders s WHERE s.id = :sender_id AND s.status = 'active' AND s.deleted_at IS NULL
    ),
    pick AS (
        SELECT r.id, EXISTS (SELECT 1 FROM suppressions sp
                             WHERE sp.user_id = (SELECT user_id FROM email_jobs WHERE id = :job_id)
                               AND sp.email = lower(r.email)) AS blocked
        FROM email_recipients r
        WHERE r.job_id = :job_id AND r.status = 'pending'
          AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
        LIMIT coalesce((SELECT n FROM room), 0) FOR UPDATE SKIP LOCKED
    ),
    reserved AS (
        UPDATE email_recipients r
        SET status = CASE WHEN pick.blocked THEN 'suppressed' ELSE 'sending' END,
            sender_id = CASE WHEN pick.blocked THEN NULL ELSE :sender_id END,
            claimed_by = CASE WHEN pick.blocked THEN NULL ELSE :claim END,
            lease_expires_at = CASE WHEN pick.blocked THEN NULL
                                    ELSE clock_timestamp() + make_interval(secs => :lease) END,
            send_started_at = NULL,
            settled_at = CASE WHEN pick.blocked THEN now() END,
            error_message = CASE WHEN pick.blocked THEN 'suppressed: on the suppression list' END,
            updated_at = now()
        FROM pick WHERE r.id = pick.id
        RETURNING r.id, r.email, r.data, r.attempts, pick.blocked
    ),
    counted AS (
        UPDATE email_jobs SET suppressed_count = suppressed_count + (SELECT count(*) FROM reserved WHERE blocked),
                              updated_at = now()
        WHERE id = :job_id AND EXISTS (SELECT 1 FROM reserved WHERE blocked)
    )
    SELECT id, email, data, attempts, blocked FROM reserved""")
# Rows reserved and never begun, back to the pool (a batch's end; cancelled or failed instead when their job stopped).
UNSTARTED_BACK = """
        status = coalesce((SELECT CASE j.status WHEN 'cancelled' THEN 'cancelled' WHEN 'failed' THEN 'failed' END
                           FROM email_jobs j WHERE j.id = email_recipients.job_id), 'pending'),
        sender_id = NULL, claimed_by = NULL, lease_expires_at = NULL, updated_at = now()"""
RELEASE = (f"UPDATE email_recipients SET {UNSTARTED_BACK} "
           "WHERE id = ANY(:release) AND status = 'sending' AND send_started_at IS NULL AND claimed_by = :claim")
# The row is about to be sent; the job, its owner and the sender are checked once more, and the suppression list
# (an address suppressed in another letter case since the reservation is caught here: the row is settled
# `suppressed` instead). Run again after a lost reply, it finds the row it already began.
_ON_LIST = ("EXISTS (SELECT 1 FROM suppressions sp WHERE sp.user_id = (SELECT user_id FROM email_jobs "
            "WHERE id = :job_id) AND sp.email = lower(r.email))")
_BEGAN = f"""began AS (
        UPDATE email_recipients r
        SET send_started_at = coalesce(r.send_started_at, clock_timestamp()),
            attempts = r.attempts + CASE WHEN r.send_started_at IS NULL THEN 1 ELSE 0 END,
            lease_expires_at = clock_timestamp() + make_interval(secs => :lease), updated_at = now()
        WHERE r.id = :next AND r.status = 'sending' AND r.claimed_by = :claim AND r.sender_id = :sender_id
          AND r.lease_expires_at > clock_timestamp() AND {_JOB_RUNS} AND {_SENDER_SENDS}
          AND (r.send_started_at IS NOT NULL OR NOT {_ON_LIST})
        RETURNING r.attempts
    ),
    blocked AS (
        UPDATE email_recipients r
        SET status = 'suppressed', sender_id = NULL, claimed_by = NULL, lease_expires_at = NULL, settled_at = now(),
            error_message = 'suppressed: on the suppression list', updated_at = now()
        WHERE r.id = :next AND r.status = 'sending' AND r.claimed_by = :claim AND r.send_started_at IS NULL
          AND {_ON_LIST}
        RETURNING r.job_id
    ),
    blocked_counted AS (
        UPDATE email_jobs SET suppressed_count = suppressed_count + 1, updated_at = now()
        WHERE id IN (SELECT job_id FROM blocked)
    )"""
# (attempts of the row just begun, or NULL; whether the job and sender may still send at all)
_BEGIN_RESULT = f"SELECT (SELECT attempts FROM began), {_JOB_RUNS} AND {_SENDER_SENDS}"
_SETTLED = ("settled AS (UPDATE email_recipients SET {changes}, lease_expires_at = NULL, claimed_by = NULL, "
            "updated_at = now() WHERE id = :id AND status = 'sending' RETURNING job_id, sender_id)")
# Outcomes are counted per (job, sender), where concurrent sends of one job through several senders do not meet;
# the scheduler folds them into the job's counters (FOLD_COUNTS).
_COUNTED = (", counted AS (INSERT INTO job_sender_counts (job_id, sender_id, {counter}) "
            "SELECT job_id, sender_id, 1 FROM settled "
            "ON CONFLICT (job_id, sender_id) DO UPDATE SET {counter} = job_sender_counts.{counter} + 1)")
# The specification's senders.daily_sent: messages sent on last_sent_date (UTC).
# A warming-up sender's first send of a day after a day it sent moves it one step up its ramp.
_SENDER_DAY = (", sender_day AS (UPDATE senders SET "
               "daily_sent = CASE WHEN last_sent_date = (now() AT TIME ZONE 'UTC')::date THEN daily_sent + 1 "
               "ELSE 1 END, last_sent_date = (now() AT TIME ZONE 'UTC')::date, "
               "warmup_step = CASE WHEN warmup AND last_sent_date < (now() AT TIME ZONE 'UTC')::date "
               "THEN warmup_step + 1 ELSE warmup_step END "
               "WHERE id IN (SELECT sender_id FROM settled))")
_SETTLE_CTES = {
    "sent": _SETTLED.format(changes="status = 'sent', sent_at = now(), settled_at = now(), error_message = NULL, "
                                    "failure_kind = NULL, gmail_message_id = :message_id, next_attempt_at = NULL")
            + _SENDER_DAY + _COUNTED.format(counter="sent"),
    "failed": _SETTLED.format(changes="status = 'failed', settled_at = now(), error_message = :reason, "
                                      "failure_kind = :failure")
              + _COUNTED.format(counter="failed"),
    "unknown": _SETTLED.format(changes="status = 'delivery_unknown', settled_at = now(), error_message = :reason")
               + _COUNTED.format(counter="delivery_unknown"),
    # A retry inside a job that was cancelled or failed meanwhile must not stay pending forever.
    "retry": _SETTLED.format(changes="status = (SELECT CASE j.status WHEN 'cancelled' THEN 'cancelled' "
                                     "WHEN 'failed' THEN 'failed' ELSE 'pending' END FROM email_jobs j "
                                     "WHERE j.id = email_recipients.job_id), "
                                     "failure_kind = (SELECT CASE j.status WHEN 'failed' THEN 'sender' END "
                                     "FROM email_jobs j WHERE j.id = email_recipients.job_id), "
                                     "sender_id = NULL, error_message = :reason, "
                                     "next_attempt_at = now() + make_interval(secs => :delay), "
                                     "attempts = attempts - :refund"),
}
# The connection runs in autocommit: one round trip per call below, the statements of each run as one transaction,
# so a settle and the next begin commit together or not at all.
SETTLE = {kind: text(f"WITH {ctes} SELECT 1") for kind, ctes in _SETTLE_CTES.items()}
BEGIN = text(f"WITH {_BEGAN} {_BEGIN_RESULT}")
BEGIN_AND_SETTLE = {kind: text(f"WITH {ctes}, {_BEGAN} {_BEGIN_RESULT}") for kind, ctes in _SETTLE_CTES.items()}
# A batch's end: the last settle (if any) and the release of what it reserved but did not send, together.
SETTLE_AND_RELEASE = {kind: text(f"WITH {ctes} SELECT 1; {RELEASE}") for kind, ctes in _SETTLE_CTES.items()}
RELEASE = text(RELEASE)
NEXT_DUE = text("""
    SELECT extract(epoch FROM min(coalesce(next_attempt_at, now())) - now())
    FROM email_recipients r JOIN email_jobs j ON j.id = r.job_id
    WHERE r.job_id = :job_id AND r.status = 'pending' AND j.status = 'in_progress'
""")

# Outcomes counted per (job, sender) and not yet in the job's counters are added to them: every scheduler round,
# and for a job that just completed. Jobs that stopped in the last hour are included (a send under way when a job
# is cancelled settles after it).
_FOLD_SQL = text("""
    WITH d AS (
        SELECT c.job_id, c.sender_id, c.sent - c.folded_sent AS s, c.failed - c.folded_failed AS f,
               c.delivery_unknown - c.folded_unknown AS u
        FROM job_sender_counts c
        WHERE c.job_id IN (SELECT id FROM email_jobs WHERE status IN ('queued', 'in_progress', 'paused')
                                                        OR finished_at > now() - interval '1 hour')
          AND (c.sent, c.failed, c.delivery_unknown) IS DISTINCT FROM (c.folded_sent, c.folded_failed, c.folded_unknown)
        FOR UPDATE
    ),
    folded AS (
        UPDATE job_sender_counts c SET folded_sent = c.folded_sent + d.s, folded_failed = c.folded_failed + d.f,
                                       folded_unknown = c.folded_unknown + d.u
        FROM d WHERE c.job_id = d.job_id AND c.sender_id = d.sender_id
    )
    UPDATE email_jobs j SET sent_count = j.sent_count + t.s, failed_count = j.failed_count + t.f,
                            delivery_unknown_count = j.delivery_unknown_count + t.u, updated_at = now()
    FROM (SELECT job_id, sum(s) AS s, sum(f) AS f, sum(u) AS u FROM d GROUP BY job_id) t
    WHERE j.id = t.job_id
""")


def fold_counts(*, session: Session) -> None:
    """Add the outcomes counted per (job, sender) since the last fold to the jobs' own counters."""
    session.execute(_FOLD_SQL)
    _commit(session)


_RECOVER_SQL = text(f"""
    WITH stale AS (
        SELECT id FROM email_recipients
        WHERE status = 'sending' AND (lease_expires_at < now() OR split_part(claimed_by, '/', 1) = ANY(:dead))
        FOR UPDATE SKIP LOCKED
    ),
    released AS (
        UPDATE email_recipients SET {UNSTARTED_BACK}
        FROM stale WHERE email_recipients.id = stale.id AND email_recipients.send_started_at IS NULL
    ),
    r AS (
        UPDATE email_recipients r SET status = 'delivery_unknown', error_message = :reason, lease_expires_at = NULL,
                                      claimed_by = NULL, settled_at = now(), updated_at = now()
        FROM stale WHERE r.id = stale.id AND r.send_started_at IS NOT NULL
        RETURNING r.job_id, r.sender_id
    ),
    counted AS (
        INSERT INTO job_sender_counts (job_id, sender_id, delivery_unknown)
        SELECT job_id, sender_id, count(*) FROM r GROUP BY job_id, sender_id
        ON CONFLICT (job_id, sender_id) DO UPDATE
        SET delivery_unknown = job_sender_counts.delivery_unknown + EXCLUDED.delivery_unknown
    )
    SELECT count(*) FROM r
""")


def recover_stranded(*, session: Session, dead_workers: list[str]) -> int:
    """Claims whose worker died (its process gone, or the lease expired): rows it was sending may have been
    delivered, so they become delivery_unknown, never sent again; rows it had only reserved go back to the pool.
    How many became delivery_unknown."""
    recovered = session.execute(_RECOVER_SQL, {"reason": DELIVERY_UNKNOWN, "dead": dead_workers}).scalar_one()
    _commit(session)
    return recovered


# Rows a settle put back to pending while their job was being cancelled or failed: nothing will claim them.
# Such a settle lands within one send of the job stopping, so only recently stopped jobs are looked at.
_ORPHANS_SQL = text("""
    UPDATE email_recipients r
    SET status = CASE j.status WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END,
        failure_kind = CASE j.status WHEN 'cancelled' THEN NULL ELSE 'sender' END,
        error_message = coalesce(r.error_message, j.error_message, 'the job stopped before this recipient was sent'),
        settled_at = now(), next_attempt_at = NULL, updated_at = now()
    FROM email_jobs j
    WHERE r.job_id = j.id AND r.status = 'pending' AND j.status IN ('cancelled', 'failed')
      AND j.finished_at > now() - interval '1 hour'
""")


def tidy_orphans(*, session: Session) -> None:
    """Settle what a stopped job left pending."""
    session.execute(_ORPHANS_SQL)
    _commit(session)


# The per-(job, sender) counts are marked folded first, under their row locks, so that a settle committing meanwhile
# is either in the recount or still to fold, never both.
_RECONCILE_SQL = text("""
    UPDATE job_sender_counts SET folded_sent = sent, folded_failed = failed, folded_unknown = delivery_unknown
    WHERE job_id IN (SELECT id FROM email_jobs WHERE status = 'in_progress');
    UPDATE email_jobs j SET sent_count = c.sent, failed_count = c.failed, delivery_unknown_count = c.unknown,
                            suppressed_count = c.suppressed
    FROM (SELECT job_id, count(*) FILTER (WHERE status = 'sent') AS sent,
                 count(*) FILTER (WHERE status = 'failed') AS failed,
                 count(*) FILTER (WHERE status = 'delivery_unknown') AS unknown,
                 count(*) FILTER (WHERE status = 'suppressed') AS suppressed
          FROM email_recipients WHERE job_id IN (SELECT id FROM email_jobs WHERE status = 'in_progress')
          GROUP BY job_id) c
    WHERE j.id = c.job_id
      AND (j.sent_count, j.failed_count, j.delivery_unknown_count, j.suppressed_count)
          IS DISTINCT FROM (c.sent, c.failed, c.unknown, c.suppressed)
""")


def reconcile_counters(*, session: Session) -> None:
    """Recount running jobs' counters from their rows (a safety net; settles keep them exact)."""
    session.execute(_RECONCILE_SQL)
    _commit(session)


_SUPPRESS_PENDING_SQL = text(f"""
    WITH r AS (
        UPDATE email_recipients SET status = 'suppressed', next_attempt_at = NULL, settled_at = now(),
                                    sender_id = NULL, claimed_by = NULL, lease_expires_at = NULL,
                                    error_message = 'suppressed: on the suppression list', updated_at = now()
        WHERE job_id IN (SELECT id FROM email_jobs WHERE user_id = :user_id AND status IN ({sql_list(JOB_OPEN)}))
          AND email = ANY(:variants) AND (status = 'pending' OR (status = 'sending' AND send_started_at IS NULL))
        RETURNING job_id)
    UPDATE email_jobs j SET suppressed_count = j.suppressed_count + c.n, updated_at = now()
    FROM (SELECT job_id, count(*) AS n FROM r GROUP BY job_id) c WHERE j.id = c.job_id
""")


def suppress_pending(*, session: Session, user_id: int, emails: list[str]) -> None:
    """Addresses just suppressed: their pending rows in the user's unfinished jobs become `suppressed` (committed
    with the suppression itself). Rows stored with other letter cases are caught by the claim."""
    variants = sorted(set(emails) | {e.lower() for e in emails})
    session.execute(_SUPPRESS_PENDING_SQL, {"user_id": user_id, "variants": variants})
    _commit(session)


# --- jobs ----------------------------------------------------------------------------------------------------

def initial_status(send_at: datetime | None) -> JobStatus:
    """A new job waits for its send_at, or is queued to start now."""
    return JobStatus.SCHEDULED if send_at is not None else JobStatus.QUEUED


def _transition(session: Session, sql: str, params: dict, refused: str | None = None) -> int:
    changed = session.execute(text(sql), params).rowcount
    _commit(session)
    if not changed and refused:
        raise Conflict(refused)
    return changed


def start(*, session: Session, job_id: int) -> bool:
    """A queued job starts sending (a cancellation or pause committed meanwhile is not overwritten)."""
    return bool(_transition(session, """
        UPDATE email_jobs SET status = 'in_progress', started_at = coalesce(started_at, now()), updated_at = now()
        WHERE id = :job_id AND status = 'queued'""", {"job_id": job_id}))


def start_due(*, session: Session) -> list[int]:
    """Scheduled jobs whose send_at has come are queued; their ids."""
    ids = [row[0] for row in session.execute(text("""
        UPDATE email_jobs SET status = 'queued', updated_at = now()
        WHERE status = 'scheduled' AND send_at <= now() RETURNING id"""))]
    _commit(session)
    return ids


def start_now(*, session: Session, job_id: int) -> None:
    """A scheduled job is queued now instead of at its send_at."""
    _transition(session, """UPDATE email_jobs SET status = 'queued', send_at = now(), updated_at = now()
                            WHERE id = :job_id AND status = 'scheduled'""", {"job_id": job_id},
                "Only a scheduled job can be started now")


def reschedule(*, session: Session, job_id: int, send_at: datetime) -> None:
    """A scheduled job gets another send_at."""
    _transition(session, """UPDATE email_jobs SET send_at = :send_at, updated_at = now()
                            WHERE id = :job_id AND status = 'scheduled'""", {"job_id": job_id, "send_at": send_at},
                "Only a scheduled job can be rescheduled")


def pause(*, session: Session, job_id: int) -> None:
    """Stop claiming for the job: no new send starts; the one under way settles normally."""
    _transition(session, f"""UPDATE email_jobs SET status = 'paused', updated_at = now()
                             WHERE id = :job_id AND status IN ({sql_list(JOB_PAUSABLE)})""", {"job_id": job_id},
                "Only a queued or running job can be paused")


def resume(*, session: Session, job_id: int) -> None:
    """A paused job goes on where it stopped."""
    _transition(session, """UPDATE email_jobs SET status = 'in_progress', started_at = coalesce(started_at, now()),
                                   updated_at = now()
                            WHERE id = :job_id AND status = 'paused'""", {"job_id": job_id},
                "Only a paused job can be resumed")


# Recipient rows first, the job row last, in the same order as the sending engine's claims and settles.
_CANCEL_SQL = f"""
    UPDATE email_recipients SET status = 'cancelled', next_attempt_at = NULL, sender_id = NULL, claimed_by = NULL,
                                lease_expires_at = NULL, updated_at = now()
    WHERE job_id IN (SELECT id FROM email_jobs WHERE id = ANY(:ids) AND status IN ({sql_list(JOB_OPEN)}))
      AND (status = 'pending' OR (status = 'sending' AND send_started_at IS NULL));
    UPDATE email_jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),
           error_message = coalesce(:reason, error_message)
    WHERE id = ANY(:ids) AND status IN ({sql_list(JOB_OPEN)})
"""


def cancel(*, session: Session, job_ids: list[int], reason: str | None = None) -> int:
    """Stop jobs that have not finished, at once: nothing more is claimed, unsent recipients become cancelled."""
    return _transition(session, _CANCEL_SQL, {"ids": job_ids, "reason": reason})


_FAIL_SQL = f"""
    WITH r AS (UPDATE email_recipients SET status = 'failed', error_message = :reason, failure_kind = :failure,
                                           sender_id = NULL, claimed_by = NULL, lease_expires_at = NULL,
                                           settled_at = now(), updated_at = now()
               WHERE job_id = :job_id AND (status = 'pending' OR (status = 'sending' AND send_started_at IS NULL))
                 AND EXISTS (SELECT 1 FROM email_jobs WHERE id = :job_id AND status IN ({sql_list(JOB_ENGINE)}))
               RETURNING 1)
    UPDATE email_jobs SET failed_count = failed_count + (SELECT count(*) FROM r), status = 'failed',
           error_message = :reason, finished_at = now(), updated_at = now()
    WHERE id = :job_id AND status IN ({sql_list(JOB_ENGINE)})
"""


def fail(*, session: Session, job_id: int, reason: str, failure: FailureKind = FailureKind.SENDER) -> None:
    """The job cannot run at all (its senders are gone): its pending recipients fail with the reason."""
    _transition(session, _FAIL_SQL, {"job_id": job_id, "reason": reason, "failure": failure.value})


_COMPLETE_SQL = text("""
    UPDATE email_jobs j SET status = 'completed', finished_at = now(), updated_at = now()
    WHERE j.id = ANY(:ids) AND j.status = 'in_progress'
      AND NOT EXISTS (SELECT 1 FROM email_recipients WHERE job_id = j.id AND status IN ('pending', 'sending'))
    RETURNING j.id
""")


def complete_finished(*, session: Session, job_ids: list[int]) -> list[int]:
    """Running jobs of these with nothing pending or being sent become completed; their ids."""
    done = [row[0] for row in session.execute(_COMPLETE_SQL, {"ids": job_ids})] if job_ids else []
    if done:  # every settle of these committed before they completed: fold them in with the completion
        session.execute(_FOLD_SQL)
    _commit(session)
    return done


_RETRY_SQL = text(f"""
    WITH job AS (SELECT id FROM email_jobs WHERE id = :job_id AND status IN ({sql_list(JOB_RETRYABLE)})),
    pick AS (
        SELECT r.id, r.status, r.sender_id FROM email_recipients r
        WHERE r.job_id IN (SELECT id FROM job)
          AND ((r.status = 'failed' AND r.failure_kind = ANY(:kinds))
               OR (CAST(:unknown AS boolean) AND r.status = 'delivery_unknown'))
        FOR UPDATE
    ),
    requeued AS (
        UPDATE email_recipients r
        SET status = 'pending', attempts = 0, error_message = NULL, failure_kind = NULL, settled_at = NULL,
            next_attempt_at = NULL, sent_at = NULL, sender_id = NULL, lease_expires_at = NULL, claimed_by = NULL,
            updated_at = now()
        FROM pick WHERE r.id = pick.id
        RETURNING r.id
    ),
    -- The per-sender counts lose them too (and the folded part with them: the job's counters are corrected here).
    pairs AS (
        UPDATE job_sender_counts c SET failed = c.failed - p.f, folded_failed = c.folded_failed - p.f,
                                       delivery_unknown = c.delivery_unknown - p.u,
                                       folded_unknown = c.folded_unknown - p.u
        FROM (SELECT sender_id, count(*) FILTER (WHERE status = 'failed') AS f,
                     count(*) FILTER (WHERE status = 'delivery_unknown') AS u
              FROM pick WHERE sender_id IS NOT NULL GROUP BY sender_id) p
        WHERE c.job_id = :job_id AND c.sender_id = p.sender_id
    )
    UPDATE email_jobs j
    SET status = 'in_progress', finished_at = NULL, error_message = NULL, updated_at = now(),
        started_at = coalesce(started_at, now()),
        failed_count = j.failed_count - (SELECT count(*) FROM pick WHERE status = 'failed'),
        delivery_unknown_count = j.delivery_unknown_count - (SELECT count(*) FROM pick WHERE status = 'delivery_unknown')
    WHERE j.id IN (SELECT id FROM job) AND EXISTS (SELECT 1 FROM pick)
    RETURNING (SELECT count(*) FROM pick)
""")


def retry(*, session: Session, job_id: int, include_unknown: bool = False) -> int:
    """A finished job's recipients that failed for a temporary or sender-level reason (and, only when asked, those
    whose delivery is unknown) go back to pending, and the job runs again; how many were re-queued."""
    requeued = session.execute(_RETRY_SQL, {"job_id": job_id, "unknown": include_unknown,
                                            "kinds": [k.value for k in RETRYABLE_FAILURES]}).scalar()
    _commit(session)
    return requeued or 0


# --- senders ---------------------------------------------------------------------------------------------------

def rest_sender(*, session: Session, sender_id: int, reset_at: datetime, reason: str) -> None:
    """Gmail's daily limit: the sender rests until the time Gmail named."""
    session.execute(text("""UPDATE senders SET status = 'quota_exhausted', quota_reset_at = :reset_at,
                            last_error = :reason, updated_at = now() WHERE id = :id"""),
                    {"id": sender_id, "reset_at": reset_at, "reason": f"Gmail daily limit: {reason}"[:500]})
    _commit(session)
    log.warning("sender %s reached Gmail's daily limit; resting until %s", sender_id, reset_at.isoformat())


def wake_rested_senders(*, session: Session) -> int:
    """Senders whose Gmail rest is over become active again; how many."""
    woken = session.execute(text("""
        UPDATE senders SET status = 'active', quota_reset_at = NULL, updated_at = now()
        WHERE status = 'quota_exhausted' AND deleted_at IS NULL AND quota_reset_at <= now()""")).rowcount
    _commit(session)
    return woken


def require_reauth(*, session: Session, sender_id: int, reason: str) -> None:
    """Google refused the sender's authorisation: it sends nothing until its user connects it again."""
    changed = session.execute(text("""
        UPDATE senders SET status = 'reauth_required', last_error = :reason, updated_at = now()
        WHERE id = :id AND status <> 'reauth_required'"""),
        {"id": sender_id, "reason": f"Reconnect needed: {reason}"[:500]}).rowcount
    _commit(session)
    if changed:  # logged once per change, not per message
        log.warning("sender %s needs reconnecting: %s", sender_id, reason)


def reactivate_sender(*, session: Session, sender_id: int, reconnected: bool = False) -> None:
    """A sender that was connected again (`reconnected`: its rest and last error are cleared too), or whose token
    refreshed while it was marked for reconnection, can send again."""
    if reconnected:
        sql = """UPDATE senders SET status = 'active', quota_reset_at = NULL, last_error = NULL, updated_at = now()
                 WHERE id = :id"""
    else:
        sql = """UPDATE senders SET status = 'active', last_error = NULL, updated_at = now()
                 WHERE id = :id AND status = 'reauth_required'"""
    session.execute(text(sql), {"id": sender_id})
    _commit(session)
