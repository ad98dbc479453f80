"""Signing in with Google, finishing OAuth callbacks, and resolving session tokens to users."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, func, or_, select

from mass_mailer.errors import DomainError
from mass_mailer.gmail import oauth
from mass_mailer.models import Role, User, utcnow
from mass_mailer.services import callback_errors, oauth_flows, senders, tokens
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)

# Serialises account creation so "the first user ever is admin" holds under concurrent sign-ins.
_USER_CREATION_LOCK = 0x6D6D5553


@dataclass
class CallbackResult:
    """How a browser flow ended: which flow, its error code or what it achieved. The API picks the page."""

    kind: str  # oauth_flows.SIGNIN or oauth_flows.CONNECT_SENDER
    next_path: str = "/"  # a sign-in's local path to return to
    session_token: str | None = None  # a sign-in's new session
    connected: str | None = None  # the address of a connected sender
    error_code: str | None = None  # a code of services/callback_errors.py; never free text


def user_from_token(token: str | None, *, session: Session) -> User | None:
    """The active user a session token belongs to, or None (bad, expired, revoked token, inactive user, or a user
    row newer than the token: the id's previous holder's session)."""
    claims = tokens.verify(token) if token else None
    if claims is None:
        return None
    user = session.get(User, claims.user_id)
    return user if may_use(user, claims) else None


def may_use(user: User | None, claims: tokens.SessionClaims) -> bool:
    """Whether the session `claims` of this user still works: the user exists, is active, may still sign in, and
    is the row the session was issued to (not a newer holder of the same id)."""
    # ALLOWED_EMAILS/ALLOWED_DOMAINS narrowed since sign-in: the session ends too.
    return (user is not None and user.is_active and get_settings().may_sign_in(user.email)
            and tokens.issued_to(claims, user.created_at))


def revoke_session(token: str | None) -> None:
    """Sign out: the token stops working at once."""
    if token:
        tokens.revoke(token)


def complete_callback(*, session: Session, state: str | None, code: str | None, error: str | None,
                      flow_nonce: str | None, session_token: str | None) -> CallbackResult:
    """Finish the sign-in or sender connection that `state` names; browser flows report errors by redirect."""
    pending = oauth_flows.take(state, flow_nonce)
    try:
        if error:
            raise callback_errors.invalid("access_denied", f"Google did not grant access ({error[:40]})")
        if not code:
            raise callback_errors.invalid("no_code", "The callback carries no authorization code")
        if pending.kind == oauth_flows.CONNECT_SENDER:
            return _connect_sender(session=session, pending=pending, state=state, code=code,
                                   session_token=session_token)
        return _sign_in(session=session, pending=pending, state=state, code=code)
    except DomainError as exc:
        if not pending.browser:
            raise
        # A code, never the message: the page shows the fixed text for it (services/callback_errors.py).
        return CallbackResult(kind=pending.kind, error_code=callback_errors.code_of(exc))


def _identity(pending: oauth_flows.PendingFlow, state: str, code: str, scopes: list[str]) -> tuple[oauth.Grant, dict]:
    try:
        grant = oauth.exchange_code(code, scopes=scopes, state=state, code_verifier=pending.code_verifier)
        info = oauth.fetch_userinfo(grant.access_token)
    except oauth.GoogleOAuthError as exc:
        raise callback_errors.invalid("google_refused", str(exc)) from None
    if info.get("email_verified") is False:
        raise callback_errors.invalid("email_unverified", "Google has not verified this account's email address")
    return grant, info


def _sign_in(*, session: Session, pending: oauth_flows.PendingFlow, state: str, code: str) -> CallbackResult:
    _, info = _identity(pending, state, code, oauth.SIGNIN_SCOPES)
    if not get_settings().may_sign_in(info["email"]):
        log.warning("sign-in refused for %s: not in ALLOWED_EMAILS or ALLOWED_DOMAINS", info["email"])
        raise callback_errors.forbidden(
            "not_allowed", "This Google account is not allowed to sign in here; ask an administrator to allow it")
    user = upsert_user(session=session, info=info)
    if not user.is_active:
        raise callback_errors.forbidden("deactivated", "This account has been deactivated; ask an administrator")
    log.info("user %s signed in", user.id)
    return CallbackResult(kind=pending.kind, next_path=pending.next_path, session_token=tokens.issue(user.id))


def _connect_sender(*, session: Session, pending: oauth_flows.PendingFlow, state: str, code: str,
                    session_token: str | None) -> CallbackResult:
    user = user_from_token(session_token, session=session)
    if user is None or user.id != pending.user_id:
        raise callback_errors.forbidden(
            "wrong_user", "Sign in as the user who started connecting this account, then try again")
    grant, info = _identity(pending, state, code, oauth.SENDER_SCOPES)
    sender = senders.store_connected_sender(session=session, user_id=user.id, email=info["email"], grant=grant,
                                            daily_quota=pending.daily_quota, warmup=pending.warmup)
    return CallbackResult(kind=pending.kind, connected=sender.email)


def upsert_user(*, session: Session, info: dict) -> User:
    """Create or update the user for a Google profile.

    With ADMIN_EMAILS set, those accounts become admins at sign-in and nobody else does; with it empty, the
    first user ever does (a fresh public deployment is not owned by whoever signs in first when it is set)."""
    email = info["email"].strip().lower()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _USER_CREATION_LOCK})
    user = session.exec(select(User).where(or_(User.google_id == info["sub"], User.email == email))
                        .order_by((User.google_id == info["sub"]).desc())).first()
    if user is not None and not user.is_active:
        session.rollback()  # a deactivated account is refused as it is, without recording a login
        return user
    admins = get_settings().admin_email_set
    if user is None:
        first = not admins and session.exec(select(func.count()).select_from(User)).one() == 0
        user = User(email=email, role=Role.ADMIN if first else Role.USER)
    if email in admins:
        user.role = Role.ADMIN
    user.email, user.google_id = email, info["sub"]
    user.name = (info.get("name") or user.name or email)[:200]
    user.picture = info.get("picture") or user.picture
    user.last_login_at = user.updated_at = utcnow()
    session.add(user)
    session.commit()
    session.refresh(user)
    return user
