"""Runs the long-lived commands as child processes and stops them all together."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def reflex_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that keeps Reflex off the network and on the bun installed from npm."""
    env = dict(os.environ if env is None else env)
    bun = TOOLS / "node_modules" / ".bin" / "bun"
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    env.setdefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org")
    env.setdefault("REFLEX_HTTP_CLIENT_BIND_ADDRESS", "0.0.0.0")
    env.setdefault("REFLEX_DIR", str(TOOLS / "reflex"))
    env.setdefault("BUN_INSTALL_CACHE_DIR", str(TOOLS / "bun-cache"))
    if bun.exists():
        env.setdefault("REFLEX_BUN_PATH", str(bun))
        env["PATH"] = f"{bun.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


class Supervisor:
    """Starts named child processes; if one dies or a stop signal arrives, stops the rest."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self._stopping = False

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log.info("starting %s", name)
        self.children[name] = subprocess.Popen(args, env=env, cwd=ROOT, start_new_session=True)

    def run(self) -> int:
        """Wait until a child exits or SIGINT/SIGTERM arrives; stop everything; return an exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        code = 0
        while not self._stopping:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    log.error("%s exited with code %s; stopping the others", name, proc.returncode)
                    code = proc.returncode or 1
                    self._stopping = True
                    break
            time.sleep(0.3)
        self.stop()
        return code

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self._stopping = True

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after timeout."""
        for proc in self.children.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in self.children.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def python_cmd(*args: str) -> list[str]:
    """A command line running this package's CLI with the current interpreter."""
    return [sys.executable, "-m", "mass_mailer", *args]
