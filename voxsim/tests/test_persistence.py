"""--state-file: atomic saves after each change, and a restart that keeps jobs running."""

from __future__ import annotations

import json
import time

from voxsim.server import start
from voxsim.tests.hapi import ACME, Hapi


def _status(client: Hapi, device_id: int) -> str:
    device = client.ok("voxel.voxservers.status", device_id=device_id).find("devices/device")
    return str(device.findtext("status"))


def test_state_file_keeps_jobs_and_changes_across_restart(tmp_path):
    path = tmp_path / "var" / "voxsim.json"
    first = start(reimage_seconds=0.3, state_file=path)
    try:
        server_id = next(d.id for d in first.sim.world.customer_devices(1001) if d.kind == "voxserver")
        Hapi(first.url, *ACME).ok(
            "voxel.voxservers.reimage", device_id=server_id, hostname="kept.example.com", image_id=4
        )
        first.sim.set_device(200002, {"description": "renamed"})
    finally:
        first.stop()
    assert json.loads(path.read_text())["format"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["voxsim.json"]
    second = start(reimage_seconds=60, devices=5, state_file=path)
    try:
        client = Hapi(second.url, *ACME)
        assert len(second.sim.world.devices) == 40
        assert second.sim.device_json(200002)["description"] == "renamed"
        assert _status(client, server_id) in ("IN_PROGRESS", "SUCCEEDED")
        deadline = time.monotonic() + 3
        while _status(client, server_id) == "IN_PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.05)
        device = client.ok("voxel.devices.list", device_id=server_id).find("devices/device")
        assert device.get("label") == "kept.example.com"
    finally:
        second.stop()
    third = start(state_file=path)
    try:
        assert third.sim.device_json(server_id)["job"]["state"] == "SUCCEEDED"
    finally:
        third.stop()


def test_state_file_is_rewritten_by_reset(tmp_path):
    path = tmp_path / "voxsim.json"
    server = start(state_file=path)
    try:
        server.sim.set_device(200001, {"label": "changed"})
        assert "changed" in path.read_text()
        server.reset()
        assert "changed" not in path.read_text()
    finally:
        server.stop()
