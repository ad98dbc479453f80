"""`python -m mass_mailer up` with nothing configured: demo mode on embedded services, stopped cleanly."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mass_mailer.embedded import free_port
from mass_mailer.supervisor import ROOT

pytestmark = pytest.mark.no_services

UNSET = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "GOOGLE_CLIENT_ID",
         "GOOGLE_CLIENT_SECRET", "DEMO_MODE", "GOOGLE_AUTH_URI", "GOOGLE_TOKEN_URI", "GOOGLE_USERINFO_URI",
         "GOOGLE_REVOKE_URI", "GMAIL_API_ENDPOINT", "PUBLIC_URL", "PORT")


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 240) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "up exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} never answered 200")


def _child(proc: subprocess.Popen, name: str) -> psutil.Process | None:
    """The direct child of `up` running `python -m mass_mailer <name>`."""
    for child in psutil.Process(proc.pid).children():
        try:
            if child.cmdline()[-3:] == ["-m", "mass_mailer", name]:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_up_serves_ui_and_api_in_demo_mode_restarts_a_dead_child_and_stops_everything():
    var = Path(tempfile.mkdtemp(prefix="mass-mailer-up-"))
    var.chmod(0o755)
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET} | {
        "VAR_DIR": str(var / "var"), "PORT": str(port), "EMULATOR_PORT": str(emulator_port),
        "EMBEDDED_REDIS_PORT": str(free_port()), "WORKER_PROCESSES": "1", "WORKER_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "mass_mailer", "up"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/api/ready", proc)
        assert ready.json()["database"] == "ok" and ready.json()["redis"] == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(f"http://127.0.0.1:{emulator_port}/_emulator/health", timeout=5).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # emulator, worker, scheduler, web and their own children
        # A child that dies is started again, and each child's output is also in var/log/<name>.log.
        worker = _child(proc, "worker")
        os.killpg(worker.pid, signal.SIGKILL)
        _wait_until(lambda: (_child(proc, "worker") or worker).pid != worker.pid)
        _wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/ready", timeout=5).json()["workers"] >= 1)
        logs = var / "var" / "log"
        assert {"web.log", "worker.log", "scheduler.log", "emulator.log"} <= {p.name for p in logs.iterdir()}
        assert "database schema is up to date" in (logs / "worker.log").read_text()
        children += psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    stderr = proc.stderr.read()
    assert code == 0, stderr[-2000:]
    assert "worker exited with code -9" in stderr and "restarting worker" in stderr
    time.sleep(1)
    leftovers = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == []
    assert (var / "var" / "secret_key").exists() and (var / "var" / "postgres" / "PG_VERSION").exists()
    shutil.rmtree(var, ignore_errors=True)
