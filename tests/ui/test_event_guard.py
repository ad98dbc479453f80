"""Every UI event handler is a public endpoint: signed-out clients get nothing done, no state outlives a sign-in."""

from __future__ import annotations

import importlib
import json
import inspect
import pkgutil
import statistics
import threading
import time

import httpx
import pytest
from reflex_base.event import get_hydrate_event
from sqlalchemy import text

from mass_mailer.db import get_engine
from mass_mailer.state.admin import AdminState
from mass_mailer.state.auth import AuthState
from mass_mailer.state.compose import DEFAULT_HTML, ComposeState
from mass_mailer.state.guard import app_states, handler_name, public_events

from .reflex_socket import ReflexSocket, session_cookie, upload_csv

pytestmark = pytest.mark.timeout(300)

HEAVY = "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
AUTH = AuthState.get_full_name()
UPLOAD = handler_name(ComposeState, "handle_upload")


def _argument(param: inspect.Parameter):
    """A value of the parameter's kind; text is the heaviest template there is."""
    annotation = str(param.annotation)
    for kind, value in (("int", 1), ("bool", True), ("list", []), ("dict", {}), ("float", 1.0)):
        if annotation.startswith(kind):
            return value
    return HEAVY


def _every_handler() -> list[tuple[str, dict]]:
    import mass_mailer.state

    for module in pkgutil.iter_modules(mass_mailer.state.__path__):
        importlib.import_module(f"mass_mailer.state.{module.name}")
    events = []
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            params = list(inspect.signature(handler.fn).parameters.values())[1:]
            events.append((handler_name(cls, name), {p.name: _argument(p) for p in params}))
    return events


def _counts() -> dict[str, int]:
    with get_engine().connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("users", "senders", "email_jobs", "email_recipients")}


class HealthProbe:
    """GET /api/health in a loop while something else happens: how much later than usual it answered at worst.
    Each request on a new connection: `web` runs two server processes, and a kept-alive connection would only ever
    ask one of them; new connections reach both, so a stall in either one shows."""

    def __init__(self, app_url: str) -> None:
        self.url, self.failures = app_url + "/api/health", 0
        fresh = httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))
        with fresh:
            self.usual = statistics.median(self._timed(fresh) for _ in range(30))
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _timed(self, client: httpx.Client) -> float:
        started = time.monotonic()
        try:
            self.failures += client.get(self.url).status_code != 200
        except httpx.HTTPError:
            self.failures += 1
        return time.monotonic() - started

    def _run(self) -> None:
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set():
                self.slowest = max(self.slowest, self._timed(client))
                time.sleep(0.01)

    @property
    def delay(self) -> float:
        return self.slowest - self.usual

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def test_a_signed_out_client_gets_no_handler_to_work(app_url):
    """Every handler of every state, called by a websocket client with no session: nothing runs, no data."""
    alice = session_cookie(app_url, "alice@example.com")  # a user with data in the database
    before = _counts()
    events = [(name, payload) for name, payload in _every_handler()
              if name not in public_events() and name != UPLOAD]
    assert len(events) > 30, "the walk should cover every handler of the app's states"
    client = ReflexSocket(app_url)
    try:
        with HealthProbe(app_url) as probe:
            for name, payload in events:
                client.emit(name, payload, path="/new")
            delta = client.delta(seconds=4)
    finally:
        client.close()
    assert set(delta) <= {AUTH, "reflex___state____state"}, f"states other than sign-in answered: {set(delta)}"
    assert delta[AUTH].get("signed_in") is False and delta[AUTH].get("email") in ("", None)
    assert _counts() == before
    assert probe.failures == 0 and probe.delay < 0.2, f"/api/health was {probe.delay:.3f} s late"
    assert alice  # alice's session was there to be stolen, and nothing of it came back


