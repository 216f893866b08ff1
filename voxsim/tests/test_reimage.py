"""voxel.voxservers.reimage: validation as a table, progress, outcome, and the one-job-per-device rule."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from voxsim import protocol
from voxsim.catalog import IMAGES
from voxsim.server import SimServer
from voxsim.tests.hapi import Hapi


@dataclass
class Facts:
    """Concrete ids and addresses from the seeded world that the validation table refers to."""

    values: dict[str, str]
    server_id: int


def _free(network: ipaddress.IPv4Network, held: set[str], gateway: str) -> str:
    for host in network.hosts():
        if str(host) not in held and str(host) != gateway:
            return str(host)
    raise AssertionError("no free address")


def facts_for(sim: SimServer) -> Facts:
    world = sim.sim.world
    devices = world.customer_devices(1001)
    server = next(
        d for d in devices if d.kind == "voxserver" and any(o.facility == d.facility and o is not d for o in devices)
    )
    neighbour = next(d for d in devices if d.facility == server.facility and d is not server)
    held = {a.ip for d in devices for a in d.ips}
    front = world.customer_vlans(1001, server.facility, "frontend")[0]
    back = world.customer_vlans(1001, server.facility, "backend")[0]
    back_net, front_net = back.networks()[0], front.networks()[0]
    elsewhere = next(v for v in world.customer_vlans(1001, None, "backend") if v.facility != server.facility)
    other_image = next(i for i in IMAGES.values() if i.id != 4)
    values = {
        "server": str(server.id),
        "cloud": str(next(d.id for d in devices if d.kind == "voxcloud")),
        "foreign": str(world.by_customer[1002][0]),
        "free_front": _free(front_net, held, front.subnets[0].gateway),
        "free_back": _free(back_net, held, back.subnets[0].gateway),
        "own_back": next(a.ip for a in server.ips if a.type == "backend"),
        "taken_back": next(a.ip for a in neighbour.ips if a.type == "backend"),
        "back_network": str(back_net.network_address),
        "back_broadcast": str(back_net.broadcast_address),
        "back_gateway": back.subnets[0].gateway,
        "elsewhere_back": _free(elsewhere.networks()[0], held, elsewhere.subnets[0].gateway),
        "disk": str(server.disk_gb),
        "version_of_4": str(IMAGES[4].versions[0].id),
        "version_of_other": str(other_image.versions[0].id),
    }
    return Facts(values, server.id)


OK = None
VALIDATION = [
    ("baseline", {}, OK),
    ("device_id missing", {"device_id": None}, 300),
    ("device_id unknown", {"device_id": "1"}, 100),
    ("device_id not a number", {"device_id": "abc"}, 100),
    ("device of another customer", {"device_id": "{foreign}"}, 100),
    ("VoxCLOUD VM", {"device_id": "{cloud}"}, 110),
    ("customer_id of another customer", {"customer_id": "1002"}, 9),
    ("hostname missing", {"hostname": None}, 300),
    ("hostname empty", {"hostname": ""}, 300),
    ("hostname begins with dash", {"hostname": "-web.example.com"}, 300),
    ("hostname ends with dash", {"hostname": "web.example.com-"}, 300),
    ("hostname ends with dot", {"hostname": "web.example.com."}, 300),
    ("hostname empty label", {"hostname": "web..example.com"}, 300),
    ("hostname underscore", {"hostname": "web_1.example.com"}, 300),
    ("hostname space", {"hostname": "web 1.example.com"}, 300),
    ("hostname non-ascii", {"hostname": "wéb.example.com"}, 300),
    ("hostname label of 64", {"hostname": "a" * 64 + ".example.com"}, 300),
    ("hostname label of 63", {"hostname": "a" * 63 + ".example.com"}, OK),
    ("hostname of 254", {"hostname": ".".join(["a" * 62] * 4) + ".ab"}, 300),
    ("hostname of 253", {"hostname": ".".join(["a" * 62] * 4) + ".a"}, OK),
    ("hostname not fully qualified", {"hostname": "web01"}, OK),
    ("hostname single char", {"hostname": "a"}, OK),
    ("image_id missing", {"image_id": None}, 300),
    ("image_id unknown", {"image_id": "9999"}, 300),
    ("image_id not a number", {"image_id": "centos"}, 300),
    ("image_version_id of the image", {"image_version_id": "{version_of_4}"}, OK),
    ("image_version_id of another image", {"image_version_id": "{version_of_other}"}, 300),
    ("image_version_id not a number", {"image_version_id": "latest"}, 300),
    ("swap_space zero", {"swap_space": "0"}, 300),
    ("swap_space negative", {"swap_space": "-1"}, 300),
    ("swap_space fraction", {"swap_space": "1.5"}, 300),
    ("swap_space word", {"swap_space": "lots"}, 300),
    ("swap_space as big as the disk", {"swap_space": "{disk}"}, 300),
    ("swap_space small", {"swap_space": "2"}, OK),
    ("voxel_access yes", {"voxel_access": "yes"}, 300),
    ("voxel_access True", {"voxel_access": "True"}, 300),
    ("voxel_access true", {"voxel_access": "true"}, OK),
    ("voxel_access false", {"voxel_access": "false"}, OK),
    ("frontend_ip free", {"frontend_ip": "{free_front}"}, OK),
    ("backend_ip free", {"backend_ip": "{free_back}"}, OK),
    ("both ips free", {"frontend_ip": "{free_front}", "backend_ip": "{free_back}"}, OK),
    ("backend_ip own current address", {"backend_ip": "{own_back}"}, OK),
    ("backend_ip from the public VLAN", {"backend_ip": "{free_front}"}, 300),
    ("frontend_ip from the private VLAN", {"frontend_ip": "{free_back}"}, 300),
    ("backend_ip network address", {"backend_ip": "{back_network}"}, 300),
    ("backend_ip broadcast address", {"backend_ip": "{back_broadcast}"}, 300),
    ("backend_ip gateway", {"backend_ip": "{back_gateway}"}, 300),
    ("backend_ip held by another device", {"backend_ip": "{taken_back}"}, 300),
    ("backend_ip at another facility", {"backend_ip": "{elsewhere_back}"}, 300),
    ("backend_ip outside every VLAN", {"backend_ip": "192.168.77.10"}, 300),
    ("backend_ip malformed", {"backend_ip": "10.0.0.256"}, 300),
    ("backend_ip IPv6", {"backend_ip": "2001:db8::1"}, 300),
    ("ssh_username valid", {"ssh_username": "deploy"}, OK),
    ("ssh_username invalid", {"ssh_username": "Root!"}, 300),
    ("passwords given", {"admin_password": "a1", "console_password": "c2", "ssh_password": "s3"}, OK),
    ("kickstart url", {"kickstart": "https://example.com/ks.cfg"}, OK),
    ("kickstart not a url", {"kickstart": "ftp://example.com/ks.cfg"}, 300),
    ("postinstall_script small", {"postinstall_script": "#!/bin/sh\necho hi\n"}, OK),
    ("postinstall_script too large", {"postinstall_script": "x" * (64 * 1024 + 1)}, 300),
]


@pytest.mark.parametrize(("overrides", "expected"), [r[1:] for r in VALIDATION], ids=[r[0] for r in VALIDATION])
def test_reimage_validation(sim, acme, overrides, expected):
    facts = facts_for(sim)
    params = {"device_id": facts.values["server"], "hostname": "new-web01.acme.example", "image_id": "4"}
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value.format(**facts.values)
    rsp = acme.call("voxel.voxservers.reimage", verb="POST", **params)
    if expected is OK:
        assert rsp.stat == "ok", rsp.msg
        assert rsp.root.findtext("device/status") == "IN_PROGRESS"
    else:
        assert (rsp.stat, rsp.code) == ("fail", expected), rsp.msg
        if expected == 300:
            assert rsp.msg.startswith("Invalid parameter: ")


def _wait_terminal(acme: Hapi, device_id: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        device = acme.ok("voxel.voxservers.status", device_id=device_id, verbosity="extended").find("devices/device")
        seen.append((device.findtext("status"), device.findtext("extended_status")))
        if seen[-1][0] != "IN_PROGRESS":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no terminal status: {seen[-3:]}")


def _device(acme: Hapi, device_id: int) -> Any:
    return acme.ok("voxel.devices.list", device_id=device_id).find("devices/device")


def test_reimage_response_shape(sim, acme):
    facts = facts_for(sim)
    root = acme.ok("voxel.voxservers.reimage", device_id=facts.server_id, hostname="x.example.com", image_id=4)
    device = root.find("device")
    assert [child.tag for child in device] == ["id", "last_update", "status"]
    assert device.findtext("id") == str(facts.server_id)
    assert abs(int(device.findtext("last_update")) - time.time()) < 5
    assert device.findtext("status") == "IN_PROGRESS"


def test_reimage_progresses_to_succeeded_and_devices_list_shows_result(sim, acme):
    facts = facts_for(sim)
    image = IMAGES[55]
    acme.ok(
        "voxel.voxservers.reimage",
        verb="POST",
        device_id=facts.server_id,
        hostname="db-new.acme.example",
        image_id=55,
        image_version_id=image.versions[0].id,
        frontend_ip=facts.values["free_front"],
        backend_ip=facts.values["free_back"],
        admin_password="Adm1n-secret",
        ssh_username="deploy",
        ssh_password="ssh-secret",
    )
    seen = _wait_terminal(acme, facts.server_id)
    assert seen[-1] == ("SUCCEEDED", "Reimage completed (100%)")
    running = [text for status, text in seen if status == "IN_PROGRESS"]
    assert running
    assert all(re.fullmatch(r"[A-Z][a-z ]+ \(\d{1,2}%\)", text) for text in running)
    device = _device(acme, facts.server_id)
    assert device.get("label") == "db-new.acme.example"
    assert device.findtext("operating_system/name") == image.os_name
    assert device.findtext("operating_system/architecture") == "64"
    ips = {a.get("type"): a.text for a in device.findall("ipassignments/ipassignment")}
    assert ips == {"frontend": facts.values["free_front"], "backend": facts.values["free_back"]}
    methods = {m.get("type"): m for m in device.findall("accessmethods/accessmethod")}
    assert methods["admin"].findtext("password") == "Adm1n-secret"
    assert methods["ssh"].findtext("password") == "ssh-secret"
    assert methods["ssh"].findtext("username") == "deploy"
    assert len(methods["remoteconsole"].findtext("password")) == protocol.GENERATED_PASSWORD_LENGTH


def test_reimage_without_ips_keeps_assignment(sim, acme):
    facts = facts_for(sim)
    before = [(a.get("type"), a.text) for a in _device(acme, facts.server_id).iter("ipassignment")]
    acme.ok("voxel.voxservers.reimage", device_id=facts.server_id, hostname="keep.example.com", image_id=4)
    assert _wait_terminal(acme, facts.server_id)[-1][0] == "SUCCEEDED"
    after = _device(acme, facts.server_id)
    assert [(a.get("type"), a.text) for a in after.iter("ipassignment")] == before
    assert all(m.findtext("password") for m in after.iter("accessmethod"))


def test_reimage_with_one_ip_discards_old_assignment(sim, acme):
    facts = facts_for(sim)
    acme.ok(
        "voxel.voxservers.reimage",
        device_id=facts.server_id,
        hostname="b.example.com",
        image_id=4,
        backend_ip=facts.values["free_back"],
    )
    _wait_terminal(acme, facts.server_id)
    after = _device(acme, facts.server_id)
    assert [(a.get("type"), a.text) for a in after.iter("ipassignment")] == [("backend", facts.values["free_back"])]


def test_reimage_fails_with_fail_rate_one(sim, acme):
    sim.configure(fail_rate=1.0)
    facts = facts_for(sim)
    label = _device(acme, facts.server_id).get("label")
    acme.ok("voxel.voxservers.reimage", device_id=facts.server_id, hostname="doomed.example.com", image_id=4)
    status, text = _wait_terminal(acme, facts.server_id)[-1]
    assert status == "FAILED"
    assert text.startswith("Reimage failed: ")
    device = _device(acme, facts.server_id)
    assert device.get("label") == label
    assert all(m.find("password") is None for m in device.iter("accessmethod"))


def test_reimage_second_while_running_is_refused(sim, acme):
    facts = facts_for(sim)
    params = {"device_id": facts.server_id, "hostname": "one.example.com", "image_id": 4}
    acme.ok("voxel.voxservers.reimage", **params)
    rsp = acme.call("voxel.voxservers.reimage", **params)
    assert (rsp.code, rsp.msg) == (201, "Device action failed (reimage already in progress)")
    _wait_terminal(acme, facts.server_id)
    acme.ok("voxel.voxservers.reimage", **params)


def test_reimage_address_promised_to_running_reimage_is_held(sim, acme):
    facts = facts_for(sim)
    world = sim.sim.world
    server = world.devices[facts.server_id]
    other = next(
        d
        for d in world.customer_devices(1001)
        if d.kind == "voxserver" and d.facility == server.facility and d is not server
    )
    free = facts.values["free_back"]
    acme.ok("voxel.voxservers.reimage", device_id=server.id, hostname="a.example.com", image_id=4, backend_ip=free)
    rsp = acme.call(
        "voxel.voxservers.reimage", device_id=other.id, hostname="b.example.com", image_id=4, backend_ip=free
    )
    assert rsp.code == 300
    assert "another device" in rsp.msg


def test_status_for_all_devices_shows_running_job(sim, acme):
    facts = facts_for(sim)
    acme.ok("voxel.voxservers.reimage", device_id=facts.server_id, hostname="a.example.com", image_id=4)
    devices = acme.ok("voxel.voxservers.status", verbosity="extended").findall("devices/device")
    states = {int(d.findtext("id")): d.findtext("status") for d in devices}
    assert states.pop(facts.server_id) == "IN_PROGRESS"
    assert set(states.values()) == {"SUCCEEDED"}


def test_step_text_names_step_and_percentage():
    assert protocol.step_text(10) == "Partitioning disks (10%)"
    assert protocol.step_text(40) == "Installing base system (40%)"
    assert protocol.step_text(70) == "Configuring network (70%)"
    assert protocol.step_text(90) == "Running postinstall script (90%)"
