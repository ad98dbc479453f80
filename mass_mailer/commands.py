"""What each CLI command does."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from mass_mailer.settings import SettingsError, get_settings, reset_settings
from mass_mailer.supervisor import ROOT, Supervisor, python_cmd, reflex_env

log = logging.getLogger("mass_mailer")


def _embedded_services(env: dict[str, str]) -> list:
    """Start embedded PostgreSQL/Redis for whichever URL is unset; record the URLs in env."""
    from mass_mailer.embedded import RedisServer, start_postgres

    settings = get_settings()
    var = settings.var_dir.resolve()
    started = []
    if not settings.database_url:
        env["DATABASE_URL"] = start_postgres(var / "postgres")
        log.info("embedded PostgreSQL running, data in %s", var / "postgres")
    if not settings.redis_url:
        port = int(os.environ.get("EMBEDDED_REDIS_PORT", "6389"))
        redis_server = RedisServer(var / "redis", port=port).start()
        started.append(redis_server)
        env["REDIS_URL"] = redis_server.url
        log.info("embedded Redis running on %s, data in %s", redis_server.url, var / "redis")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL") if k in env})
    reset_settings()
    return started


def _wait_for_stop_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def services() -> int:
    """Start only the embedded PostgreSQL and Redis and stay in the foreground."""
    env: dict[str, str] = {}
    started = _embedded_services(env)
    settings = get_settings()
    print(f"DATABASE_URL={settings.database_url}", flush=True)
    print(f"REDIS_URL={settings.redis_url}", flush=True)
    try:
        _wait_for_stop_signal()
    finally:
        for server in started:
            server.stop()
    return 0


def migrate() -> int:
    """Apply the database migrations (alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    if not get_settings().database_url:
        raise SettingsError("DATABASE_URL is not set (or run `python -m mass_mailer up`)")
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    log.info("database schema is up to date")
    return 0


def web() -> int:
    """Serve the UI and the REST API on one port (HOST, PORT)."""
    settings = get_settings()
    settings.require_serving()
    args = ["reflex", "run", "--env", "prod", "--frontend-port", str(settings.port),
            "--backend-port", str(settings.port), "--backend-host", settings.host, "--loglevel", "warning"]
    env = reflex_env()
    env.setdefault("PUBLIC_URL", settings.app_url)
    reflex_bin = Path(sys.executable).parent / "reflex"
    args[0] = str(reflex_bin) if reflex_bin.exists() else "reflex"
    proc = subprocess.Popen(args, env=env, cwd=ROOT)
    return _forward_signals_and_wait(proc)


def _forward_signals_and_wait(proc) -> int:
    def forward(signum, frame):  # noqa: ARG001 - signal handler signature
        proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return proc.wait()


def emulator() -> int:
    """Run the Google emulator alone (EMULATOR_PORT, default 8025)."""
    from mass_mailer.google_emulator import main as emulator_main

    return emulator_main() or 0


def up() -> int:
    """Embedded services, migrations, then web (and worker and scheduler) as child processes."""
    env = dict(os.environ)
    started = _embedded_services(env)
    demo = not os.environ.get("GOOGLE_CLIENT_ID")
    if demo:
        env["DEMO_MODE"] = "1"
        os.environ["DEMO_MODE"] = "1"
        reset_settings()
        log.warning("no GOOGLE_CLIENT_ID: running in DEMO MODE against the built-in Google emulator")
    settings = get_settings()  # in demo mode this creates the secrets under var/ once, before any child
    settings.require_serving()
    migrate()
    supervisor = Supervisor()
    try:
        if demo:
            supervisor.start("emulator", python_cmd("emulator"), env | {"EMULATOR_PORT": str(settings.emulator_port)})
        for name in ("worker", "scheduler"):
            if name in COMMANDS:
                supervisor.start(name, python_cmd(name), env)
        supervisor.start("web", python_cmd("web"), env)
        log.info("mass_mailer is starting at %s", settings.app_url)
        return supervisor.run()
    finally:
        supervisor.stop()
        for server in started:
            server.stop()


def rotate_keys() -> int:
    """Re-encrypt every stored OAuth token with the first TOKEN_ENCRYPTION_KEYS key."""
    from mass_mailer.crypto import TokenDecryptionError
    from mass_mailer.db import session_scope
    from mass_mailer.services.senders import rotate_token_keys

    get_settings().require_database()
    try:
        with session_scope() as session:
            rotated = rotate_token_keys(session=session)
    except TokenDecryptionError as exc:
        raise SettingsError(f"{exc}; nothing was changed") from None
    print(f"re-encrypted the tokens of {rotated} sender(s) with the first key", flush=True)
    return 0


def worker() -> int:
    """Run the Dramatiq worker that sends email (WORKER_PROCESSES, WORKER_THREADS)."""
    settings = get_settings()
    settings.require_serving()
    args = [sys.executable, "-m", "dramatiq", "mass_mailer.tasks.broker", "mass_mailer.tasks.actors",
            "-p", str(settings.worker_processes), "-t", str(settings.worker_threads),
            "--worker-shutdown-timeout", "60000"]
    # Batches are long-running: a process must not hold (prefetch) more of them than it has threads.
    env = os.environ | {"dramatiq_queue_prefetch": str(settings.worker_threads)}
    return _forward_signals_and_wait(subprocess.Popen(args, cwd=ROOT, env=env))


def scheduler() -> int:
    """Run the periodic duties: stranded work, quota windows, starting and finishing jobs."""
    get_settings().require_serving()
    from mass_mailer.services import scheduler as duties
    from mass_mailer.tasks.actors import enqueue_batch

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("scheduler running")
    duties.run(enqueue=enqueue_batch, stop=stop)
    return 0


COMMANDS = {
    "up": up,
    "services": services,
    "migrate": migrate,
    "web": web,
    "emulator": emulator,
    "worker": worker,
    "scheduler": scheduler,
    "rotate-keys": rotate_keys,
}
