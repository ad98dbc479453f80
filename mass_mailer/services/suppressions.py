"""The suppression list: addresses a user's jobs never send to (unsubscribed, added by hand, imported).

An address is suppressed for every job of its user, case-insensitively. New jobs reject it at creation; an address
suppressed while a job runs is settled `suppressed` at once if it is still pending, and the claim checks the list
before every send, so it is never sent once its suppression has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mass_mailer.errors import InvalidInput, NotFound
from mass_mailer.models import SuppressionReason
from mass_mailer.services import lifecycle
from mass_mailer.services.csv_export import iter_csv_rows
from mass_mailer.services.recipients_csv import check_address, parse_recipients_csv

MAX_PAGE = 500
_REASON_WORDS = {SuppressionReason.UNSUBSCRIBED: "unsubscribed", SuppressionReason.MANUAL: "added by hand",
                 SuppressionReason.IMPORTED: "imported"}


class SuppressionView(BaseModel):
    email: str
    reason: str  # unsubscribed, manual or imported
    job_id: int | None  # the job whose message was unsubscribed from
    created_at: datetime


class SuppressionPage(BaseModel):
    total: int
    items: list[SuppressionView]


class ImportResult(BaseModel):
    added: int  # addresses newly suppressed
    already: int  # addresses that were suppressed already
    rejected: list[dict[str, Any]]  # rows without a valid address, {"row", "email", "reason"}
    rejected_count: int


def rejection_reason(reason: str, created_at: datetime) -> str:
    """How a job creation names a suppressed address: "suppressed: unsubscribed on 2026-12-04"."""
    return f"suppressed: {_REASON_WORDS.get(reason, reason)} on {created_at:%Y-%m-%d}"


_INSERT_SQL = text("""
    INSERT INTO suppressions (user_id, email, reason, job_id)
    SELECT u.id, e.email, :reason, (SELECT j.id FROM email_jobs j WHERE j.id = :job_id AND j.user_id = u.id)
    FROM users u, unnest(CAST(:emails AS text[])) AS e(email)
    WHERE u.id = :user_id
    ON CONFLICT ON CONSTRAINT uq_suppressions_user_email DO NOTHING
    RETURNING email
""")


def suppress(*, session: Session, user_id: int, emails: Iterable[str], reason: SuppressionReason,
             job_id: int | None = None) -> int:
    """Add addresses to the user's list (kept as first added) and settle their pending sends in the user's
    unfinished jobs as `suppressed`, in one transaction; how many addresses were new."""
    wanted = sorted({email.strip().lower() for email in emails if email.strip()})
    if not wanted:
        return 0
    added = session.execute(_INSERT_SQL, {"user_id": user_id, "emails": wanted, "reason": reason.value,
                                          "job_id": job_id}).all()
    lifecycle.suppress_pending(session=session, user_id=user_id, emails=wanted)  # commits
    return len(added)


def add(*, session: Session, user_id: int, email: str) -> SuppressionView:
    """Suppress one address by hand; InvalidInput for something that is not an address."""
    reason, normalised = check_address(email.strip())
    if reason:
        raise InvalidInput(f"Not an email address: {reason}")
    suppress(session=session, user_id=user_id, emails=[normalised], reason=SuppressionReason.MANUAL)
    return get(session=session, user_id=user_id, email=normalised)


def get(*, session: Session, user_id: int, email: str) -> SuppressionView:
    row = session.execute(text("SELECT email, reason, job_id, created_at FROM suppressions "
                               "WHERE user_id = :u AND email = :e"), {"u": user_id, "e": email.strip().lower()}).first()
    if row is None:
        raise NotFound("This address is not on your suppression list")
    return SuppressionView(**row._mapping)


def remove(*, session: Session, user_id: int, email: str) -> None:
    """Take an address off the list: later jobs send to it again (jobs that skipped it are not changed)."""
    removed = session.execute(text("DELETE FROM suppressions WHERE user_id = :u AND email = :e"),
                              {"u": user_id, "e": email.strip().lower()}).rowcount
    session.commit()
    if not removed:
        raise NotFound("This address is not on your suppression list")


def list_suppressions(*, session: Session, user_id: int, q: str | None = None, limit: int = 50,
                      offset: int = 0) -> SuppressionPage:
    """A page of the user's list, newest first, filtered by a search in the address."""
    where, params = "user_id = :u", {"u": user_id}
    if q and q.strip():
        where += " AND email LIKE :q"
        params["q"] = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    total = session.execute(text(f"SELECT count(*) FROM suppressions WHERE {where}"), params).scalar_one()
    rows = session.execute(text(f"""SELECT email, reason, job_id, created_at FROM suppressions WHERE {where}
                                    ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"""),
                           params | {"limit": max(1, min(limit, MAX_PAGE)), "offset": max(0, offset)})
    return SuppressionPage(total=total, items=[SuppressionView(**row._mapping) for row in rows])


def import_csv(*, session: Session, user_id: int, data: bytes, email_column: str | None = None) -> ImportResult:
    """Suppress every address of a CSV file (its email column found as for recipients; other columns ignored)."""
    parsed = parse_recipients_csv(data, email_column)
    emails = [row["email"] for row in parsed.valid]
    added = suppress(session=session, user_id=user_id, emails=emails, reason=SuppressionReason.IMPORTED)
    problems = [r for r in parsed.rejected if r["reason"] != "duplicate"]
    return ImportResult(added=added, already=len(emails) - added, rejected=problems[:1000],
                        rejected_count=len(problems))


def export_csv(*, session: Session, user_id: int) -> Iterator[str]:
    """The whole list as CSV lines (email, reason, created_at, job_id); importing it back restores the addresses."""
    rows = session.execute(text("SELECT email, reason, created_at, job_id FROM suppressions WHERE user_id = :u "
                                "ORDER BY email"), {"u": user_id}).yield_per(2000)
    return iter_csv_rows(("email", "reason", "created_at", "job_id"), rows)


def suppressed_among(*, session: Session, user_id: int, emails: Iterable[str]) -> dict[str, str]:
    """{lower-case address: rejection reason} for those of `emails` on the user's list (read only when the user has
    a list at all: most jobs pay one index probe)."""
    if not session.execute(text("SELECT EXISTS (SELECT 1 FROM suppressions WHERE user_id = :u)"),
                           {"u": user_id}).scalar():
        return {}
    rows = session.execute(text("SELECT email, reason, created_at FROM suppressions "
                                "WHERE user_id = :u AND email = ANY(:emails)"),
                           {"u": user_id, "emails": sorted({e.lower() for e in emails})})
    return {email: rejection_reason(reason, created_at) for email, reason, created_at in rows}
