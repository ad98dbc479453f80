"""The worker's child processes (Dramatiq starts them) log like every other process: JSON, secrets redacted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from mass_mailer.supervisor import ROOT, python_cmd

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
SIGNATURE = "c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def json_lines(text: str) -> list[dict]:
    """Every non-empty line as a JSON object (fails on a line that is not one)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line[:300]!r}") from None
    return records


def test_a_worker_process_logs_json_and_redacts_a_token(base_env, tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, **base_env, "LOG_FORMAT": "json", "WORKER_PROCESSES": "1", "WORKER_THREADS": "1"}
    proc = subprocess.Popen(python_cmd("worker"), env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        deadline = time.monotonic() + 60
        while "ready for action" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        from mass_mailer.tasks.actors import send_batch

        send_batch.send(JWT, 1, 1)  # a queue message carrying something token-shaped: it fails in the worker
        while "Failed to process message" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    text = log.read_text()
    records = json_lines(text)
    failed = [r for r in records if "Failed to process message" in r["message"]]
    assert failed and failed[0]["level"] in ("ERROR", "WARNING") and "[REDACTED]" in failed[0]["message"]
    assert failed[0]["name"].endswith("WorkerThread")  # the worker threads run in the child processes only
    assert any("WorkerProcess" in r["name"] and "ready for action" in r["message"] for r in records)
    assert any("Dramatiq" in r["message"] and "booting up" in r["message"] for r in records)  # the main process
    assert SIGNATURE not in text
