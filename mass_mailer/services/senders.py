"""Gmail accounts a user sends through: connecting, listing, quotas, token storage and health."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from mass_mailer import crypto
from mass_mailer.errors import DomainError, InvalidInput, NotFound
from mass_mailer.gmail import credentials, oauth
from mass_mailer.models import Sender, utcnow
from mass_mailer.services import callback_errors, lifecycle, oauth_flows, quota, ratelimit
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)


MAX_DAILY_QUOTA = 10_000  # the largest daily quota a sender may be given (Gmail's own limit is 2,000 or less)
_QUOTA_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_daily_quota(value: object) -> int:
    """A daily quota from the API or the UI: a whole number 1..MAX_DAILY_QUOTA, as an int or ASCII digits."""
    if isinstance(value, str) and _QUOTA_DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if type(value) is not int or not 1 <= value <= MAX_DAILY_QUOTA:
        raise InvalidInput(f"The daily quota must be a whole number from 1 to {MAX_DAILY_QUOTA:,}")
    return value


UNREADABLE_TOKENS = ("its stored tokens cannot be decrypted with TOKEN_ENCRYPTION_KEYS (was the key that encrypted "
                     "them removed?); connect the account again")


class GoogleUnavailable(DomainError):
    status = 503


class SenderView(BaseModel):
    """A sender as users see it: never any token."""

    id: int
    email: str
    status: str
    daily_quota: int
    sent_last_24h: int
    remaining_today: int
    quota_reset_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    warmup: bool = False  # a new account whose quota ramps up
    effective_quota: int = 0  # the daily quota that limits it now (the warm-up step's, while it warms up)
    warmup_step: int | None = None  # 1-based step of the ramp it is on today, while it warms up
    warmup_steps: int = len(quota.WARMUP_RAMP)
    next_warmup_step_on: date | None = None  # when it moves up a step, if it sends today


class SenderCounts(BaseModel):
    """Sends and failures in the last 24 h and all time, and quota left now."""

    sent_24h: int = 0
    failed_24h: int = 0
    sent_total: int = 0
    failed_total: int = 0
    delivery_unknown_24h: int = 0  # sends whose outcome is unknown (they count against the quota)
    delivery_unknown_total: int = 0
    remaining_today: int = 0


class SenderStatsRow(SenderCounts):
    sender_id: int
    email: str
    status: str


class SenderStats(BaseModel):
    senders: list[SenderStatsRow]
    total: SenderCounts


_STATS_SQL = text("""
    SELECT s.id,
           count(r.id) FILTER (WHERE r.status = 'sent' AND r.sent_at > :cutoff) AS sent_24h,
           count(r.id) FILTER (WHERE r.status = 'failed' AND r.settled_at > :cutoff) AS failed_24h,
           count(r.id) FILTER (WHERE r.status = 'sent') AS sent_total,
           count(r.id) FILTER (WHERE r.status = 'failed') AS failed_total,
           count(r.id) FILTER (WHERE r.status = 'delivery_unknown' AND r.settled_at > :cutoff) AS unknown_24h,
           count(r.id) FILTER (WHERE r.status = 'delivery_unknown') AS unknown_total
    FROM senders s LEFT JOIN email_recipients r ON r.sender_id = s.id
    WHERE s.user_id = :user_id AND s.deleted_at IS NULL
    GROUP BY s.id
