"""`manage.py demo` (what `make demo` runs): everything starts, the login page answers, Ctrl-C stops every child."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from voxweb.processes import free_port, port_is_open, wait_for_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _command_lines() -> list[str]:
    """Every running process's command line (from /proc)."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return lines


def test_demo_serves_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    web, sim = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DJANGO_SETTINGS_MODULE="voxweb.settings",
        DEBUG="1",
        VOXWEB_VAR_DIR=str(tmp_path),
        PORT=str(web),
        VOXSIM_PORT=str(sim),
        DEMO_PASSWORD="demo-test-pw",
        REDIS_URL="",
    )
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "VOXEL_API_URL", "VOXEL_API_KEY", "VOXEL_API_SECRET"):
        env.pop(name, None)  # the demo runs on DEBUG's throwaway values, as from a fresh clone
    out = tmp_path / "demo.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(web, proc=proc, timeout=90)
        assert requests.get(f"http://127.0.0.1:{web}/accounts/login/", timeout=10).status_code == 200
        text = out.read_text()
        assert "Log in as admin, operator or viewer" in text
        redis_port = int(re.search(r"Redis at redis://127\.0\.0\.1:(\d+)", text).group(1))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(port_is_open(p) for p in (web, sim, redis_port)):
        time.sleep(0.2)
    assert not any(port_is_open(p) for p in (web, sim, redis_port)), "a child process outlived the demo"
    leftovers = [cmd for cmd in _command_lines() if str(tmp_path) in cmd]
    assert leftovers == [], leftovers
    assert "Stopped every process." in out.read_text()