def test_heavy_templates_and_large_uploads_do_not_stall_the_app(app_url):
    """Signed out or signed in, a heavy template and a large upload leave /api/health answering within 200 ms."""
    cookie = session_cookie(app_url, "mallory@example.com")
    visitor, user = ReflexSocket(app_url), ReflexSocket(app_url, cookie=cookie)
    set_html = handler_name(ComposeState, "set_html")
    big = b"email,name\n" + b"x@example.com,Xavier\n" * (12 * 1024 * 1024 // 21)
    try:
        with HealthProbe(app_url) as probe:
            for _ in range(5):
                visitor.emit(set_html, {"value": HEAVY}, path="/new")
                user.emit(set_html, {"value": HEAVY}, path="/new")
            refused = upload_csv(app_url, token=visitor.token, cookie=None, handler=UPLOAD, data=big)
            too_large = upload_csv(app_url, token=user.token, cookie=cookie, handler=UPLOAD, data=big)
            user_delta = user.delta(seconds=4)
    finally:
        visitor.close()
        user.close()
    assert refused.status_code == 401
    assert too_large.status_code == 413 and "MB" in too_large.json()["detail"]
    compose = user_delta[ComposeState.get_full_name()]
    assert "too complex" in compose["template_error"]  # the signed-in user is told why, and nothing hangs
    assert probe.failures == 0 and probe.delay < 0.2, f"/api/health was {probe.delay:.3f} s late"


def test_a_tab_keeps_nothing_of_the_previous_user(app_url):
    """Same tab (client token), next person: none of the previous user's file, template or data is shown."""
    alice = session_cookie(app_url, "alice.prev@example.com")
    first = ReflexSocket(app_url, cookie=alice)
    token = first.token
    csv = b"email,first_name\nsecret.customer@example.org,Secret\n"
    try:
        first.emit(handler_name(ComposeState, "set_html"), {"value": "<p>alice's private draft</p>"}, path="/new")
        assert "private draft" in str(first.delta(seconds=2))
        uploaded = upload_csv(app_url, token=token, cookie=alice, handler=UPLOAD, data=csv, name="alice-customers.csv")
        assert uploaded.status_code == 200 and "alice-customers.csv" in uploaded.text  # the upload's own updates
    finally:
        first.close()
    httpx.post(app_url + "/api/auth/logout", cookies={"mm_token": alice}, timeout=10)  # alice signs out

    for cookie in (None, session_cookie(app_url, "bob.next@example.com")):
        tab = ReflexSocket(app_url, token=token, cookie=cookie)
        try:
            tab.emit(get_hydrate_event(ComposeState), path="/new")
            delta = tab.delta(seconds=2)
        finally:
            tab.close()
        shown = str(delta)
        assert "alice" not in shown and "secret.customer" not in shown and "Secret" not in shown
        compose = delta.get(ComposeState.get_full_name(), {})
        assert compose.get("file_name", "") == "" and compose.get("html", DEFAULT_HTML) == DEFAULT_HTML


def test_admin_handlers_run_for_admins_only(app_url):
    admin_cookie = session_cookie(app_url, "first.admin@example.com")  # the first user is the admin
    user_cookie = session_cookie(app_url, "plain.user@example.com")
    with get_engine().connect() as conn:
        admin_id = conn.execute(text("SELECT id FROM users WHERE email = 'first.admin@example.com'")).scalar_one()
    tab = ReflexSocket(app_url, cookie=user_cookie)
    try:
        tab.emit(handler_name(AdminState, "set_active"), {"user_id": admin_id, "active": False}, path="/admin")
        tab.emit(handler_name(AdminState, "set_role"), {"user_id": admin_id, "role": "user"}, path="/admin")
        tab.emit(handler_name(AdminState, "load"), path="/admin")
        delta = tab.delta(seconds=2)
    finally:
        tab.close()
    assert delta.get(AdminState.get_full_name(), {}).get("users") in (None, [])
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT role, is_active FROM users WHERE id = :id"), {"id": admin_id}).one() == (
            "admin", True)
    assert admin_cookie


