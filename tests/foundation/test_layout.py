"""The code's shape that the lifecycle depends on: one writer of status columns, a web process without the engine."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from mass_mailer.supervisor import ROOT

pytestmark = pytest.mark.no_services

PACKAGE = ROOT / "mass_mailer"
# The SET clause of an SQL UPDATE, and an ORM assignment to a status attribute (`self.status` is a UI state's).
SQL_SET = re.compile(r"\bUPDATE\s+\w+(?:\s+\w+)?\s+SET\b(.*?)(?:\bWHERE\b|\bFROM\b|\bRETURNING\b|;|$)", re.S | re.I)
SETS_STATUS = re.compile(r"(?<![\w.])status\s*=")
ORM_STATUS = re.compile(r"(?m)^\s*(?!self\.)\w+\.status\s*(?:,[^=\n]*)?=(?!=)")


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("google_emulator/"):  # Google's stand-in has statuses of its own
            continue
        yield relative, path.read_text()


def test_only_the_lifecycle_writes_a_status_column():
    writes = []
    for relative, source in _sources():
        found = [m.group(0)[:80] for m in SQL_SET.finditer(source) if SETS_STATUS.search(m.group(1))]
        found += [m.group(0) for m in ORM_STATUS.finditer(source)]
        if relative == "services/lifecycle.py":
            assert found, "the lifecycle's own writes are recognised"
        else:
            writes += [f"{relative}: {w}" for w in found]
    assert writes == []


def test_the_web_process_does_not_load_the_sending_engine():
    code = ("import sys, mass_mailer.api, mass_mailer.mass_mailer; "
            "print(sorted(m for m in sys.modules if m.startswith(('googleapiclient', 'mass_mailer.services.sending',"
            " 'mass_mailer.tasks', 'mass_mailer.services.scheduler'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "REFLEX_TELEMETRY_ENABLED": "false"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
