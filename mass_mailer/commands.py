"""What each CLI command does."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from mass_mailer.logging_config import CHILD_LOGGING_ENV, SERVE_BUILT_FRONTEND_ENV
from mass_mailer.settings import SettingsError, get_settings, reset_settings
from mass_mailer.supervisor import ROOT, Supervisor, python_cmd, reflex_env

log = logging.getLogger("mass_mailer")
_MIGRATION_LOCK = 0x6D6D4D47  # PostgreSQL advisory lock key serialising schema upgrades


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


def _where(url: str) -> str:
    """host:port of a service URL, without credentials, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _require_reachable(*, redis_needed: bool = True) -> None:
    """Fail with one line when PostgreSQL (or Redis) does not answer within a few seconds."""
    from mass_mailer.db import database_ok
    from mass_mailer.redis_client import redis_ok

    settings = get_settings()
    checks = [("PostgreSQL", settings.database_url, database_ok)]
    if redis_needed:
        checks.append(("Redis", settings.redis_url, redis_ok))
    deadline = time.monotonic() + settings.startup_wait_seconds  # a service started alongside may be coming up
    for name, url, answers in checks:
        while not answers():
            if time.monotonic() > deadline:
                raise SettingsError(f"cannot reach {name} at {_where(url)}")
            time.sleep(0.5)


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
    if not get_settings().database_url:
        raise SettingsError("DATABASE_URL is not set (or run `python -m mass_mailer up`)")
    _require_reachable(redis_needed=False)
    _upgrade_schema()
    return 0


