"""The generated world: deterministic, believable, and fast at 10,000 devices."""

from __future__ import annotations

import ipaddress
from collections import Counter

from voxsim import CUSTOMERS, render
from voxsim.generate import generate
from voxsim.server import start
from voxsim.tests.hapi import STAFF, Hapi


def test_generate_is_deterministic_per_seed():
    assert generate(40, 1).dumps() == generate(40, 1).dumps()
    assert generate(40, 1).dumps() != generate(40, 2).dumps()


def test_generate_splits_devices_among_customers():
    world = generate(40, 1)
    counts = Counter(d.customer_id for d in world.devices.values())
    assert sorted(counts) == [c.customer_id for c in CUSTOMERS]
    assert sum(counts.values()) == 40
    for small in (0, 1, 3, 7):
        assert len(generate(small, 1).devices) == small
    assert len({d.customer_id for d in generate(3, 1).devices.values()}) == 3


def test_generate_is_believable():
    world = generate(400, 7)
    devices = list(world.devices.values())
    servers = sum(d.kind == "voxserver" for d in devices)
    assert 0.75 <= servers / len(devices) <= 0.85
    assert {d.facility for d in devices} == {"lga7", "ams2", "sin1", "ldj1"}
    assert all(1 <= d.cores <= 32 and d.memory_mb >= 1024 and d.disk_gb >= 10 for d in devices)
    addresses = [a.ip for d in devices for a in d.ips]
    assert len(addresses) == len(set(addresses))
    networks = [n for v in world.vlans for n in v.networks()]
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    for device in devices:
        assert sorted(a.type for a in device.ips) == ["backend", "frontend"]
        for assignment in device.ips:
            vlan = next(v for v in world.vlans if v.id == assignment.vlan_id)
            assert (vlan.customer_id, vlan.facility, vlan.type) == (
                device.customer_id,
                device.facility,
                assignment.type,
            )
            address = ipaddress.IPv4Address(assignment.ip)
            assert any(address in n and address != n.network_address + 1 for n in vlan.networks())
            assert address.is_private or address in ipaddress.IPv4Network("198.18.0.0/15")


def test_ten_thousand_devices_generate_and_list():
    server = start(devices=10000)
    try:
        world = server.sim.world
        assert len(world.devices) == 10000
        # How fast is measured in benchmarks/, never asserted here (shared, noisy machines).
        body = render.devices(world, list(world.devices.values()), "normal")
        assert body.count("<device ") == 10000
        staff = Hapi(server.url, *STAFF)
        listed = staff.ok("voxel.devices.list", customer_id=1002).findall("devices/device")
        assert len(listed) == len(world.by_customer[1002])
    finally:
        server.stop()
