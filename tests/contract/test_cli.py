"""Long-running commands as real processes: one clear line when a dependency does not answer; `.env` counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mass_mailer.embedded import free_port
from mass_mailer.supervisor import ROOT

CONFIG = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "GOOGLE_CLIENT_ID",
          "GOOGLE_CLIENT_SECRET", "DEMO_MODE", "GOOGLE_AUTH_URI", "GOOGLE_TOKEN_URI", "GOOGLE_USERINFO_URI",
          "GOOGLE_REVOKE_URI", "GMAIL_API_ENDPOINT", "PUBLIC_URL", "PORT", "VAR_DIR")


def _env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CONFIG} | {"PYTHONPATH": str(ROOT)} | extra


def _start(command: str, env: dict[str, str], cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mass_mailer", command], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 40) -> tuple[int, str]:
    """Exit code and stderr; a process still running then is stopped (SIGTERM stops `up`'s children too)."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        return -999, err
    return proc.returncode, err


@pytest.mark.no_services
@pytest.mark.parametrize("unreachable", ["DATABASE_URL", "REDIS_URL"])
def test_commands_exit_with_one_line_when_a_dependency_does_not_answer(tmp_path, unreachable, base_env):
    dead = {"DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x", "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}
    env = _env(DEMO_MODE="1", VAR_DIR=str(tmp_path / "var"), STARTUP_WAIT_SECONDS="0",
               DATABASE_URL=base_env["DATABASE_URL"], REDIS_URL=base_env["REDIS_URL"])
    env[unreachable] = dead[unreachable]
    commands = ["worker", "scheduler", "web"] + (["migrate"] if unreachable == "DATABASE_URL" else [])
    procs = {name: _start(name, env, tmp_path) for name in commands}
    name_of = {"DATABASE_URL": "PostgreSQL", "REDIS_URL": "Redis"}[unreachable]
    for name, proc in procs.items():
        code, err = _finish(proc)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code not in (0, -999), (name, err[-2000:])
        assert len(lines) == 1 and name_of in lines[0] and "127.0.0.1:1" in lines[0], (name, err[-2000:])
        assert "hunter2" not in err


@pytest.mark.no_services
def test_up_takes_google_credentials_from_dotenv_and_is_then_not_in_demo_mode(tmp_path, base_env):
    (tmp_path / ".env").write_text("GOOGLE_CLIENT_ID=real-client.apps.googleusercontent.com\n"
                                   "GOOGLE_CLIENT_SECRET=real-secret\n")
    env = _env(VAR_DIR=str(tmp_path / "var"), PORT=str(free_port()), EMULATOR_PORT=str(free_port()),
               DATABASE_URL=base_env["DATABASE_URL"], REDIS_URL=base_env["REDIS_URL"])
    code, err = _finish(_start("up", env, tmp_path))
    assert code not in (0, -999), err[-2000:]
    assert "SECRET_KEY is not set" in err and "DEMO MODE" not in err
    assert not (tmp_path / "var" / "secret_key").exists()  # no demo secrets were generated


@pytest.fixture
def fresh_database(base_env):
    """The URL of a new, empty database on the test PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(base_env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS contract_fresh WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE contract_fresh"))
    yield admin_url.set(database="contract_fresh").render_as_string(hide_password=False).replace("+psycopg2", "")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS contract_fresh WITH (FORCE)"))
    admin.dispose()


@pytest.mark.no_services
def test_worker_and_scheduler_started_together_on_an_empty_database_create_the_schema(tmp_path, base_env,
                                                                                      fresh_database):
    import time

    from sqlalchemy import create_engine, text

    # A Redis database of its own: queue messages other tests left for their jobs must not reach this empty one.
    own_redis = base_env["REDIS_URL"].rsplit("/", 1)[0] + "/9"
    env = _env(**{k: base_env[k] for k in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "GOOGLE_CLIENT_ID",
                                           "GOOGLE_CLIENT_SECRET")},
               REDIS_URL=own_redis, DATABASE_URL=fresh_database, WORKER_PROCESSES="1", WORKER_THREADS="1")
    procs = [_start(name, env, tmp_path) for name in ("scheduler", "worker")]
    engine = create_engine(fresh_database.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(text("SELECT to_regclass('email_recipients') IS NOT NULL")).scalar():
                    break
            assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
            time.sleep(0.5)
        else:
            raise AssertionError("no process created the schema")
        time.sleep(3)  # a few scheduler ticks on the new schema
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        engine.dispose()
    for proc in procs:
        code, err = _finish(proc, timeout=60)
        assert "Traceback" not in err and code == 0, err[-3000:]


@pytest.mark.no_services
def test_up_in_demo_mode_refuses_a_public_host_before_starting_anything(tmp_path):
    env = _env(HOST="0.0.0.0", VAR_DIR=str(tmp_path / "var"), PORT=str(free_port()),
               EMULATOR_PORT=str(free_port()), EMBEDDED_REDIS_PORT=str(free_port()))
    code, err = _finish(_start("up", env, tmp_path))
    lines = [line for line in err.splitlines() if line.strip() and "DEMO MODE" not in line]
    assert code not in (0, -999) and len(lines) == 1 and "loopback" in lines[0], err[-2000:]
    assert not (tmp_path / "var" / "postgres").exists()
