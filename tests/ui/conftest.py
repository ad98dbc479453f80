"""The real app (web, worker, scheduler) started once per session, and headless Chromium to drive it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mass_mailer.supervisor import ROOT, python_cmd, reflex_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
STARTUP_SECONDS = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, procs: dict[str, subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{(logs / f'{name}.log').read_text()[-3000:]}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200 and \
                    httpx.get(url + "/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the app did not start within {STARTUP_SECONDS} s:\n{(logs / 'web.log').read_text()[-3000:]}")


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="package")
def app_url(base_env, tmp_path_factory) -> Iterator[str]:
    """`python -m mass_mailer web`, `worker` and `scheduler` in demo mode against the session's services; stopped
    after the last UI test, so that its worker and scheduler take no part in the tests that run after it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("ui-logs")
    env = reflex_env({**os.environ, **base_env, "PORT": str(port), "PUBLIC_URL": url, "DEMO_MODE": "1",
                      "SENDER_RATE_PER_MINUTE": "120", "WORKER_PROCESSES": "1", "WORKER_THREADS": "4",
                      "MAX_ATTEMPTS": "2",  # a temporary error fails a recipient within seconds
                      "VAR_DIR": str(logs / "var")})
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name in ("web", "worker", "scheduler"):
            procs[name] = subprocess.Popen(python_cmd(name), env=env, cwd=ROOT, start_new_session=True,
                                           stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
        _wait_until_serving(url, procs, logs)
        yield url
    finally:
        _stop(procs)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, kept off the network except loopback."""
    # A missing browser fails the run rather than skipping it: .ci/run installs Debian's chromium.
    assert Path(CHROMIUM).exists(), "Chromium is not installed: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shoot():
    """Save a screenshot under docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return save
