"""Response shapes of each method (hapi-protocol.md §4 and §8)."""

from __future__ import annotations

import ipaddress

from voxsim.server import SimServer, start
from voxsim.tests.hapi import ACME, Hapi, parse
from voxsim.world import Device


def _first(sim: SimServer, customer_id: int, kind: str) -> Device:
    return next(d for d in sim.sim.world.customer_devices(customer_id) if d.kind == kind)


def test_devices_list_normal_shape(acme):
    devices = acme.ok("voxel.devices.list").find("devices")
    assert len(devices) > 0
    kinds = set()
    for device in devices:
        assert device.get("id").isdigit()
        assert device.get("label")
        assert device.get("status") in ("on", "off")
        kinds.add((device.find("type").get("id"), device.findtext("type")))
        if device.find("type").get("id") == "3":
            assert device.findtext("model") == "VoxCLOUD"
        assert device.find("model").get("id").isdigit()
        assert device.findtext("description")
        facility = device.find("location/facility")
        assert facility.get("code") in ("lga7", "ams2", "sin1", "ldj1")
        assert facility.get("id").isdigit()
        assert facility.text
        for part in ("zone", "cage", "row", "rack"):
            assert device.find(f"location/{part}").get("id").isdigit()
        assert device.find("location/position") is not None
        assignments = device.findall("ipassignments/ipassignment")
        assert sorted(a.get("type") for a in assignments) == ["backend", "frontend"]
        for assignment in assignments:
            ipaddress.IPv4Address(assignment.text)
            assert assignment.get("id").isdigit()
            word = "public" if assignment.get("type") == "frontend" else "private"
            assert assignment.get("description").startswith(f"{facility.get('code')} {word}; vlan ")
        methods = {m.get("type"): m for m in device.findall("accessmethods/accessmethod")}
        assert set(methods) == {"ssh", "admin", "remoteconsole"}
        assert methods["admin"].findtext("username") == "root"
        assert methods["remoteconsole"].findtext("port").isdigit()
        assert methods["remoteconsole"].findtext("address")
        assert all(m.find("password") is None for m in methods.values())
        assert int(device.find("storage/drive/size").text) > 0
        assert int(device.find("memory").get("size")) >= 1024
        assert device.findtext("operating_system/name")
        assert device.findtext("operating_system/architecture") in ("32", "64")
        assert 1 <= int(device.findtext("processor/cores")) <= 32
    assert kinds == {("1", "Dedicated Server"), ("3", "Virtual Server")}


def test_devices_list_one_device(acme):
    devices = acme.ok("voxel.devices.list", device_id=200001).findall("devices/device")
    assert [d.get("id") for d in devices] == ["200001"]


def test_devices_list_unknown_device_is_code_100(acme):
    assert acme.call("voxel.devices.list", device_id=1).code == 100
    assert acme.call("voxel.devices.list", device_id="abc").code == 100


def test_devices_list_verbosity_levels(acme):
    compact = acme.ok("voxel.devices.list", verbosity="compact").find("devices/device")
    assert compact.find("type") is not None
    assert compact.find("ipassignments") is None
    extended = acme.ok("voxel.devices.list", verbosity="extended").find("devices/device")
    assert extended.find("service").get("id").isdigit()
    assert extended.find("power_consumption").get("unit") == "W"


def test_devices_list_invalid_verbosity_is_code_300(acme):
    rsp = acme.call("voxel.devices.list", verbosity="chatty")
    assert rsp.code == 300
    assert rsp.msg.startswith("Invalid parameter: verbosity:")


def test_images_list_compact_normal_extended(acme):
    compact = acme.ok("voxel.images.list").findall("images/image")
    ids = [int(i.get("id")) for i in compact]
    assert {1, 2, 3, 4, 11, 12, 13, 14, 55}.issubset(ids)
    assert all(i.get("summary") and len(i) == 0 for i in compact)
    normal = acme.ok("voxel.images.list", image_id=3, verbosity="normal").find("images/image")
    assert normal.get("summary") == "CentOS 5, 32-bit, base install"
    assert normal.findtext("operating_system/product_family") == "CentOS"
    assert normal.findtext("operating_system/admin_username") == "root"
    assert normal.find("filesystem/size").get("units") == "MB"
    assert normal.find("versions") is None
    for image in acme.ok("voxel.images.list", verbosity="extended").findall("images/image"):
        versions = image.findall("versions/version")
        assert 1 <= len(versions) <= 3
        assert [v.get("default") for v in versions].count("true") == 1
        assert all(v.get("id").isdigit() and len(v.text) == 10 for v in versions)


