"""python -m voxsim: starts, logs one line per call without secrets, stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import requests

from voxsim.tests.hapi import ACME, Hapi


def test_cli_serves_logs_and_stops_on_sigterm(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "voxsim", "--port", "0", "--devices", "12", "--state-file", str(tmp_path / "s.json")],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        client = Hapi(url.group(0), *ACME)
        device_id = next(
            d.get("id")
            for d in client.ok("voxel.devices.list").iter("device")
            if d.findtext("type") != "Virtual Server"
        )
        params = client.params(
            "voxel.voxservers.reimage",
            device_id=device_id,
            hostname="cli.example.com",
            image_id=4,
            admin_password="hunter2",
        )
        requests.post(url.group(0) + "/version/1.0/", data=params, timeout=5)
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        log = first + process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert "method=voxel.voxservers.reimage customer=1001" in log
    assert "hunter2" not in log
    assert params["api_sig"] not in log
    assert "stopped" in log
    assert (tmp_path / "s.json").exists()
