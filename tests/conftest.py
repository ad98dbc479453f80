"""Test setup: real PostgreSQL and Redis (embedded, or DATABASE_URL/REDIS_URL), a Google emulator, clean state."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from mass_mailer import crypto, db, redis_client, settings as settings_module
from mass_mailer.embedded import RedisServer, start_postgres

TABLES = ("email_recipients", "email_jobs", "senders", "users")


def reset_caches() -> None:
    """Forget every cached object built from settings."""
    settings_module.reset_settings()
    db.reset_engine()
    redis_client.reset_redis()
    crypto.reset_keys()


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """DATABASE_URL and REDIS_URL of real servers, started here unless given."""
    started = []
    urls = {"DATABASE_URL": os.environ.get("DATABASE_URL"), "REDIS_URL": os.environ.get("REDIS_URL")}
    # A folder of our own rather than pytest's tmp tree: PostgreSQL runs as another system user when the
    # tests run as root, and concurrent pytest runs prune each other's numbered tmp folders.
    base = Path(tempfile.mkdtemp(prefix="mass-mailer-test-"))
    base.chmod(0o755)
    atexit.register(shutil.rmtree, base, ignore_errors=True)  # runs after PostgreSQL's own atexit stop
    if not urls["DATABASE_URL"]:
        urls["DATABASE_URL"] = start_postgres(base / "postgres")
    if not urls["REDIS_URL"]:
        server = RedisServer(base / "redis").start()
        started.append(server)
        urls["REDIS_URL"] = server.url
    yield urls
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def emulator():
    """The Google emulator on a free loopback port for the whole session."""
    from mass_mailer.google_emulator import EmulatorServer

    with EmulatorServer(port=0) as emu:
        yield emu


@pytest.fixture(scope="session")
def base_env(services, emulator) -> dict[str, str]:
    """The environment every test starts from: real services, the emulator as Google, fresh secrets."""
    env = {
        **services,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "GOOGLE_CLIENT_ID": "test-client-id.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "test-client-secret",
        "GOOGLE_AUTH_URI": emulator.auth_uri,
        "GOOGLE_TOKEN_URI": emulator.token_uri,
        "GOOGLE_USERINFO_URI": emulator.userinfo_uri,
        "GOOGLE_REVOKE_URI": emulator.revoke_uri,
        "GMAIL_API_ENDPOINT": emulator.gmail_endpoint,
        "PUBLIC_URL": "http://127.0.0.1:8000",
        "DEMO_MODE": "0",
        "ADMIN_EMAILS": "",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }
    os.environ.update(env)
    reset_caches()
    from alembic import command
    from alembic.config import Config

    from mass_mailer.supervisor import ROOT

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    return env


@pytest.fixture(autouse=True)
def clean_state(request, monkeypatch) -> Iterator[None]:
    """Each test that touches the database or Redis starts from empty tables, empty Redis, default settings."""
    if "no_services" in request.keywords:
        yield
        return
    env = request.getfixturevalue("base_env")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_caches()
    with db.get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    redis_client.get_redis().flushdb()
    request.getfixturevalue("emulator").reset(config=True)  # faults and limits of one test never leak
    yield
    reset_caches()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "no_services: the test needs no database, Redis or emulator")
    config.addinivalue_line("markers", "browser: drives the UI in headless Chromium")
