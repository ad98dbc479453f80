"""Every process is observable: heartbeats, the health command, /api/ready and /metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import text

from mass_mailer import db
from mass_mailer.api import create_app
from mass_mailer.supervisor import ROOT
from tests.sending.conftest import wait_for, wait_job_done


def _health(role: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mass_mailer", "health", role], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_health_ready_and_metrics_follow_the_worker_and_scheduler(engine, base_env):
    env = {**os.environ, **base_env}
    app = TestClient(create_app())
    running = engine()
    wait_for(lambda: _health("worker", env).returncode == 0, 30, message="the worker's heartbeat")
    wait_for(lambda: _health("scheduler", env).returncode == 0, 30, message="the scheduler's heartbeat")
    ready = app.get("/api/ready").json()
    assert ready["status"] == "ok" and ready["workers"] == 1 and ready["scheduler"] is True  # WORKER_PROCESSES=1
    metrics = app.get("/metrics").text
    assert "mass_mailer_worker_processes 1.0" in metrics and "mass_mailer_schedulers 1.0" in metrics

    running.kill("worker")
    wait_for(lambda: _health("worker", env).returncode == 1, 20, message="the dead worker noticed")
    assert "0 worker process(es)" in _health("worker", env).stdout
    wait_for(lambda: app.get("/api/ready").json()["workers"] == 0, 20, message="ready to report no worker")
    running.kill("scheduler")
    wait_for(lambda: _health("scheduler", env).returncode == 1, 20, message="the stopped scheduler noticed")

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    down = _health("web", {**env, "PORT": str(port)})
    assert down.returncode == 1 and "does not answer" in down.stderr


def test_admins_see_the_system_at_a_glance(make_user, make_sender, api, engine, emulator):
    admin, user = make_user("admin@example.com"), make_user("user@example.com")
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": admin.id})
    make_sender(user, "sys@example.com")
    emulator.configure(reject_recipients=["bad@example.com"])
    engine()
    job_id = api(user).post("/api/email-jobs", json={"subject": "S", "html_content": "<p>x</p>", "recipients": [
        {"email": e} for e in ("a@example.com", "b@example.com", "bad@example.com")]}).json()["id"]
    wait_job_done(job_id, 30)
    assert api(user).get("/api/system").status_code == 403
    status = wait_for(lambda: (s := api(admin).get("/api/system").json())["sends_last_hour"] == 2 and s, 20,
                      message="the last hour's sends")
    assert status["database"] and status["redis"] and status["worker_processes"] == 1 and status["schedulers"] == 1
    assert status["errors_last_hour"] == 1 and status["queue_depth"] == 0


def test_a_scheduler_stopped_cleanly_hands_over_at_once(engine, base_env):
    """A redeploy stops the scheduler and starts a new one: the stopped one gives up its lock and its heartbeat as
    it exits, so the new one works from its first round instead of waiting out the old lock."""
    from mass_mailer.redis_client import get_redis
    from mass_mailer.services.coordination import SCHEDULER_LOCK_KEY

    env = {**os.environ, **base_env}
    first = engine(("scheduler",))
    wait_for(lambda: get_redis().get(SCHEDULER_LOCK_KEY), 30, message="the scheduler holds its lock")
    first.kill("scheduler", signal.SIGTERM)
    assert get_redis().get(SCHEDULER_LOCK_KEY) is None
    assert _health("scheduler", env).returncode == 1  # no heartbeat left behind for a stopped scheduler

    second = engine(("scheduler",))
    holder = wait_for(lambda: get_redis().get(SCHEDULER_LOCK_KEY), 30, message="the new scheduler takes the lock")
    assert get_redis().ttl(SCHEDULER_LOCK_KEY) > 0 and holder
    second.kill("scheduler", signal.SIGTERM)
    assert get_redis().get(SCHEDULER_LOCK_KEY) is None
