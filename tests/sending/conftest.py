"""Sending fixtures: users and senders made directly, a real worker and scheduler as subprocesses, waiting helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from mass_mailer import crypto
from mass_mailer.api import create_app
from mass_mailer.db import get_engine
from mass_mailer.models import EmailJob, Sender, User, utcnow
from mass_mailer.services import tokens
from mass_mailer.supervisor import ROOT

FAST = {"SENDER_RATE_PER_MINUTE": "600", "SCHEDULER_INTERVAL_SECONDS": "0.5", "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "8"}


@pytest.fixture
def make_user() -> Callable[..., User]:
    def make(email: str = "owner@example.com", name: str | None = "Owner Name") -> User:
        with Session(get_engine(), expire_on_commit=False) as session:
            user = User(email=email, name=name)
            session.add(user)
            session.commit()
            return user
    return make


@pytest.fixture
def make_sender(emulator) -> Callable[..., Sender]:
    def make(user: User, email: str, daily_quota: int = 2000) -> Sender:
        issued = emulator.issue_tokens(email)
        with Session(get_engine(), expire_on_commit=False) as session:
            sender = Sender(user_id=user.id, email=email, access_token=crypto.encrypt(issued["access_token"]),
                            refresh_token=crypto.encrypt(issued["refresh_token"]), daily_quota=daily_quota,
                            token_expires_at=utcnow() + timedelta(seconds=issued["expires_in"]))
            session.add(sender)
            session.commit()
            return sender
    return make


@pytest.fixture
def api() -> Callable[[User], TestClient]:
    """An API client signed in as the given user (Bearer token)."""
    def client(user: User) -> TestClient:
        return TestClient(create_app(), headers={"Authorization": f"Bearer {tokens.issue(user.id)}"})
    return client


class Engine:
    """The worker and scheduler commands running as real child processes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, *names: str) -> Engine:
        for name in names or ("worker", "scheduler"):
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "mass_mailer", name], env=self.env, cwd=ROOT,
                                                start_new_session=True)
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(30)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


@pytest.fixture
def engine(base_env) -> Iterator[Callable[..., Engine]]:
    """Start the sending engine with settings overrides; stopped after the test."""
    started: list[Engine] = []

    def start(names: tuple[str, ...] = ("worker", "scheduler"), **overrides: str) -> Engine:
        env = {**os.environ, **base_env, **FAST, **{k: str(v) for k, v in overrides.items()}}
        engine = Engine(env).start(*names)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()


def wait_for(condition: Callable[[], object], timeout: float = 60, every: float = 0.2, message: str = "") -> object:
    """Poll until `condition()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting: {message}")


def job_row(job_id: int) -> EmailJob:
    """The job's row as stored: its counters lag the sends until the scheduler folds them (sent_now is exact)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        return session.get(EmailJob, job_id)


def sent_now(job_id: int) -> int:
    """The job's sent count exact to the last settle, as the API shows it."""
    from mass_mailer.services import counters
    with Session(get_engine()) as session:
        return counters.live(session=session, job_ids=[job_id])[job_id].sent


def wait_job_done(job_id: int, timeout: float = 90) -> EmailJob:
    """Wait until the job has finished (completed, failed or cancelled)."""
    wait_for(lambda: job_row(job_id).status in ("completed", "failed", "cancelled"), timeout,
             message=f"job {job_id} to finish")
    return job_row(job_id)


def recipient_rows(job_id: int) -> list[dict]:
    with get_engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT r.email, r.status, r.error_message, r.data, r.attempts, s.email AS sender "
            "FROM email_recipients r LEFT JOIN senders s ON s.id = r.sender_id WHERE job_id = :j ORDER BY r.id"),
            {"j": job_id})]
