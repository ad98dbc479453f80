"""Every process is observable: heartbeats, the health command, /api/ready and /metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from fastapi.testclient import TestClient

from mass_mailer.api import create_app
from mass_mailer.supervisor import ROOT
from tests.sending.conftest import wait_for


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
