"""docker-compose.yml and the Dockerfile, checked with what runs here (there is no Docker engine)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
REQUIRED = ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "VOXEL_API_URL", "VOXEL_API_KEY", "VOXEL_API_SECRET", "ALLOWED_HOSTS"]


def test_deployment_compose_has_every_service_with_health_checks() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat", "voxsim"}
    for name in ("postgres", "redis", "web", "voxsim"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "beat"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_deployment_env_example_names_every_required_variable() -> None:
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert set(REQUIRED) <= names


def test_deployment_compose_commands_exist_here() -> None:
    services = COMPOSE["services"]
    voxsim_help = subprocess.run(
        [sys.executable, "-m", "voxsim", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    for flag in services["voxsim"]["command"][3:]:
        if flag.startswith("--"):
            assert flag in voxsim_help, flag
    assert services["worker"]["command"][:5] == ["python", "-m", "celery", "-A", "voxweb"]
    assert "voxweb.asgi:application" in " ".join(services["web"]["command"])


def test_deployment_dockerfile_copies_what_exists_and_runs_unprivileged() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_deployment_dockerfile_collectstatic_step_works(tmp_path: Path) -> None:
    step = next(line for line in DOCKERFILE.split("RUN ") if "manage.py collectstatic" in line)
    assignments = dict(re.findall(r"([A-Z_]+)=(\S+)", step.split("python manage.py")[0]))
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env.update(assignments, VOXWEB_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="voxweb.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()
