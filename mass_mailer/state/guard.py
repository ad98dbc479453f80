"""The gate every UI event passes before its handler runs: a signed-in user first, and no state across users.

Every Reflex event handler is a public endpoint: any websocket client can name it with any arguments. So no
handler of the app's states runs for a visitor who is not signed in, except the few in `PUBLIC_EVENTS` (the
sign-in screen's), and the handlers of `AdminState` run for admins only. Handlers still check the user
themselves (defence in depth); this gate is what makes "signed out does nothing" true for every handler,
including ones added later.

The same gate ties a tab's state to the user it was loaded for: when the validated user changes or is gone
(signed out, expired, deactivated), every state of the app is reset to its defaults before the event is
handled, so the next person on that tab sees nothing of the previous one's recipients, templates or jobs.
"""

from __future__ import annotations

from functools import lru_cache

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event, get_hydrate_event

from mass_mailer.models import Role
from mass_mailer.state.auth import AuthState

_APP_STATES_MODULE = "mass_mailer."


@lru_cache
def app_states() -> tuple[type[BaseState], ...]:
    """Every state class the app defines (Reflex's own internal states excluded)."""
    found, todo = [], list(rx.State.get_substates())
    while todo:
        cls = todo.pop()
        todo.extend(cls.get_substates())
        if cls.__module__.startswith(_APP_STATES_MODULE):
            found.append(cls)
    return tuple(sorted(found, key=lambda c: c.get_full_name()))


def handler_name(state: type[BaseState], handler: str) -> str:
    """The name an event for `state.handler` carries over the websocket."""
    return f"{state.get_full_name()}.{handler}"


@lru_cache
def public_events() -> frozenset[str]:
    """Handlers a signed-out visitor may call: the sign-in screen's, which read and change nothing else."""
    return frozenset({handler_name(AuthState, "check")})


@lru_cache
def _admin_prefixes() -> tuple[str, ...]:
    from mass_mailer.state.admin import AdminState

    return (AdminState.get_full_name() + ".",)


def _state_of(event_name: str) -> str:
    return event_name.rpartition(".")[0]


def is_app_event(event_name: str) -> bool:
    """True for a handler of one of the app's states (not Reflex's own internal events)."""
    names = {cls.get_full_name() for cls in app_states()}
    return _state_of(event_name) in names


class SessionGuard(Middleware):
    """Validates the user for every event; refuses app events from visitors; resets state when the user changes."""

    async def preprocess(self, app, state: BaseState, event: Event) -> StateUpdate | None:  # noqa: ARG002
        auth = await state.get_state(AuthState)
        user = await auth._load_user()
        user_id = user.id if user is not None else 0
        if auth._owner_id != user_id:
            await _reset_app_states(state)
            auth._owner_id = user_id
            await auth._load_user()  # reset emptied the signed-in fields too: fill them again
        if event.name == get_hydrate_event(state) or not is_app_event(event.name):
            return None  # Reflex's own events (hydrate, on-load dispatch, client storage) carry no app work
        if user is None and event.name not in public_events():
            return await _refusal(state)
        if event.name.endswith(".setvar"):  # Reflex's generic setter would let a client write any var
            return await _refusal(state)
        if event.name.startswith(_admin_prefixes()) and (user is None or user.role != Role.ADMIN):
            return await _refusal(state, rx.toast.error("Only admins can do this"))
        return None


async def _reset_app_states(state: BaseState) -> None:
    for cls in app_states():
        substate = await state.get_state(cls)
        substate.reset()


async def _refusal(state: BaseState, *events) -> StateUpdate:
    """Nothing runs; the client only learns who it is (so a signed-out tab shows the sign-in screen)."""
    root = state._get_root_state()
    delta = await root._get_resolved_delta()
    root._clean()
    return StateUpdate(delta=delta, events=Event.from_event_type(list(events)) if events else [])
