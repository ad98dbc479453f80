"""The docker build context holds the source, and none of the secrets, local data, environments or caches."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mass_mailer.supervisor import ROOT

pytestmark = pytest.mark.no_services


def _patterns() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore as Docker reads it: from the context root, `*` within a name, `**` across folders, `!` keeps."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep, line = line.startswith("!"), line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", line):
            if part == "**/":
                regex += "(?:.*/)?"
            elif part == "**":
                regex += ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            elif part.startswith("["):
                regex += part
            else:
                regex += re.escape(part)
        rules.append((keep, re.compile(regex)))
    return rules


def excluded(path: str) -> bool:
    """Whether Docker leaves `path` (relative, with "/") out of the build context."""
    parents = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    result = False
    for keep, pattern in _patterns():
        if any(pattern.fullmatch(p) for p in parents):
            result = not keep
    return result


@pytest.mark.parametrize("path", [
    ".env", ".env.production", "var/postgres/PG_VERSION", "var/secret_key", "uploaded_files/list.csv",
    ".states/abc.pkl", ".web/build/client/index.html", ".venv/bin/python", ".tools/node_modules/.bin/bun",
    ".git/HEAD", "tests/__pycache__/conftest.cpython-311.pyc", "mass_mailer/api/__pycache__/auth.cpython-311.pyc",
    ".pytest_cache/v/cache/nodeids", "tests/auth/.pytest_cache/x", "mass_mailer/settings.pyc", "server.key",
    "node_modules/x/index.js", "docs/screenshots/01-sign-in.png",
])
def test_secrets_local_data_environments_and_caches_stay_out(path):
    assert excluded(path), path


@pytest.mark.parametrize("path", [
    "mass_mailer/settings.py", "mass_mailer/api/guards.py", "requirements.txt", "Makefile", "rxconfig.py",
    "alembic.ini", "alembic/env.py", "assets/styles.css", "reflex.lock/package.json", "Dockerfile",
    "docker-compose.yml", "ecosystem.config.js", "tests/conftest.py",
])
def test_what_the_image_needs_goes_in(path):
    assert not excluded(path), path


def test_nothing_of_this_checkout_that_is_secret_or_local_would_reach_the_image():
    sent = []
    for folder, dirs, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT).as_posix()
        rel = "" if rel == "." else rel + "/"
        dirs[:] = [d for d in dirs if not excluded(rel + d)]
        sent += [rel + f for f in files if not excluded(rel + f)]
    leaks = [p for p in sent if re.search(r"(^|/)(\.env|var|uploaded_files|\.states|\.web|\.venv|\.tools|\.git|"
                                          r"__pycache__|\.pytest_cache)(/|$)|\.pyc$", p)]
    assert leaks == []
    assert "mass_mailer/__main__.py" in sent