""")


def start_connection(*, user_id: int, daily_quota: int | None = None, login_hint: str | None = None,
                     browser: bool = False, warmup: bool | None = None) -> oauth_flows.StartedFlow:
    """Begin connecting a Gmail account (gmail.send, offline) for this user; rate limited per user."""
    settings = get_settings()
    if daily_quota is not None:
        daily_quota = parse_daily_quota(daily_quota)
    ratelimit.check("sender_connect", str(user_id), settings.sender_connect_rate_limit)
    return oauth_flows.start(oauth_flows.CONNECT_SENDER, browser=browser, login_hint=login_hint, user_id=user_id,
                             daily_quota=daily_quota, warmup=warmup)


def store_connected_sender(*, session: Session, user_id: int, email: str, grant: oauth.Grant,
                           daily_quota: int | None, warmup: bool | None = None) -> Sender:
    """Save a granted Gmail account for this user; reconnecting an address replaces its tokens and revives it.
    A new account warms up when `warmup` says so (None: WARMUP_DEFAULT); a reconnected one keeps its setting
    unless `warmup` is given."""
    if credentials.GMAIL_SEND_SCOPE not in grant.scopes:
        raise callback_errors.invalid("no_send_permission", "Gmail send permission was not granted; "
                                                            "connect the account again and allow sending")
    if not grant.refresh_token:
        raise callback_errors.invalid("no_refresh_token", "Google granted no refresh token, so mail cannot be sent "
                                      "later; remove the app's access in your Google account and connect again")
    now = utcnow()
    fresh = {"access_token": crypto.encrypt(grant.access_token), "refresh_token": crypto.encrypt(grant.refresh_token),
             "token_expires_at": grant.expiry, "scopes": " ".join(sorted(grant.scopes)), "deleted_at": None,
             "updated_at": now}
    if daily_quota is not None:
        fresh["daily_quota"] = daily_quota
    if warmup is not None:
        fresh["warmup"] = warmup
    row = {"user_id": user_id, "email": email.strip().lower(), "created_at": now,
           "daily_quota": get_settings().default_daily_quota, "warmup": get_settings().warmup_default} | fresh
    statement = insert(Sender).values(**row).on_conflict_do_update(
        constraint="uq_senders_user_email", set_=fresh).returning(Sender.id)
    sender_id = session.execute(statement).scalar_one()
    lifecycle.reactivate_sender(session=session, sender_id=sender_id, reconnected=True)  # commits
    log.info("sender %s connected for user %s", sender_id, user_id)
    return session.get(Sender, sender_id, populate_existing=True)


def _owned(*, session: Session, user_id: int, sender_id: int, lock: bool = False) -> Sender:
    query = select(Sender).where(Sender.id == sender_id, Sender.user_id == user_id, Sender.deleted_at.is_(None))
    sender = session.exec(query.with_for_update() if lock else query).first()
    if sender is None:
        raise NotFound("Sender not found")
    return sender


def _views(*, session: Session, senders: list[Sender]) -> list[SenderView]:
    used = quota.usage_last_24h(session=session, sender_ids=[s.id for s in senders])
    today = utcnow().date()
    views = []
    for s in senders:
        effective = quota.effective_quota(daily_quota=s.daily_quota, warmup=s.warmup, step=s.warmup_step,
                                          last_sent_date=s.last_sent_date, today=today)
        step = quota.warmup_step(warmup=s.warmup, step=s.warmup_step, last_sent_date=s.last_sent_date, today=today)
        views.append(SenderView(
            sent_last_24h=used[s.id], remaining_today=max(0, effective - used[s.id]), effective_quota=effective,
            warmup_step=None if step is None else step + 1,
            next_warmup_step_on=today + timedelta(days=1) if step is not None else None,
            **s.model_dump(include=set(SenderView.model_fields) - {"warmup_step"})))
    return views


def list_senders(*, session: Session, user_id: int) -> list[SenderView]:
    """This user's connected senders, oldest first."""
    rows = session.exec(select(Sender).where(Sender.user_id == user_id, Sender.deleted_at.is_(None))
                        .order_by(Sender.id)).all()
    return _views(session=session, senders=list(rows))


def get_sender(*, session: Session, user_id: int, sender_id: int) -> SenderView:
    """One of this user's senders; NotFound for anyone else's."""
    return _views(session=session, senders=[_owned(session=session, user_id=user_id, sender_id=sender_id)])[0]


def update_sender(*, session: Session, user_id: int, sender_id: int, daily_quota: int | None = None,
                  warmup: bool | None = None) -> SenderView:
    """Change a sender's daily quota (1..MAX_DAILY_QUOTA) and whether it warms up as a new account."""
    daily_quota = None if daily_quota is None else parse_daily_quota(daily_quota)
    sender = _owned(session=session, user_id=user_id, sender_id=sender_id, lock=True)
    if daily_quota is not None:
        sender.daily_quota = daily_quota
    if warmup is not None and warmup != sender.warmup:
        sender.warmup = warmup
        log.info("sender %s warm-up %s", sender_id, "on" if warmup else "off")
    sender.updated_at = utcnow()
    session.add(sender)
    session.commit()
    return get_sender(session=session, user_id=user_id, sender_id=sender_id)


def delete_sender(*, session: Session, user_id: int, sender_id: int) -> None:
    """Remove a sender: revoke its grant at Google (best effort), wipe its tokens, keep its sending history."""
    sender = _owned(session=session, user_id=user_id, sender_id=sender_id, lock=True)
    try:
        token = crypto.decrypt(sender.refresh_token) or crypto.decrypt(sender.access_token)
    except crypto.TokenDecryptionError:
        token = None  # nothing to revoke with; the sender is removed all the same
        log.warning("sender %s removed without revoking its access at Google: %s", sender_id, UNREADABLE_TOKENS)
    sender.access_token = sender.refresh_token = sender.token_expires_at = None
    sender.deleted_at = sender.updated_at = utcnow()
    session.add(sender)
    session.commit()
    if token and not oauth.revoke_token(token):
        log.warning("sender %s removed, but Google did not confirm revoking its access", sender_id)


