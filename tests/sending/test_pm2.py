"""PM2 for real: ecosystem.config.js against the embedded PostgreSQL and Redis, a worker SIGKILLed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from mass_mailer.embedded import free_port
from mass_mailer.supervisor import ROOT, reflex_env
from tests.sending.conftest import FAST, job_row, recipient_rows, wait_for, wait_job_done

PM2 = ROOT / ".tools" / "node_modules" / ".bin" / "pm2"


def _pm2(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(PM2), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _apps(env: dict[str, str]) -> dict[str, dict]:
    listed = json.loads(_pm2(env, "jlist").stdout or "[]")
    return {app["name"]: app for app in listed}


def test_pm2_runs_the_app_and_restarts_a_killed_worker_whose_job_completes(
        make_user, make_sender, api, base_env, emulator):
    if not PM2.exists():  # the project's own install step, from the npm registry
        subprocess.run(["make", "pm2"], cwd=ROOT, check=True, timeout=600, capture_output=True)
    home = Path(tempfile.mkdtemp(prefix="mm-pm2-"))
    port = free_port()
    env = reflex_env({**os.environ, **base_env, **FAST, "PM2_HOME": str(home), "PORT": str(port),
                      "HOST": "127.0.0.1", "PUBLIC_URL": f"http://127.0.0.1:{port}", "SENDER_RATE_PER_MINUTE": "300",
                      "WORKER_THREADS": "4"})
    try:
        started = _pm2(env, "start", "ecosystem.config.js")
        assert started.returncode == 0, started.stderr[-2000:]
        wait_for(lambda: _ready(port), 300, every=1, message="/api/ready through PM2")
        assert {"mass-mailer-web", "mass-mailer-worker", "mass-mailer-scheduler"} <= set(_apps(env))

        user = make_user()
        for i in range(2):
            make_sender(user, f"pm{i}@example.com")
        job_id = api(user).post("/api/email-jobs", json={"subject": "S", "html_content": "<p>x</p>", "recipients": [
            {"email": f"p{i}@example.com"} for i in range(120)]}).json()["id"]
        wait_for(lambda: job_row(job_id).sent_count >= 20, 90, message="sending through PM2's worker")

        worker = _apps(env)["mass-mailer-worker"]
        before = (worker["pid"], worker["pm2_env"]["restart_time"])
        tree = psutil.Process(worker["pid"])
        for proc in [*tree.children(recursive=True), tree]:  # the whole worker, as a crash would take it
            proc.send_signal(signal.SIGKILL)
        wait_for(lambda: (_apps(env)["mass-mailer-worker"]["pid"] or before[0]) != before[0], 60,
                 message="PM2 restarting the worker")
        assert _apps(env)["mass-mailer-worker"]["pm2_env"]["restart_time"] == before[1] + 1

        job = wait_job_done(job_id, 120)
        rows = recipient_rows(job_id)
        assert job.status == "completed" and {r["status"] for r in rows} <= {"sent", "delivery_unknown"}
        delivered = [m["to"] for m in emulator.messages()]
        assert len(delivered) == len(set(delivered)) and emulator.stats()["duplicates"] == {}
        assert {r["email"] for r in rows if r["status"] == "sent"} <= set(delivered)
        logs = home / "logs"
        assert any(p.name.startswith("mass-mailer-worker-out") for p in logs.iterdir())
    finally:
        _pm2(env, "delete", "all")
        _pm2(env, "kill")
    time.sleep(1)
    assert not _ready(port)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
