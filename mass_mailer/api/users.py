"""User administration (admins only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from mass_mailer.api.deps import AdminUser, SessionDep
from mass_mailer.services import users
from mass_mailer.services.users import UserSummary, UserView

router = APIRouter(prefix="/api/users", tags=["users"])


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "user"] | None = None
    is_active: bool | None = None


@router.get("")
def list_users(admin: AdminUser, session: SessionDep) -> list[UserSummary]:
    """Every user, with their job and sent counts."""
    return users.list_users(session=session)


@router.patch("/{user_id}")
def update_user(user_id: int, update: UserUpdate, admin: AdminUser, session: SessionDep) -> UserView:
    """Change another user's role or activation; 403 for one's own account, 409 for the last active admin."""
    user = users.update_user(session=session, actor_id=admin.id, user_id=user_id, role=update.role,
                             is_active=update.is_active)
    return UserView.model_validate(user, from_attributes=True)