def load_tokens(sender: Sender) -> credentials.SenderTokens:
    """The sender's tokens, decrypted, for sending; crypto.TokenDecryptionError when no configured key fits."""
    return credentials.SenderTokens(access_token=crypto.decrypt(sender.access_token),
                                    refresh_token=crypto.decrypt(sender.refresh_token), expiry=sender.token_expires_at)


def save_refreshed_tokens(*, session: Session, sender_id: int, tokens: credentials.SenderTokens,
                          granted_by: str | None = None) -> None:
    """Store a refreshed access token (encrypted); a sender that refreshes is healthy again. With `granted_by` (the
    refresh token the caller started from), nothing is stored if the account was connected again meanwhile: the
    new grant's tokens must not be overwritten by the old one's."""
    sender = session.get(Sender, sender_id, with_for_update=True)
    if sender is None or sender.deleted_at is not None:
        return
    if granted_by is not None and not _holds_grant(sender, granted_by):
        session.rollback()
        return
    sender.access_token, sender.token_expires_at = crypto.encrypt(tokens.access_token), tokens.expiry
    if tokens.refresh_token and tokens.refresh_token != granted_by:
        sender.refresh_token = crypto.encrypt(tokens.refresh_token)
    sender.updated_at = utcnow()
    session.add(sender)
    session.commit()
    lifecycle.reactivate_sender(session=session, sender_id=sender_id)  # a sender that refreshes is healthy again


def holds_grant(*, session: Session, sender_id: int, refresh_token: str) -> bool:
    """True while the sender's stored refresh token is this one (its account was not connected again since)."""
    sender = session.get(Sender, sender_id)
    return sender is not None and _holds_grant(sender, refresh_token)


def _holds_grant(sender: Sender, refresh_token: str) -> bool:
    try:
        return crypto.decrypt(sender.refresh_token) == refresh_token
    except crypto.TokenDecryptionError:
        return False


def mark_reauth_required(*, session: Session, sender_id: int, reason: str) -> None:
    """Google refused the sender's refresh token: it sends nothing until its user connects it again."""
    lifecycle.require_reauth(session=session, sender_id=sender_id, reason=reason)


def check_sender(*, session: Session, sender_id: int, user_id: int) -> SenderView:
    """Refresh the sender's token now: healthy → stored, refused → reauth_required."""
    sender = _owned(session=session, user_id=user_id, sender_id=sender_id)
    session.rollback()  # no lock or transaction held while Google answers
    try:
        tokens = credentials.refresh(credentials.build_credentials(load_tokens(sender)))
    except crypto.TokenDecryptionError:
        mark_reauth_required(session=session, sender_id=sender_id, reason=UNREADABLE_TOKENS)
    except credentials.ReauthRequired as exc:
        mark_reauth_required(session=session, sender_id=sender_id, reason=str(exc))
    except credentials.TokenRefreshUnavailable:
        raise GoogleUnavailable("Google could not be reached; try again in a moment") from None
    else:
        save_refreshed_tokens(session=session, sender_id=sender_id, tokens=tokens)
    return get_sender(session=session, user_id=user_id, sender_id=sender_id)


def rotate_token_keys(*, session: Session) -> int:
    """Re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEYS key; the number of senders rotated."""
    rotated = 0
    for sender in session.exec(select(Sender).where(Sender.refresh_token.is_not(None) |
                                                    Sender.access_token.is_not(None)).with_for_update()):
        sender.access_token = crypto.rotate(sender.access_token)
        sender.refresh_token = crypto.rotate(sender.refresh_token)
        session.add(sender)
        rotated += 1
    session.commit()
    return rotated


def sender_stats(*, session: Session, user_id: int) -> SenderStats:
    """Per sender and in total: sent and failed in the last 24 h and all time, and quota left."""
    counts = {row.id: row for row in session.execute(_STATS_SQL, {"user_id": user_id,
                                                                   "cutoff": utcnow() - quota.WINDOW})}
    views = list_senders(session=session, user_id=user_id)
    rows = [SenderStatsRow(sender_id=v.id, email=v.email, status=v.status, remaining_today=v.remaining_today,
                           sent_24h=counts[v.id].sent_24h, failed_24h=counts[v.id].failed_24h,
                           sent_total=counts[v.id].sent_total, failed_total=counts[v.id].failed_total,
                           delivery_unknown_24h=counts[v.id].unknown_24h,
                           delivery_unknown_total=counts[v.id].unknown_total)
            for v in views if v.id in counts]
    total = SenderCounts(**{field: sum(getattr(r, field) for r in rows) for field in SenderCounts.model_fields})
    return SenderStats(senders=rows, total=total)
