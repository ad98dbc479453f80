"""`python -m mass_mailer web` started as a real process for a test module, and stopped after it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from mass_mailer.supervisor import ROOT, python_cmd, reflex_env

STARTUP_SECONDS = 240


@contextlib.contextmanager
def running_web(env: dict[str, str], url: str, log: Path) -> Iterator[subprocess.Popen]:
    """Start `web` with `env` (its output to `log`), wait until `url` answers /api/health, stop it afterwards."""
    proc = subprocess.Popen(python_cmd("web"), env=reflex_env(env), cwd=ROOT, start_new_session=True,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError(log.read_text()[-3000:])
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a slow shutdown is not what these modules check
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