def _upgrade_schema() -> None:
    """alembic upgrade head, one process at a time: commands started together wait for each other."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin is noise
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError
    from sqlalchemy import text

    from mass_mailer.db import get_engine

    config = Config(str(ROOT / "alembic.ini"))
    try:
        with get_engine().begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:  # e.g. a database migrated by a newer version of the application
        raise SettingsError(f"cannot migrate the database: {exc}") from None
    log.info("database schema is up to date")


def web() -> int:
    """Serve the UI and the REST API on one port (HOST, PORT)."""
    received = _note_stop_signals()
    settings = get_settings()
    settings.require_serving()
    _require_reachable()
    _upgrade_schema()
    if received:
        return 0
    args = ["reflex", "run", "--env", "prod", "--frontend-port", str(settings.port),
            "--backend-port", str(settings.port), "--backend-host", settings.host, "--loglevel", "warning"]
    env = reflex_env()
    if built_frontend_serves(settings.port):
        # Built already, for this port, from these sources: serve it as it is (the backend mounts the static files)
        # instead of building it again at every start.
        args = ["reflex", "run", "--env", "prod", "--backend-only", "--backend-port", str(settings.port),
                "--backend-host", settings.host, "--loglevel", "warning"]
        env[SERVE_BUILT_FRONTEND_ENV] = "1"
    env.setdefault("PUBLIC_URL", settings.app_url)
    # The server processes log like every other one (mass_mailer/logging_config.py); Reflex's own lines follow
    # LOG_FORMAT too.
    env[CHILD_LOGGING_ENV] = "1"
    if settings.log_format == "json":
        env.setdefault("REFLEX_LOG_JSON", "true")
    # Only the app's own pages may call it with the user's cookies (Reflex's default lets any origin).
    public = urlsplit(settings.app_url)
    env.setdefault("REFLEX_CORS_ALLOWED_ORIGINS", f"{public.scheme}://{public.netloc}".lower())
    # UI state lives in Redis, expiring with the session, never pickled to disk (it holds recipients' data).
    env.setdefault("REFLEX_STATE_MANAGER_MODE", "redis")
    env.setdefault("REFLEX_REDIS_URL", settings.redis_url or "")
    env.setdefault("REFLEX_REDIS_TOKEN_EXPIRATION", str(settings.jwt_ttl_minutes * 60))
    reflex_bin = Path(sys.executable).parent / "reflex"
    args[0] = str(reflex_bin) if reflex_bin.exists() else "reflex"
    proc = subprocess.Popen(args, env=env, cwd=ROOT)
    return _forward_signals_and_wait(proc, received)


def built_frontend_serves(port: int) -> bool:
    """True when .web holds a frontend built for this port and newer than every source of the UI."""
    web = ROOT / ".web"
    index = web / "build" / "client" / "index.html"
    try:
        event_url = json.loads((web / "env.json").read_text())["EVENT"]
        built_at = index.stat().st_mtime
    except (OSError, ValueError, KeyError):
        return False
    if urlsplit(event_url).port != port:
        return False
    sources = [ROOT / "rxconfig.py", *(ROOT / "mass_mailer").rglob("*.py"), *(ROOT / "assets").rglob("*")]
    return all(path.stat().st_mtime <= built_at for path in sources if path.is_file())


def _note_stop_signals() -> list[int]:
    """From the very start of a command: SIGINT/SIGTERM are noted (not fatal) until the command hands them on,
    so a stop that arrives while it is still starting up ends it cleanly."""
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signum))  # noqa: ARG005 - handler signature
    return received


def _forward_signals_and_wait(proc, received: list[int] | None = None) -> int:
    def forward(signum, frame):  # noqa: ARG001 - signal handler signature
        proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    for signum in received or ():  # a stop that came while the child was being started
        proc.send_signal(signum)
    return proc.wait()


def emulator() -> int:
    """Run the Google emulator alone (EMULATOR_PORT, default 8025)."""
    from mass_mailer.google_emulator import main as emulator_main

    return emulator_main() or 0


def up() -> int:
    """Embedded services, migrations, then web (and worker and scheduler) as child processes."""
    # Children run from the project folder: hand them this folder's .env and var/ explicitly.
    env = {k: v for k, v in dotenv_values(".env").items() if v is not None} | dict(os.environ)
    env["VAR_DIR"] = str(get_settings().var_dir.resolve())
    demo = not get_settings().google_client_id  # the environment or .env
    if demo:
        env["DEMO_MODE"] = os.environ["DEMO_MODE"] = "1"
        reset_settings()
        get_settings()  # refuses a public HOST before anything starts; creates the demo secrets under var/ once
        log.warning("no GOOGLE_CLIENT_ID: running in DEMO MODE against the built-in Google emulator")
    started = _embedded_services(env)
    supervisor = Supervisor(log_dir=get_settings().var_dir.resolve() / "log")
    try:
        settings = get_settings()
        settings.require_serving()
        migrate()
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
    received = _note_stop_signals()
    settings = get_settings()
    settings.require_serving()
    _require_reachable()
    _upgrade_schema()
    if received:
        return 0
    args = [sys.executable, "-m", "mass_mailer.tasks.worker_cli", "mass_mailer.tasks.broker",
            "mass_mailer.tasks.actors", "-p", str(settings.worker_processes), "-t", str(settings.worker_threads),
            "--worker-shutdown-timeout", "60000", "--skip-logging"]
    # Batches are long-running: a process must not hold (prefetch) more of them than it has threads.
    env = os.environ | {"dramatiq_queue_prefetch": str(settings.worker_threads)}
    return _forward_signals_and_wait(subprocess.Popen(args, cwd=ROOT, env=env), received)


def scheduler() -> int:
    """Run the periodic duties: stranded work, quota windows, starting and finishing jobs."""
    stop = threading.Event()  # from the start: a stop while starting up (schema, imports) ends it cleanly
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    get_settings().require_serving()
    _require_reachable()
    _upgrade_schema()
    from mass_mailer.services import scheduler as duties
    from mass_mailer.tasks.actors import enqueue_batch

    if stop.is_set():
        return 0
    log.info("scheduler running")
    duties.run(enqueue=enqueue_batch, stop=stop)
    return 0


def health(role: str = "web") -> int:
    """Exit 0 when this host's `web`, `worker` or `scheduler` is alive, 1 otherwise (compose and PM2 health checks)."""
    if role == "web":
        import urllib.request

        settings = get_settings()
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}/api/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own loopback URL
                alive = answer.status == 200
        except OSError as exc:
            print(f"mass_mailer health web: {url} does not answer ({type(exc).__name__})", file=sys.stderr)
            return 1
        print(f"mass_mailer health web: {'serving' if alive else 'not serving'}")
        return 0 if alive else 1
    from mass_mailer.services.coordination import Liveness

    try:
        here = Liveness.read().on_host()
    except Exception as exc:  # noqa: BLE001 - Redis away: we cannot tell, so not healthy
        print(f"mass_mailer health {role}: Redis does not answer ({type(exc).__name__})", file=sys.stderr)
        return 1
    alive = here.workers if role == "worker" else here.schedulers
    print(f"mass_mailer health {role}: {len(alive)} {role} process(es) alive on this host")
    return 0 if alive else 1


COMMANDS = {
    "up": up,
    "services": services,
    "migrate": migrate,
    "web": web,
    "emulator": emulator,
    "worker": worker,
    "scheduler": scheduler,
    "rotate-keys": rotate_keys,
    "health": health,
}
