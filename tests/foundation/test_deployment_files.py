"""The deployment files hold together: docker compose validates with .env.example, PM2's file names real commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from mass_mailer.commands import COMMANDS
from mass_mailer.supervisor import ROOT

pytestmark = pytest.mark.no_services


def _compose(tmp_path, with_env: bool) -> subprocess.CompletedProcess:
    assert shutil.which("docker-compose"), "docker-compose is needed (apt-get install docker-compose; .ci/run does)"
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    if with_env:
        shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}  # only .env configures it
    return subprocess.run(["docker-compose", "config"], cwd=tmp_path, env=clean, capture_output=True, text=True,
                          timeout=60)


def test_compose_validates_with_the_example_env_and_refuses_without_secrets(tmp_path):
    assert _compose(tmp_path, with_env=True).returncode == 0
    bare = tmp_path / "bare"
    bare.mkdir()
    refused = _compose(bare, with_env=False)
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD" in refused.stderr


def test_compose_services_run_real_commands_with_restarts_volumes_and_health_checks(tmp_path):
    config = yaml.safe_load(_compose(tmp_path, with_env=True).stdout)
    services = config["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "scheduler"} <= set(services)
    for name in ("migrate", "web", "worker", "scheduler"):
        command = services[name]["command"]
        assert command[:3] == ["python", "-m", "mass_mailer"] and command[3] in COMMANDS, (name, command)
        assert services[name]["environment"]["SECRET_KEY"] == "change-me-at-least-32-characters-long-random-string"
    for name in ("postgres", "redis", "web", "worker", "scheduler"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "mass_mailer", "health", name]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]  # --scale worker=N
    assert {"pgdata", "redisdata"} <= set(config["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in str(services["postgres"]["volumes"])
    assert "redisdata:/data" in str(services["redis"]["volumes"])
    assert "127.0.0.1" in str(services["web"]["ports"])  # behind a reverse proxy only


def test_the_example_env_documents_every_setting_of_the_readme():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## The web UI")]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", table, re.M))
    documented |= {name for row in re.findall(r"^\| (`[A-Z_]+`(?:, `[A-Z_]+`)+) \|", table, re.M)
                   for name in re.findall(r"`([A-Z_]+)`", row)}
    example = (ROOT / ".env.example").read_text()
    assert documented and {name for name in documented if not re.search(rf"^#? ?{name}=", example, re.M)} == set()


def test_the_pm2_file_runs_real_commands_and_stops_workers_gently():
    assert shutil.which("node"), "node is needed"
    out = subprocess.run(["node", "-e", "console.log(JSON.stringify(require('./ecosystem.config.js')))"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    apps = {app["name"]: app for app in json.loads(out.stdout)["apps"]}
    assert set(apps) == {"mass-mailer-web", "mass-mailer-worker", "mass-mailer-scheduler"}
    for name, app in apps.items():
        assert app["args"][:2] == ["-m", "mass_mailer"] and app["args"][2] in COMMANDS
        assert app["autorestart"] is True and app["log_date_format"]
    worker = apps["mass-mailer-worker"]
    assert worker["kill_timeout"] >= 30000 and worker["instances"] == 1
