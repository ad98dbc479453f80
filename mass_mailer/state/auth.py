"""The signed-in user, read from the HttpOnly `mm_token` cookie sent with the websocket handshake."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from http.cookies import CookieError, SimpleCookie

import anyio
import reflex as rx

from mass_mailer.models import Role, User
from mass_mailer.services import callback_errors, user_cache
from mass_mailer.settings import get_settings

TOKEN_COOKIE = "mm_token"
EVENT_CHECK_SECONDS = 1.0  # a handler reuses the check the session guard made for its event, never an older one


@dataclasses.dataclass(frozen=True)
class _Check:
    """One validation of a cookie's token: in which task, for which token, when, and whom it found."""

    task: object
    token: str | None
    at: float
    user: User | None


# The last validation made in this task. The session guard (state/guard.py) validates the user before every event's
# handler runs, in the same task; the handler's own `signed_in_user` then reuses that check instead of asking the
# database a second time for the same event.
_last_check: contextvars.ContextVar[_Check | None] = contextvars.ContextVar("mm_last_check", default=None)


def token_from_cookie_header(header: str) -> str | None:
    """The session JWT in a Cookie header, if any."""
    try:
        cookie = SimpleCookie(header or "")
    except CookieError:
        return None
    morsel = cookie.get(TOKEN_COOKIE)
    return morsel.value if morsel else None


class AuthState(rx.State):
    """Who is signed in; validated against the database on every page load and every action."""

    checked: bool = False
    signed_in: bool = False
    user_id: int = 0
    email: str = ""
    name: str = ""
    picture: str = ""
    role: str = ""
    demo_mode: bool = False
    _owner_id: int = 0  # the user this tab's state was loaded for (see state/guard.py)

    @rx.var
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @rx.var
    def display_name(self) -> str:
        return self.name or self.email

    @rx.var
    def initials(self) -> str:
        return (self.name or self.email or "?")[:1].upper()

    next_path: str = "/"
    sign_in_error: str = ""  # the fixed message for a `?error=` code the sign-in flow came back with

    async def _load_user(self) -> User | None:
        """Validate the cookie's token now and refresh the user's fields; None when signed out."""
        self.demo_mode = get_settings().demo_mode
        self.next_path = self._query("next") or self.router.url.path or "/"  # the server keeps only local paths
        self.sign_in_error = callback_errors.message_for(code) if (code := self._query("error")) else ""
        token = token_from_cookie_header(self.router.headers.cookie)
        user = await anyio.to_thread.run_sync(_user_for, token) if token else None  # off the event loop
        _last_check.set(_Check(task=asyncio.current_task(), token=token, at=time.monotonic(), user=user))
        self.checked = True
        self.signed_in = user is not None
        self.user_id = user.id if user else 0
        self.email = user.email if user else ""
        self.name = (user.name or "") if user else ""
        self.picture = (user.picture or "") if user else ""
        self.role = user.role if user else ""
        return user

    def _query(self, name: str) -> str:
        value = self.router.url.query_parameters.get(name, "")
        return value if isinstance(value, str) else ""

    @rx.event
    async def check(self) -> None:
        """on_load guard of every page: signed-out visitors see the sign-in screen instead of the page."""
        await self._load_user()


def _user_for(token: str) -> User | None:
    return user_cache.user_for_token(token)


async def signed_in_user(state: rx.State) -> User | None:
    """The signed-in user for an event of any page state: validated for this event, by the session guard just
    before the handler ran (the same task, the same token, within EVENT_CHECK_SECONDS), else validated now."""
    auth = await state.get_state(AuthState)
    check = _last_check.get()
    if check is not None and check.task is asyncio.current_task() and \
            check.token == token_from_cookie_header(auth.router.headers.cookie) and \
            time.monotonic() - check.at < EVENT_CHECK_SECONDS and \
            auth.user_id == (check.user.id if check.user is not None else 0):
        return check.user
    return await auth._load_user()


async def signed_in_admin(state: rx.State) -> User | None:
    """The signed-in user when an admin, else None."""
    user = await signed_in_user(state)
    return user if user is not None and user.role == Role.ADMIN else None
