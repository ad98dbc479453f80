"""The admin page: every user, their role and activation, with the same rules as the API."""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.models import Role
from mass_mailer.services import users as users_service
from mass_mailer.services.system import system_status
from mass_mailer.state.auth import signed_in_admin
from mass_mailer.state.formatting import when
from mass_mailer.state.threads import db_work, in_session


_ROLES = frozenset(r.value for r in Role)


@dataclasses.dataclass
class UserRow:
    id: int = 0
    email: str = ""
    name: str = ""
    role: str = ""
    is_active: bool = True
    created_at: str = ""
    last_login_at: str = ""
    job_count: int = 0
    sent_count: int = 0


class AdminState(rx.State):
    users: list[UserRow] = []
    search: str = ""
    # The system panel (services/system.py); "—" when Redis does not answer.
    system_workers: str = "—"
    system_scheduler: str = "—"
    system_queue: str = "—"
    system_sends: str = "—"
    system_errors: str = "—"
    system_problem: str = ""

    @rx.var
    def shown(self) -> list[UserRow]:
        needle = self.search.strip().lower()
        return [u for u in self.users if needle in u.email.lower() or needle in u.name.lower()]

    @rx.event
    def set_search(self, value: str) -> None:
        self.search = value

    @rx.event
    async def load(self):
        """on_load: admins only (checked here and by the service's callers alike)."""
        if await signed_in_admin(self) is not None:
            await db_work(self._refresh)
            await self._read_system()

    @rx.event
    async def refresh_system(self):
        """The system panel's refresh button: admins only."""
        if await signed_in_admin(self) is not None:
            await self._read_system()

    async def _read_system(self) -> None:
        status = await asyncio.to_thread(system_status)
        shown = (lambda value: "—" if value is None else f"{value:,}")
        self.system_workers = shown(status.worker_processes)
        self.system_scheduler = "—" if status.schedulers is None else ("running" if status.schedulers else "stopped")
        self.system_queue, self.system_sends = shown(status.queue_depth), shown(status.sends_last_hour)
        self.system_errors = shown(status.errors_last_hour)
        problems = [name for name, ok in (("PostgreSQL", status.database), ("Redis", status.redis)) if not ok]
        if status.redis and not status.worker_processes:
            problems.append("no worker process")
        if status.redis and not status.schedulers:
            problems.append("no scheduler")
        self.system_problem = ("Not answering or not running: " + ", ".join(problems)) if problems else ""

    def _refresh(self) -> None:
        with session_scope() as session:
            summaries = users_service.list_users(session=session)
        self.users = [UserRow(id=u.id, email=u.email, name=u.name or "", role=u.role, is_active=u.is_active,
                              created_at=when(u.created_at), last_login_at=when(u.last_login_at),
                              job_count=u.job_count, sent_count=u.sent_count) for u in summaries]

    async def _update(self, user_id: int, **change):
        admin = await signed_in_admin(self)
        if admin is None:
            return rx.toast.error("Only admins can change users")
        # Any websocket client can call these handlers with any JSON values: only exact types pass.
        role, active = change.get("role"), change.get("is_active")
        if (type(user_id) is not int or ("role" in change and (not isinstance(role, str) or role not in _ROLES))
                or ("is_active" in change and type(active) is not bool)):
            return rx.toast.error("That change is not valid")
        if user_id == admin.id:
            return rx.toast.error("You cannot change your own role or activation; ask another admin")
        user = await in_session(users_service.update_user, actor_id=admin.id, user_id=user_id, **change)
        await db_work(self._refresh)
        return rx.toast.success(f"Updated {user.email}")

    @rx.event
    async def set_role(self, user_id: int, role: str):
        return await self._update(user_id, role=role)

    @rx.event
    async def set_active(self, user_id: int, active: bool):
        return await self._update(user_id, is_active=active)
