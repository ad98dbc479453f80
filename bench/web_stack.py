"""Shared set-up for the web-side benchmarks (progress, footprint): the `web` command beside the sending stack, a
signed-in owner with senders, headless Chromium, and process accounting (CPU and memory of process trees)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from sending_stack import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-renderer-backgrounding",
                 "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
WEB_APP_NAME = "mm-web"  # PGAPPNAME of the web process: its PostgreSQL backends can be told apart


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Web:
    """`python -m mass_mailer web` against the stack (port 8000 when the frontend is built for it and the port is
    free, so that it is served as built; else a free port, which builds the frontend first)."""

    def __init__(self, stack: Stack, **overrides: str) -> None:
        from mass_mailer.commands import built_frontend_serves
        from mass_mailer.supervisor import reflex_env

        self.port = 8000 if _port_free(8000) and built_frontend_serves(8000) else _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = stack.dir / "web.log"
        env = reflex_env({**os.environ, "PORT": str(self.port), "PUBLIC_URL": self.url, "PGAPPNAME": WEB_APP_NAME,
                          "LOG_LEVEL": "WARNING", **{k: str(v) for k, v in overrides.items()}})
        started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "mass_mailer", "web"], env=env, cwd=ROOT,
                                     start_new_session=True, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        self._wait(600)
        self.startup_seconds = time.monotonic() - started

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web exited: {self.log.read_text()[-3000:]}")
            try:
                for path in ("/api/health", "/"):
                    with urllib.request.urlopen(self.url + path, timeout=2) as answer:
                        assert answer.status == 200
                return
            except (OSError, AssertionError):
                time.sleep(0.5)
        raise RuntimeError(f"web did not start: {self.log.read_text()[-3000:]}")

    def processes(self) -> list[psutil.Process]:
        return tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def make_owner(stack: Stack, senders: int, email: str = "owner@example.com", quota: int = 100_000):
    """A user with `senders` connected senders (tokens from the emulator); (user, [sender ids])."""
    from sqlmodel import Session

    from mass_mailer import crypto
    from mass_mailer.db import get_engine
    from mass_mailer.models import Sender, User

    with Session(get_engine(), expire_on_commit=False) as session:
        user = User(email=email, name="Owner")
        session.add(user)
        session.commit()
        made = []
        for i in range(senders):
            address = f"s{i}.{email}"
            tokens = stack.emulator_call("POST", "/_emulator/tokens", {"email": address})
            sender = Sender(user_id=user.id, email=address, daily_quota=quota,
                            access_token=crypto.encrypt(tokens["access_token"]),
                            refresh_token=crypto.encrypt(tokens["refresh_token"]))
            session.add(sender)
            made.append(sender)
        session.commit()
        return user, [s.id for s in made]


def session_cookie(user_id: int) -> str:
    from mass_mailer.services import tokens

    return tokens.issue(user_id)


def start_job(user, count: int, subject: str = "Progress {{ email }}") -> int:
    from sqlmodel import Session

    from mass_mailer.db import get_engine
    from mass_mailer.services.jobs import create_job_from_list

    with Session(get_engine(), expire_on_commit=False) as session:
        return create_job_from_list(session=session, user=user, subject=subject, html_content="<p>Hi {{ email }}</p>",
                                    recipients=[{"email": f"r{i}.{time.time_ns()}@example.org"}
                                                for i in range(count)]).id


def cancel_job(user_id: int, job_id: int) -> None:
    from mass_mailer.db import session_scope
    from mass_mailer.services.jobs import cancel_job as cancel

    with session_scope() as session:
        cancel(session=session, user_id=user_id, job_id=job_id)


def browser_page(browser, url: str, cookie: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "mm_token", "value": cookie, "url": url, "httpOnly": True}])
    return context.new_page()


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def postgres_processes(stack: Stack) -> list[psutil.Process]:
    """The postmaster of the stack's PostgreSQL and all its children."""
    pid_file = next(stack.dir.rglob("postmaster.pid"))
    return tree(int(pid_file.read_text().split()[0]))


def engine_processes(stack: Stack, name: str) -> list[psutil.Process]:
    """The process tree of the engine command `name` (worker or scheduler) that stack.start_engine started."""
    for proc in stack.engine:
        try:
            if name in psutil.Process(proc.pid).cmdline():
                return tree(proc.pid)
        except psutil.NoSuchProcess:
            pass
    return []


def rss_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


def pss_mb(processes: list[psutil.Process]) -> float:
    """Proportional set size: pages shared between forked processes count once in the sum."""
    total = 0
    for proc in processes:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
            pass
    return total / 1e6


class CpuMeter:
    """CPU seconds used by a changing set of processes (re-listed at every sample, so that a process that comes
    and goes between two samples is counted up to its last sample)."""

    def __init__(self, lister) -> None:
        self.lister = lister
        self.seen: dict[tuple[int, float], float] = {}

    def sample(self) -> None:
        for proc in self.lister():
            try:
                times = proc.cpu_times()
                self.seen[(proc.pid, proc.create_time())] = times.user + times.system
            except psutil.NoSuchProcess:
                pass

    def total(self) -> float:
        return sum(self.seen.values())


def measure_cpu(lister, seconds: float, every: float = 0.25) -> float:
    """CPU seconds the processes given by `lister` used over the next `seconds`."""
    meter = CpuMeter(lister)
    meter.sample()
    before = dict(meter.seen)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(every)
        meter.sample()
    return sum(value - before.get(key, 0.0) for key, value in meter.seen.items())
