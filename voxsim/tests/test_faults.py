"""Fault injection and the /_sim/ control endpoints."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from lxml import etree

from voxsim.server import SimServer
from voxsim.tests.hapi import Hapi, parse

REIMAGE = "voxel.voxservers.reimage"


def _server_id(sim: SimServer) -> int:
    return next(d.id for d in sim.sim.world.customer_devices(1001) if d.kind == "voxserver")


def _reimage(acme: Hapi, device_id: int, **kwargs: Any) -> requests.Response:
    return acme.raw(REIMAGE, device_id=device_id, hostname="f.example.com", image_id=4, **kwargs)


def _job(sim: SimServer, device_id: int) -> Any:
    return sim.sim.device_json(device_id)["job"]


def test_fault_error_applies_to_next_count_matching_calls(sim, acme):
    sim.add_fault(kind="error", code=206, msg="Failed acquiring resource", count=2, method=REIMAGE)
    device_id = _server_id(sim)
    assert acme.call("voxel.devices.list", verbosity="compact").stat == "ok"
    for _ in range(2):
        rsp = acme.call(REIMAGE, device_id=device_id, hostname="f.example.com", image_id=4)
        assert (rsp.code, rsp.msg) == (206, "Failed acquiring resource")
    assert _job(sim, device_id) is None
    assert acme.call(REIMAGE, device_id=device_id, hostname="f.example.com", image_id=4).stat == "ok"
    assert [(c["fault"], c["code"]) for c in sim.calls(REIMAGE)] == [("error", 206), ("error", 206), (None, None)]
    assert sim.sim.list_faults() == []


def test_fault_error_default_message_follows_code(sim, acme):
    sim.add_fault(kind="error", code=100)
    assert acme.call("voxel.devices.list").msg == "The device_id passed in can't be matched to a valid device."


def test_fault_http_answers_status_with_non_xml_body(sim, acme):
    sim.add_fault(kind="http", status=503)
    response = acme.raw("voxel.devices.list")
    assert response.status_code == 503
    assert not response.text.startswith("<")


def test_fault_latency_delays_then_answers(sim, acme):
    sim.add_fault(kind="latency", seconds=0.3)
    started = time.monotonic()
    assert acme.call("voxel.hapi.version").stat == "ok"
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(("phase", "processed"), [("before", False), ("after", True)])
def test_fault_hang_exceeds_client_timeout(sim, acme, phase, processed):
    device_id = _server_id(sim)
    sim.add_fault(kind="hang", seconds=1.0, phase=phase, method=REIMAGE)
    with pytest.raises(requests.ReadTimeout):
        _reimage(acme, device_id, timeout=0.3)
    assert (_job(sim, device_id) is not None) is processed
    assert sim.calls(REIMAGE)[-1]["fault"] == "hang"


@pytest.mark.parametrize(("phase", "processed"), [("before", False), ("after", True)])
def test_fault_drop_closes_connection_unanswered(sim, acme, phase, processed):
    device_id = _server_id(sim)
    sim.add_fault(kind="drop", phase=phase)
    with pytest.raises(requests.ConnectionError):
        _reimage(acme, device_id)
    assert (_job(sim, device_id) is not None) is processed
    assert acme.call("voxel.hapi.version").stat == "ok"


def test_fault_malformed_body_is_not_xml(sim, acme):
    sim.add_fault(kind="malformed")
    response = acme.raw("voxel.devices.list")
    assert response.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        parse(response.content)


def test_fault_truncated_cuts_real_answer_after_processing(sim, acme):
    device_id = _server_id(sim)
    full = acme.raw("voxel.devices.list").content
    sim.add_fault(kind="truncated")
    cut = acme.raw("voxel.devices.list").content
    assert full.startswith(cut)
    assert 0 < len(cut) < len(full)
    with pytest.raises(etree.XMLSyntaxError):
        parse(cut)
    sim.add_fault(kind="truncated")
    _reimage(acme, device_id)
    assert _job(sim, device_id)["state"] == "IN_PROGRESS"


def test_fault_rate_is_seeded_and_respects_bounds(sim, acme):
    def pattern() -> list[str | None]:
        sim.reset()
        sim.add_fault(kind="error", rate=0.5)
        return [acme.call("voxel.hapi.version").stat for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert {"ok", "fail"} == set(first)
    sim.reset()
    sim.add_fault(kind="error", rate=0.0)
    assert acme.call("voxel.hapi.version").stat == "ok"
    sim.add_fault(kind="http", rate=1.0)
    assert [acme.raw("voxel.hapi.version").status_code for _ in range(3)] == [503] * 3


def test_faults_stack_in_order(sim, acme):
    sim.add_fault(kind="error", code=206)
    sim.add_fault(kind="error", code=201, msg="Device action failed (busy)")
    assert acme.call("voxel.hapi.version").code == 206
    assert acme.call("voxel.hapi.version").msg == "Device action failed (busy)"
    assert acme.call("voxel.hapi.version").stat == "ok"


def test_faults_endpoint_adds_lists_and_clears(sim):
    added = requests.post(sim.url + "/_sim/faults", json={"kind": "latency", "seconds": 0.1, "count": 3}, timeout=5)
    assert added.status_code == 201
    assert added.json()["count"] == 3
    listed = requests.get(sim.url + "/_sim/faults", timeout=5).json()
    assert [(f["kind"], f["count"]) for f in listed] == [("latency", 3)]
    assert requests.delete(sim.url + "/_sim/faults", timeout=5).json() == {"cleared": 1}
    assert requests.get(sim.url + "/_sim/faults", timeout=5).json() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "error", "count": 0},
        {"kind": "error", "rate": 1.5},
        {"kind": "error", "count": 1, "rate": 0.5},
        {"kind": "error", "phase": "after"},
        {"kind": "hang", "phase": "during"},
        {"kind": "http", "status": 200},
        {"kind": "error", "colour": "red"},
    ],
)
def test_faults_endpoint_rejects_bad_spec(sim, spec):
    response = requests.post(sim.url + "/_sim/faults", json=spec, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]


def test_calls_log_masks_secrets_and_filters(sim, acme):
    acme.call("voxel.hapi.version")
    acme.call(REIMAGE, device_id=_server_id(sim), hostname="c.example.com", image_id=4, admin_password="hunter2")
    calls = requests.get(sim.url + "/_sim/calls", timeout=5).json()
    assert [c["seq"] for c in calls] == [1, 2]
    assert set(calls[0]) == {"seq", "time", "method", "customer_id", "params", "stat", "code", "fault"}
    reimage = calls[1]
    assert reimage["method"] == REIMAGE
    assert reimage["customer_id"] == 1001
    assert reimage["stat"] == "ok"
    assert reimage["params"]["admin_password"] == "***"
    assert reimage["params"]["key"] == "***"
    assert reimage["params"]["api_sig"] == "***"
    assert reimage["params"]["hostname"] == "c.example.com"
    only = requests.get(sim.url + "/_sim/calls", params={"method": REIMAGE}, timeout=5).json()
    assert [c["seq"] for c in only] == [2]
    assert [c["seq"] for c in requests.get(sim.url + "/_sim/calls?since=1", timeout=5).json()] == [2]
    assert sim.calls(REIMAGE) == only


def test_calls_log_is_read_only(sim, acme):
    acme.call("voxel.hapi.version")
    assert requests.post(sim.url + "/_sim/calls", json={}, timeout=5).status_code == 404
    assert requests.delete(sim.url + "/_sim/calls", timeout=5).status_code == 404
    sim.calls()[0]["params"]["method"] = "edited"
    assert sim.calls()[0]["params"]["method"] == "voxel.hapi.version"


def test_config_endpoint_changes_runtime_config(sim):
    body = {"reimage_seconds": 1.0, "fail_rate": 0.25, "skew_seconds": 60}
    assert requests.post(sim.url + "/_sim/config", json=body, timeout=5).json() == body
    assert requests.get(sim.url + "/_sim/config", timeout=5).json() == body
    assert requests.post(sim.url + "/_sim/config", json={"fail_rate": 2}, timeout=5).status_code == 400
    assert requests.post(sim.url + "/_sim/config", json={"speed": 2}, timeout=5).status_code == 400


def test_reset_endpoint_restores_world_and_clears_faults_and_calls(sim, acme):
    original = sim.sim.device_json(200001)["label"]
    requests.post(sim.url + "/_sim/devices/200001", json={"label": "changed"}, timeout=5)
    sim.add_fault(kind="error", count=5)
    sim.configure(fail_rate=1.0)
    acme.call("voxel.hapi.version")
    assert requests.post(sim.url + "/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.sim.device_json(200001)["label"] == original
    assert sim.calls() == []
    assert sim.sim.list_faults() == []
    assert sim.sim.get_config()["fail_rate"] == 0.0


def test_devices_endpoint_sets_attributes(sim, acme):
    response = requests.post(
        sim.url + "/_sim/devices/200001", json={"label": "<b>x</b>", "description": "d", "status": "off"}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["label"] == "<b>x</b>"
    device = acme.ok("voxel.devices.list", device_id=200001).find("devices/device")
    assert (device.get("label"), device.findtext("description"), device.get("status")) == ("<b>x</b>", "d", "off")
    assert requests.get(sim.url + "/_sim/devices/200001", timeout=5).json()["description"] == "d"
    assert requests.post(sim.url + "/_sim/devices/1", json={"label": "x"}, timeout=5).status_code == 404
    assert requests.post(sim.url + "/_sim/devices/200001", json={"id": 5}, timeout=5).status_code == 400
    assert requests.post(sim.url + "/_sim/devices/200001", data="not json", timeout=5).status_code == 400


def test_health_endpoint(sim):
    assert requests.get(sim.url + "/_sim/health", timeout=5).json() == {"ok": True}
    assert requests.get(sim.url + "/_sim/nothing", timeout=5).status_code == 404
