"""The command line: clear one-line refusals, migrate, services."""

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from mass_mailer.supervisor import ROOT

STRIP = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "GOOGLE_CLIENT_ID",
         "GOOGLE_CLIENT_SECRET", "DEMO_MODE")


def _run(args, env_extra=None, timeout=60, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in STRIP} | {"PYTHONPATH": str(ROOT)} | (env_extra or {})
    return subprocess.run([sys.executable, "-m", "mass_mailer", *args], env=env, cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", ["web", "worker", "scheduler"])
def test_serving_commands_refuse_to_start_without_configuration(command, tmp_path):
    result = _run([command], {"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1"},
                  cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1, result.stderr
    assert "GOOGLE_CLIENT_ID" in lines[0] or "DEMO_MODE" in lines[0]


def test_demo_mode_refuses_a_public_host(tmp_path):
    result = _run(["web"], {"DEMO_MODE": "1", "HOST": "0.0.0.0", "VAR_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode != 0
    assert "loopback" in result.stderr and "Traceback" not in result.stderr


def test_migrate_without_database_url_says_so(tmp_path):
    result = _run(["migrate"], cwd=tmp_path)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_migrate_is_idempotent(base_env):
    result = _run(["migrate"], {"DATABASE_URL": base_env["DATABASE_URL"]})
    assert result.returncode == 0, result.stderr


def test_services_prints_urls_serves_and_stops_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in STRIP} | {
        "VAR_DIR": str(tmp_path / "var"), "EMBEDDED_REDIS_PORT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "mass_mailer", "services"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
        engine = create_engine(urls["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
        import redis

        assert redis.Redis.from_url(urls["REDIS_URL"]).ping()
        assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    time.sleep(0.2)
    with pytest.raises(Exception):
        redis.Redis.from_url(urls["REDIS_URL"], socket_connect_timeout=1).ping()


def test_demo_mode_refuses_a_public_public_url_in_one_line(tmp_path):
    result = _run(["web"], {"DEMO_MODE": "1", "PUBLIC_URL": "https://mail.example.com", "VAR_DIR": str(tmp_path)},
                  cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "PUBLIC_URL must be a loopback address" in lines[0], result.stderr
