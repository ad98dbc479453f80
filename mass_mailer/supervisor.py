"""Runs the long-lived commands as child processes, restarts one that dies, and stops them all together."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def reflex_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that keeps Reflex off the network and on the bun installed from npm."""
    env = dict(os.environ if env is None else env)
    # A process manager written in Node (PM2) hands its children an IPC channel through these: the Node and bun
    # processes of Reflex's frontend build would take that channel as their own and fail without a word.
    for inherited in ("NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE"):
        env.pop(inherited, None)
    bun = TOOLS / "node_modules" / ".bin" / "bun"
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    env.setdefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org")
    env.setdefault("REFLEX_HTTP_CLIENT_BIND_ADDRESS", "0.0.0.0")
    env.setdefault("REFLEX_DIR", str(TOOLS / "reflex"))
    # Reflex starts cores x 2 + 1 server processes; two serve a team's pages and API on a small server, at a third
    # of the memory (BENCHMARKS.md, footprint). GRANIAN_WORKERS sets another number.
    env.setdefault("GRANIAN_WORKERS", "2")
    env.setdefault("BUN_INSTALL_CACHE_DIR", str(TOOLS / "bun-cache"))
    if bun.exists():
        env.setdefault("REFLEX_BUN_PATH", str(bun))
        env["PATH"] = f"{bun.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


LOG_MAX_BYTES = 10 * 1024 * 1024  # a child's log file is rotated at this size ...
LOG_BACKUPS = 5  # ... keeping this many older files (name.log.1 ... name.log.5)
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before restarting a child that died, growing while it does
STABLE_AFTER = 60.0  # a child that ran this long before dying starts again at the first backoff step


class _Child:
    """One supervised command: its process, how to start it again, and where its output goes."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path | None) -> None:
        self.name, self.args, self.env = name, args, env
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.failures = 0
        self.restart_at: float | None = None
        self.output = _output_logger(name, log_dir) if log_dir else None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, start_new_session=True,
                                     stdout=subprocess.PIPE if self.output else None,
                                     stderr=subprocess.STDOUT if self.output else None)
        self.started_at, self.restart_at = time.monotonic(), None
        if self.output:
            threading.Thread(target=self._copy_output, args=(self.proc,), name=f"log-{self.name}",
                             daemon=True).start()

    def _copy_output(self, proc: subprocess.Popen) -> None:
        """Each line of the child to the terminal and to its rotated log file, as the child wrote it (text or
        JSON, by LOG_FORMAT)."""
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            self.output.info(line)


def _output_logger(name: str, log_dir: Path) -> logging.Logger:
    log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"mass_mailer.children.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = RotatingFileHandler(log_dir / f"{name}.log", maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


class Supervisor:
    """Starts named child processes and keeps them running: one that dies is started again after a growing pause
    (logged), until a stop signal arrives; then every child is stopped. With `log_dir`, each child's output also
    goes to `<log_dir>/<name>.log`, rotated by size."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.children: dict[str, _Child] = {}
        self.log_dir = log_dir
        self._stopping = False

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log.info("starting %s", name)
        child = _Child(name, args, env, self.log_dir)
        child.start()
        self.children[name] = child

    def run(self) -> int:
        """Keep the children running until SIGINT/SIGTERM arrives; stop everything; return an exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        while not self._stopping:
            now = time.monotonic()
            for child in self.children.values():
                if child.restart_at is None and child.proc.poll() is not None:
                    ran = now - child.started_at
                    child.failures = 1 if ran >= STABLE_AFTER else child.failures + 1
                    pause = RESTART_BACKOFF[min(child.failures, len(RESTART_BACKOFF)) - 1]
                    log.error("%s exited with code %s after %.0f s; restarting it in %.0f s", child.name,
                              child.proc.returncode, ran, pause)
                    child.restart_at = now + pause
                elif child.restart_at is not None and now >= child.restart_at and not self._stopping:
                    log.info("restarting %s", child.name)
                    child.start()
            time.sleep(0.3)
        self.stop()
        return 0

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self._stopping = True

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after timeout."""
        self._stopping = True
        running = [c for c in self.children.values() if c.proc is not None and c.proc.poll() is None]
        for child in running:
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                _signal_group(child.proc, signal.SIGKILL)
                child.proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def python_cmd(*args: str) -> list[str]:
    """A command line running this package's CLI with the current interpreter."""
    return [sys.executable, "-m", "mass_mailer", *args]
