"""Users and roles: the admin's user list, role and activation changes, and one's own profile."""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, select

from mass_mailer.errors import Conflict, Forbidden, InvalidInput, NotFound
from mass_mailer.models import Role, User, utcnow

log = logging.getLogger(__name__)


class UserView(BaseModel):
    """A user as the admin API shows one."""

    id: int
    email: str
    name: str | None
    role: str
    is_active: bool
    created_at: datetime


class UserSummary(UserView):
    """A row of the admin's user list."""

    last_login_at: datetime | None
    job_count: int
    sent_count: int


_SUMMARY_SQL = text("""
    SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.last_login_at,
           count(j.id) AS job_count, coalesce(sum(j.sent_count), 0) AS sent_count
    FROM users u LEFT JOIN email_jobs j ON j.user_id = u.id
    GROUP BY u.id
    ORDER BY u.id
""")


def list_users(*, session: Session) -> list[UserSummary]:
    """Every user with how many jobs they created and emails they sent."""
    return [UserSummary(**row._mapping) for row in session.execute(_SUMMARY_SQL)]


def get_user(*, session: Session, user_id: int) -> User:
    """One user; NotFound when there is none."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


def update_user(*, session: Session, actor_id: int, user_id: int, role: str | None = None,
                is_active: bool | None = None) -> User:
    """An admin (`actor_id`) changes another user's role or activation; the last active admin stays an active admin.

    Types are checked strictly (a UI event can carry any JSON value): ids are whole numbers, `role` one of the
    roles, `is_active` a real boolean. Nobody changes their own account here."""
    if type(actor_id) is not int or type(user_id) is not int:
        raise InvalidInput("user_id must be a whole number")
    if role is not None and (not isinstance(role, str) or role not in {r.value for r in Role}):
        raise InvalidInput("role must be 'admin' or 'user'")
    if is_active is not None and type(is_active) is not bool:
        raise InvalidInput("is_active must be true or false")
    if actor_id == user_id:
        raise Forbidden("You cannot change your own role or activation; ask another admin")
    # Lock every active admin row so two admins demoting each other at once cannot leave none.
    admins = session.exec(select(User).where(User.role == Role.ADMIN, User.is_active)
                          .order_by(User.id).with_for_update()).all()
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found")
    loses_admin = user.role == Role.ADMIN and user.is_active and (role == Role.USER or is_active is False)
    if loses_admin and len(admins) <= 1:
        session.rollback()
        raise Conflict("The last active admin cannot be demoted or deactivated; make another user admin first")
    deactivated = user.is_active and is_active is False
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    user.updated_at = utcnow()
    session.add(user)
    session.commit()
    if deactivated:
        _stop_jobs_of(session=session, user_id=user_id)
    session.refresh(user)
    return user


def _stop_jobs_of(*, session: Session, user_id: int) -> None:
    # Imported here: the job service depends on much more than user management needs.
    from mass_mailer.services.jobs import cancel_active_jobs_of_user

    cancel_active_jobs_of_user(user_id=user_id, session=session, reason="user deactivated")
    log.info("user %s deactivated; their active jobs were cancelled", user_id)


def update_profile(*, session: Session, user_id: int, name: str) -> User:
    """Change one's own display name (1 to 200 characters)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters")
    user = get_user(session=session, user_id=user_id)
    user.name, user.updated_at = name, utcnow()
    session.add(user)
    session.commit()
    session.refresh(user)
    return user