def test_images_list_unknown_image_is_code_300(acme):
    assert acme.call("voxel.images.list", image_id=9999).code == 300


def test_ips_list_shape_and_filters(sim, acme):
    vlans = acme.ok("voxel.ips.list").findall("vlans/vlan")
    facilities = {d.facility for d in sim.sim.world.customer_devices(1001)}
    assert {(v.get("facility"), v.get("type")) for v in vlans} == {
        (f, t) for f in facilities for t in ("frontend", "backend")
    }
    for vlan in vlans:
        word = "public" if vlan.get("type") == "frontend" else "private"
        assert vlan.get("description") == f"{vlan.get('facility')} {word}; vlan {vlan.get('id')}"
        for subnet in vlan.findall("subnet"):
            network = ipaddress.IPv4Network(subnet.get("network"))
            assert ipaddress.IPv4Address(subnet.get("gateway")) == network.network_address + 1
            assert network.is_private or vlan.get("type") == "frontend"
    only = acme.ok("voxel.ips.list", facility="LGA7", ip_address_type="backend").findall("vlans/vlan")
    assert [(v.get("facility"), v.get("type")) for v in only] == [("lga7", "backend")]
    assert acme.call("voxel.ips.list", ip_address_type="public").code == 300
    assert acme.call("voxel.ips.list", facility="xyz9").code == 300


def test_ips_list_subnets_hold_every_device_with_room_to_spare(sim, acme):
    vlans = {v.get("id"): v for v in acme.ok("voxel.ips.list").findall("vlans/vlan")}
    used: dict[str, int] = {}
    for assignment in acme.ok("voxel.devices.list").iter("ipassignment"):
        vlan_id = assignment.get("description").rsplit(" ", 1)[1]
        networks = [ipaddress.IPv4Network(s.get("network")) for s in vlans[vlan_id].findall("subnet")]
        assert any(ipaddress.IPv4Address(assignment.text) in n for n in networks)
        used[vlan_id] = used.get(vlan_id, 0) + 1
    for vlan_id, count in used.items():
        capacity = sum(ipaddress.IPv4Network(s.get("network")).num_addresses - 3 for s in vlans[vlan_id])
        assert capacity >= 2 * count


def test_status_one_device_and_all(sim, acme):
    world = sim.sim.world
    servers = [d.id for d in world.customer_devices(1001) if d.kind == "voxserver"]
    every = acme.ok("voxel.voxservers.status").findall("devices/device")
    assert [int(d.findtext("id")) for d in every] == servers
    assert all(d.findtext("status") == "SUCCEEDED" and d.find("extended_status") is None for d in every)
    one = acme.ok("voxel.voxservers.status", device_id=servers[0], verbosity="extended").findall("devices/device")
    assert len(one) == 1
    assert one[0].findtext("last_update").isdigit()
    assert one[0].findtext("extended_status")


def test_status_of_cloud_vm_is_code_110(sim, acme):
    cloud = _first(sim, 1001, "voxcloud")
    rsp = acme.call("voxel.voxservers.status", device_id=cloud.id)
    assert (rsp.code, rsp.msg) == (110, "This device is of a type different than required by this method.")


def test_hapi_version_lists_methods(acme):
    names = [m.get("name") for m in acme.ok("voxel.hapi.version").findall("version/methods/method")]
    assert {"voxel.devices.list", "voxel.voxservers.reimage", "voxel.voxservers.status", "voxel.ips.list"} <= set(names)


def test_hostile_labels_are_escaped():
    server = start(devices=9, hostile=True)
    try:
        response = Hapi(server.url, *ACME).raw("voxel.devices.list")
        root = parse(response.content)
        labels = [d.get("label") for d in root.iter("device")]
        assert '<script>alert("label")</script>.hostile.example' in labels
        assert b"<script>" not in response.content
        assert any("<img" in (d.findtext("description") or "") for d in root.iter("device"))
    finally:
        server.stop()


def test_labels_set_through_control_endpoint_stay_parseable(sim, acme):
    label = "</device>\x00\x1b<![CDATA[x]]>&amp;\"'\n"
    sim.sim.set_device(200001, {"label": label, "description": "<script>x</script>"})
    device = acme.ok("voxel.devices.list", device_id=200001).find("devices/device")
    assert device.get("label") == "</device>\ufffd\ufffd<![CDATA[x]]>&amp;\"'\n"
    assert device.findtext("description") == "<script>x</script>"
