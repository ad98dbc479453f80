"""`python -m mass_mailer web` as a real process: what only the UI and API served together on one port show."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mass_mailer.embedded import free_port

from .web_process import running_web

EVIL = "http://127.0.0.1:1"  # another page on this very host: the same site for SameSite cookies


@pytest.fixture(scope="module")
def web_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web") / "web.log"


@pytest.fixture(scope="module")
def web_url(base_env, web_log) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_web({**os.environ, **base_env, "PORT": str(port), "PUBLIC_URL": url}, url, web_log):
        yield url


def test_web_starts_without_warnings_about_its_pages(web_url, web_log):
    assert httpx.get(web_url + "/", timeout=10).status_code == 200
    assert "is being redefined" not in web_log.read_text()


def _signed_in(url: str, email: str) -> httpx.Client:
    """A cookie-keeping client (no Origin header) signed in through the emulator."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
    authorization = client.post("/api/auth/google").json()["url"]
    back = httpx.get(httpx.URL(authorization).copy_merge_params({"login_hint": email}), timeout=10)
    query = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    assert client.get("/api/auth/callback", params=query).status_code == 302
    return client


def test_unknown_api_paths_and_methods_answer_json(web_url):
    missing = httpx.get(web_url + "/api/no-such-thing")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = httpx.put(web_url + "/api/senders")
    assert wrong.status_code == 405 and wrong.json() == {"detail": "Method Not Allowed"}
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    slash = httpx.get(web_url + "/api/health/")
    assert slash.status_code == 307 and slash.headers["location"].endswith("/api/health")
    assert httpx.get(web_url + "/").status_code == 200  # the UI still answers everything else


def test_api_docs_load_only_local_assets_through_the_app(web_url):
    page = httpx.get(web_url + "/api/docs")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert page.status_code == 200 and assets
    for asset in assets:
        assert asset.startswith("/") and httpx.get(web_url + asset).status_code == 200, asset


def test_other_origins_get_no_cors_grant_and_no_cookie_authority(web_url):
    own = httpx.get(web_url + "/api/health", headers={"Origin": web_url})
    assert own.headers.get("access-control-allow-origin") == web_url
    foreign = httpx.get(web_url + "/api/health", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in foreign.headers
    preflight = httpx.options(web_url + "/api/email-jobs", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.headers.get("access-control-allow-origin") != EVIL
    alice = _signed_in(web_url, "alice@example.com")
    assert alice.get("/api/senders").status_code == 200
    assert alice.get("/api/senders", headers={"Origin": EVIL}).status_code == 403
    assert alice.post("/api/senders", json={}, headers={"Origin": EVIL, "X-Requested-With": "x"}).status_code == 403
    assert alice.post("/api/senders", json={}).status_code == 200  # an API client keeping cookies
