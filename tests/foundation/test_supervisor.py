"""The supervisor of `up`: each child's output in a log file rotated by size."""

from __future__ import annotations

import sys
import time

import pytest

from mass_mailer import supervisor as supervisor_module
from mass_mailer.supervisor import Supervisor

pytestmark = pytest.mark.no_services


def test_a_childs_log_file_is_rotated_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor_module, "LOG_MAX_BYTES", 2000)
    monkeypatch.setattr(supervisor_module, "LOG_BACKUPS", 2)
    chatty = Supervisor(log_dir=tmp_path)
    chatty.start("chatty", [sys.executable, "-c", "for i in range(400): print(f'line {i:04d} ' + 'x' * 40)"], {})
    try:
        deadline = time.monotonic() + 30
        while chatty.children["chatty"].proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the copying thread drains the pipe
    finally:
        chatty.stop()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    assert all(p.stat().st_size <= 2100 for p in tmp_path.iterdir())
    assert "line 0399" in (tmp_path / "chatty.log").read_text()
