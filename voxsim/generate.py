"""Build a believable, deterministic world from a device count and a seed."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from dataclasses import dataclass

from voxsim import protocol as p
from voxsim.catalog import (
    CLOUD_CORES,
    CLOUD_DISK_GB,
    CLOUD_MEMORY_MB,
    CUSTOMERS,
    FACILITIES,
    HOSTILE,
    IMAGES,
    ROLES,
    SERVER_MODELS,
    Customer,
)
from voxsim.world import Device, IpAssignment, Subnet, Vlan, World

FIRST_DEVICE_ID = 200001
FIRST_VLAN_ID = 101
CLOUD_SHARE = 0.2  # about 80% of devices are VoxSERVERs
OFF_SHARE = 0.05
EPOCH_BASE = 1_296_000_000  # early 2011, when the hAPI was in wide use
# Never contacted: benchmark and documentation ranges for public VLANs, RFC 1918 for private ones.
FRONTEND_POOLS = ("198.18.0.0/15", "100.64.0.0/10")
FRONTEND_EXTRA_POOLS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
BACKEND_POOLS = ("10.0.0.0/8",)


class _Allocator:
    """Hands out aligned subnets from a list of address pools, in order."""

    def __init__(self, pools: tuple[str, ...]) -> None:
        self.pools = [ipaddress.IPv4Network(pool) for pool in pools]
        self.cursors = [int(pool.network_address) for pool in self.pools]

    def take(self, prefix: int) -> ipaddress.IPv4Network | None:
        size = 2 ** (32 - prefix)
        for index, pool in enumerate(self.pools):
            start = -(-self.cursors[index] // size) * size
            if prefix >= pool.prefixlen and start + size <= int(pool.broadcast_address) + 1:
                self.cursors[index] = start + size
                return ipaddress.IPv4Network((start, prefix))
        return None


@dataclass
class _Plan:
    customer: Customer
    facility: str
    kind: str


def _split(total: int, customers: list[Customer]) -> list[int]:
    counts = [int(total * c.share) for c in customers]
    if total >= len(customers):
        counts = [max(1, n) for n in counts]
    index = 0
    while sum(counts) < total:
        counts[index % len(counts)] += 1
        index += 1
    while sum(counts) > total:
        largest = counts.index(max(counts))
        counts[largest] -= 1
    return counts


def _subnet_prefix(devices: int) -> int:
    # Room for every device twice over plus network, broadcast and gateway, so free addresses remain.
    needed = 2 * devices + 10 + 3
    return 32 - max(5, (needed - 1).bit_length())


def _vlans(
    plans: list[_Plan], rng: random.Random
) -> tuple[list[Vlan], dict[tuple[int, str, str], tuple[Vlan, ipaddress.IPv4Network]]]:
    per_site = Counter((plan.customer.customer_id, plan.facility) for plan in plans)
    front, back, extra = _Allocator(FRONTEND_POOLS), _Allocator(BACKEND_POOLS), _Allocator(FRONTEND_EXTRA_POOLS)
    vlans: list[Vlan] = []
    primary: dict[tuple[int, str, str], tuple[Vlan, ipaddress.IPv4Network]] = {}
    vlan_id = FIRST_VLAN_ID
    for customer in CUSTOMERS:
        for facility in customer.facilities:
            count = per_site.get((customer.customer_id, facility), 0)
            if not count:
                continue
            for ip_type, allocator in ((p.IP_FRONTEND, front), (p.IP_BACKEND, back)):
                network = allocator.take(_subnet_prefix(count))
                if network is None:
                    raise ValueError("too many devices for the simulated address pools")
                networks = [network]
                # Some public VLANs carry a second small subnet, as routed blocks were often added later.
                if ip_type == p.IP_FRONTEND and rng.random() < 0.5:
                    second = extra.take(28)
                    if second is not None:
                        networks.append(second)
                subnets = [Subnet(str(n), str(n.network_address + 1)) for n in networks]
                vlan = Vlan(vlan_id, customer.customer_id, facility, ip_type, subnets)
                vlans.append(vlan)
                primary[(customer.customer_id, facility, ip_type)] = (vlan, network)
                vlan_id += 1
    return vlans, primary


def _plans(total: int, rng: random.Random) -> list[_Plan]:
    plans: list[_Plan] = []
    for customer, count in zip(CUSTOMERS, _split(total, CUSTOMERS), strict=True):
        clouds = round(count * CLOUD_SHARE)
        kinds = [p.KIND_VOXCLOUD] * clouds + [p.KIND_VOXSERVER] * (count - clouds)
        rng.shuffle(kinds)
        facilities = customer.facilities
        plans.extend(_Plan(customer, facilities[i % len(facilities)], kind) for i, kind in enumerate(kinds))
    # Interleave customers over the id range, as a real provider's inventory would be.
    rng.shuffle(plans)
    return plans


def generate(total: int, seed: int, *, hostile: bool = False) -> World:
    """A world of `total` devices split among CUSTOMERS; the same (total, seed, hostile) gives the same world."""
    rng = random.Random(seed)
    plans = _plans(total, rng)
    vlans, primary = _vlans(plans, rng)
    next_host: Counter[tuple[int, str, str]] = Counter()
    names: Counter[tuple[int, str, str, str]] = Counter()
    hostile_left = {c.customer_id: HOSTILE[i % len(HOSTILE)] for i, c in enumerate(CUSTOMERS)} if hostile else {}
    ip_id = 1
    devices: list[Device] = []
    for index, plan in enumerate(plans):
        device_id = FIRST_DEVICE_ID + index
        customer, facility = plan.customer, FACILITIES[plan.facility]
        role = rng.choice(ROLES)
        names[(customer.customer_id, plan.facility, plan.kind, role)] += 1
        number = names[(customer.customer_id, plan.facility, plan.kind, role)]
        prefix = "vm-" if plan.kind == p.KIND_VOXCLOUD else ""
        label = f"{prefix}{role}{number:02d}.{plan.facility}.{customer.domain}"
        ips = []
        for ip_type in p.IP_TYPES:
            vlan, network = primary[(customer.customer_id, plan.facility, ip_type)]
            key = (customer.customer_id, plan.facility, ip_type)
            next_host[key] += 1
            # Host 1 is the gateway, so devices start at host 2.
            address = network.network_address + 1 + next_host[key]
            ips.append(IpAssignment(ip_id, ip_type, str(address), vlan.id))
            ip_id += 1
        image = rng.choice(list(IMAGES.values()))
        if plan.kind == p.KIND_VOXSERVER:
            model_id, model_name, cores_choice, memory_choice, drive_choice = rng.choice(SERVER_MODELS)
            cores, memory = rng.choice(cores_choice), rng.choice(memory_choice)
            drives = [rng.choice(drive_choice) for _ in range(rng.choice((1, 1, 2)))]
            zone_no, rack_no = rng.randint(1, 2), rng.randint(101, 140)
            zone = "Private cage" if zone_no == 1 else "Shared cage"
            cage, row = f"cage {'ABCD'[rack_no % 4]}", f"Row {'CDEFG'[rack_no % 5]}"
            rack, position = f"Rack {rack_no}", str(rng.randint(1, 42))
            description = f"{customer.name} {role} server"
        else:
            model_id, model_name = p.VOXCLOUD_MODEL
            cores, memory, drives = rng.choice(CLOUD_CORES), rng.choice(CLOUD_MEMORY_MB), [rng.choice(CLOUD_DISK_GB)]
            zone_no, rack_no = 3, rng.randint(201, 208)
            zone, cage, row, rack, position = "VoxCLOUD pool", "cloud", "Row H", f"Hypervisor rack {rack_no}", ""
            description = f"{customer.name} {role} VM"
        if customer.customer_id in hostile_left:
            label, description = hostile_left.pop(customer.customer_id)
        devices.append(
            Device(
                id=device_id,
                customer_id=customer.customer_id,
                kind=plan.kind,
                label=label,
                description=description,
                status=p.POWER_OFF if rng.random() < OFF_SHARE else p.POWER_ON,
                model_id=model_id,
                model_name=model_name,
                facility=plan.facility,
                zone_id=facility.id * 10 + zone_no,
                zone=zone,
                cage_id=facility.id * 1000 + rack_no % 4,
                cage=cage,
                row_id=facility.id * 1000 + 100 + rack_no % 5,
                row=row,
                rack_id=facility.id * 1000 + rack_no,
                rack=rack,
                position=position,
                drives=drives,
                memory_mb=memory,
                cores=cores,
                os_name=image.os_name,
                os_arch=image.architecture,
                image_id=image.id,
                image_version_id=image.default_version.id,
                ips=ips,
                ssh_username=customer.domain.split(".")[0],
                admin_username="root",
                console_address=f"console.{plan.facility}.voxsim.test",
                console_port=55000 + device_id % 5000,
                console_username="console",
                service_id=777000 + index,
                last_update=EPOCH_BASE + rng.randrange(0, 60 * 86400),
            )
        )
    return World(devices, vlans, ip_id, random.Random(seed))
