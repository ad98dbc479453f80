"""`web` builds the frontend when it must, and serves a build that is current as it is."""

from __future__ import annotations

import os

import httpx

from mass_mailer.commands import built_frontend_serves
from mass_mailer.embedded import free_port
from mass_mailer.supervisor import ROOT
from mass_mailer.state.compose import ComposeState
from mass_mailer.state.guard import handler_name
from tests.ui.reflex_socket import ReflexSocket, session_cookie

from .web_process import running_web


def test_web_serves_a_current_build_without_building_it_again(base_env, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **base_env, "PORT": str(port), "PUBLIC_URL": url}
    with running_web(env, url, tmp_path / "first.log"):  # a new port: built for it
        assert httpx.get(url + "/", timeout=10).status_code == 200
        _tab_is_served(url)
    index = ROOT / ".web" / "build" / "client" / "index.html"
    built_at = index.stat().st_mtime
    assert built_frontend_serves(port) and not built_frontend_serves(free_port())
    with running_web(env, url, tmp_path / "second.log"):
        page = httpx.get(url + "/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        deep = httpx.get(url + "/suppressions", timeout=10, follow_redirects=True)  # a page route, not a file
        assert deep.status_code == 200 and "<html" in deep.text.lower()
        assert httpx.get(url + "/favicon.svg", timeout=10).status_code == 200
        assert httpx.get(url + "/api/health", timeout=10).json() == {"status": "ok"}
        _tab_is_served(url)
    assert index.stat().st_mtime == built_at, "the frontend was built again"


def _tab_is_served(url: str) -> None:
    """The UI's websocket serves a signed-in tab: its page state comes back."""
    tab = ReflexSocket(url, cookie=session_cookie(url, "restart@example.com"))
    try:
        tab.emit(handler_name(ComposeState, "set_html"), {"value": "<p>served after a restart</p>"}, path="/new")
        assert "served after a restart" in str(tab.delta(seconds=3))
    finally:
        tab.close()
