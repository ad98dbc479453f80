"""Run a UI event handler in-process as the websocket would: the tab's state tree, the browser's cookie, and the
payload (JSON values from the page) converted by Reflex's own argument handling."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

from reflex.istate.data import RouterData
from reflex.state import BaseState, State
from reflex_base.event.processor.base_state_processor import _prepare_event_payload


def _walk(state: BaseState) -> Iterator[BaseState]:
    yield state
    for sub in state.substates.values():
        yield from _walk(sub)


def tab(state_class: type[BaseState], *, token: str | None, path: str = "/", query: str = "") -> BaseState:
    """A fresh tab's state of `state_class`, as a browser with this session cookie on `path` would have it."""
    root = State(_reflex_internal_init=True)
    url = path + (f"?{query}" if query else "")
    router = RouterData.from_router_data({"headers": {"cookie": f"mm_token={token}" if token else ""},
                                          "pathname": path, "asPath": url})
    for state in _walk(root):
        state.router = router
    return root.get_substate(state_class.get_full_name().split(".")[1:])


def fire(state: BaseState, handler: str, **payload: Any) -> Any:
    """Call `state.handler` with a payload as the frontend sends it; what the handler returned."""
    event_handler = type(state).event_handlers[handler]
    arguments = _prepare_event_payload(event_handler, payload)
    result = event_handler.fn(state, **arguments)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def toast(result: Any) -> tuple[str, str] | None:
    """(kind, message) of a toast an event returned, e.g. ("error", "Only admins can change users")."""
    specs = result if isinstance(result, (list, tuple)) else [result]
    for spec in specs:
        for _, value in getattr(spec, "args", ()):
            found = re.search(r'__toast\'\]\?\.\["(\w+)"\]\(("(?:[^"\\]|\\.)*")', str(value))
            if found:
                return found.group(1), json.loads(found.group(2))
    return None
