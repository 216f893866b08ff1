"""Production start-up: missing secrets stop it with the variable named; check --deploy is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-like-secret-key-that-is-long-and-random-0123456789abcdefghij",
    "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWluc2VjdXJlLWZlcm5ldC1rZXktMDA=",
    "VOXEL_API_URL": "https://api.voxel.net/version/1.0/",
    "VOXEL_API_KEY": "k",
    "VOXEL_API_SECRET": "s",
    "ALLOWED_HOSTS": "voxweb.example.com",
}


def run_django(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: the test process's own (test_settings filled in throwaway values) must not leak in.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(PRODUCTION_ENV)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["DJANGO_SETTINGS_MODULE"] = "voxweb.settings"
    env["VOXWEB_VAR_DIR"] = str(BASE_DIR / "var" / "test-startup")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "variable", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "VOXEL_API_URL", "VOXEL_API_KEY", "VOXEL_API_SECRET"]
)
def test_startup_without_secret_names_the_variable(variable: str) -> None:
    result = run_django({variable: None}, "check")
    assert result.returncode != 0
    assert f"{variable} is not set" in result.stderr


def test_startup_with_bad_encryption_key_says_how_to_make_one() -> None:
    result = run_django({"FIELD_ENCRYPTION_KEY": "not-a-key"}, "check")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys" in result.stderr


def test_startup_in_debug_uses_throwaway_secrets() -> None:
    result = run_django(
        {"DEBUG": "1", "SECRET_KEY": None, "FIELD_ENCRYPTION_KEY": None, "ALLOWED_HOSTS": None}, "check"
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = run_django({}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