def test_an_upload_past_the_limit_is_cut_off_even_without_a_length(app_url):
    """A chunked body (no Content-Length) is answered 413 once it passes MAX_UPLOAD_MB, not read to the end."""
    cookie = session_cookie(app_url, "chunky@example.com")
    tab = ReflexSocket(app_url, cookie=cookie)
    sent = 0

    def body():
        nonlocal sent
        boundary_start = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.csv\"\r\n"
                          b"Content-Type: text/csv\r\n\r\nemail\r\n")
        yield boundary_start
        for _ in range(64):  # up to 64 MB, far past the 10 MB limit
            sent += 1024 * 1024
            yield b"a@example.com\n" * (1024 * 1024 // 14)
        yield b"\r\n--b--\r\n"

    try:
        answer = httpx.post(f"{app_url}/_upload", content=body(), timeout=30, cookies={"mm_token": cookie},
                            headers={"Reflex-Client-Token": tab.token, "Reflex-Event-Handler": UPLOAD,
                                     "Content-Type": "multipart/form-data; boundary=b"})
        assert answer.status_code == 413
    except httpx.HTTPError:  # the server may close the connection after its 413, before the client is done
        pass
    finally:
        tab.close()
    assert sent < 40 * 1024 * 1024, "the server kept reading long after the limit"


def test_rejected_rows_are_counted_and_the_first_thousand_listed(app_url):
    cookie = session_cookie(app_url, "lots.rejected@example.com")
    tab = ReflexSocket(app_url, cookie=cookie)
    data = ("email,name\n" + "good@example.com,G\n" + "".join(f"bad-{i},B\n" for i in range(1500))).encode()
    try:
        tab.emit(handler_name(ComposeState, "load"), path="/new")  # the page loads before any upload
        tab.delta(seconds=1)
        answer = upload_csv(app_url, token=tab.token, cookie=cookie, handler=UPLOAD, data=data)
    finally:
        tab.close()
    assert answer.status_code == 200
    compose = {}
    for line in answer.text.splitlines():
        for state, values in (json.loads(line).get("delta") or {}).items():
            if state == ComposeState.get_full_name():
                compose.update({k.removesuffix("_rx_state_"): v for k, v in values.items()})
    assert compose["rejected_count"] == 1500 and len(compose["rejected"]) == 1000 and compose["valid_count"] == 1


def deactivate(email: str) -> None:
    from sqlmodel import Session

    from mass_mailer.services import users

    with get_engine().begin() as conn:
        admin_id = conn.execute(text("SELECT id FROM users WHERE role = 'admin' AND is_active AND email <> :e "
                                     "ORDER BY id LIMIT 1"), {"e": email}).scalar_one_or_none()
        if admin_id is None:  # nobody else is admin yet: a colleague is made one
            admin_id = conn.execute(text("INSERT INTO users (email, name, role, is_active, created_at, updated_at) "
                                         "VALUES ('colleague.admin@example.com', 'Colleague', 'admin', true, now(), "
                                         "now()) RETURNING id")).scalar_one()
        user_id = conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar_one()
    with Session(get_engine()) as session:
        users.update_user(session=session, actor_id=admin_id, user_id=user_id, is_active=False)


def test_a_user_deactivated_between_two_quick_events_is_refused_the_second(app_url):
    """Each event is checked on its own: a handler reuses the check its own event passed, never an earlier event's,
    however soon after it comes."""
    email = "quick.deactivated@example.com"
    tab = ReflexSocket(app_url, cookie=session_cookie(app_url, email))
    set_html = handler_name(ComposeState, "set_html")
    compose = ComposeState.get_full_name()
    try:
        tab.emit(set_html, {"value": "<p>first draft</p>"}, path="/new")
        deadline, shown = time.monotonic() + 10, {}
        while "first draft" not in str(shown) and time.monotonic() < deadline:
            shown = tab.delta(seconds=0.05)
        assert "first draft" in str(shown), "the signed-in user's first event should run"
        deactivate(email)  # an admin's action, as the admin page does it
        tab.emit(set_html, {"value": "<p>second draft</p>"}, path="/new")  # well within a second of the first
        delta = tab.delta(seconds=2)
    finally:
        tab.close()
    assert "second draft" not in str(delta), "a deactivated user's event ran"
    assert delta[AUTH].get("signed_in") is False
    assert delta.get(compose, {}).get("html", DEFAULT_HTML) == DEFAULT_HTML  # the tab's draft is gone too
