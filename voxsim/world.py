"""The simulated world: devices, VLANs and reimage jobs, with lazy wall-clock progress and JSON persistence."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import tempfile
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from voxsim import protocol as p
from voxsim.catalog import IMAGES

STATE_FORMAT = 1


@dataclass
class IpAssignment:
    """One IP address of a device, inside one of its customer's VLANs."""

    id: int
    type: str
    ip: str
    vlan_id: int


@dataclass
class Subnet:
    """An IPv4 subnet of a VLAN; the gateway is its first host address."""

    network: str
    gateway: str


@dataclass
class Vlan:
    """A customer's public (frontend) or private (backend) VLAN at one facility."""

    id: int
    customer_id: int
    facility: str
    type: str
    subnets: list[Subnet]

    @property
    def description(self) -> str:
        """The description shared with the ipassignments inside this VLAN."""
        return p.vlan_description(self.facility, self.type, self.id)

    def networks(self) -> list[ipaddress.IPv4Network]:
        """The subnets as ipaddress objects."""
        return [ipaddress.IPv4Network(s.network) for s in self.subnets]


@dataclass
class Job:
    """A reimage: what was asked, when it started, and whether (and where) it is fated to fail."""

    started: float
    duration: float
    fail_at: float | None  # fraction of the duration at which it fails; None means it succeeds
    state: str
    finished: float | None
    hostname: str
    image_id: int
    image_version_id: int
    swap_space: int
    voxel_access: bool
    ssh_username: str | None
    passwords: dict[str, str]
    frontend_ip: str | None
    backend_ip: str | None
    postinstall: bool
    kickstart: str | None

    def end_time(self) -> float:
        """Wall-clock time at which the job reaches its terminal state."""
        return self.started + self.duration * (1.0 if self.fail_at is None else self.fail_at)

    def percent(self, now: float) -> int:
        """Progress in whole percent, capped at 99 until the job is done."""
        if self.duration <= 0:
            return 99
        return max(0, min(99, int(100 * (now - self.started) / self.duration)))


@dataclass
class Device:
    """A VoxSERVER or VoxCLOUD VM as devices.list shows it."""

    id: int
    customer_id: int
    kind: str
    label: str
    description: str
    status: str
    model_id: int
    model_name: str
    facility: str
    zone_id: int
    zone: str
    cage_id: int
    cage: str
    row_id: int
    row: str
    rack_id: int
    rack: str
    position: str
    drives: list[int]
    memory_mb: int
    cores: int
    os_name: str
    os_arch: str
    image_id: int
    image_version_id: int
    ips: list[IpAssignment]
    ssh_username: str
    admin_username: str
    console_address: str
    console_port: int
    console_username: str
    service_id: int
    last_update: int
    passwords: dict[str, str] = field(default_factory=dict)  # accessmethod type -> password, set by a reimage
    voxel_access: bool = False
    job: Job | None = None

    @property
    def disk_gb(self) -> int:
        """Total disk size over all drives."""
        return sum(self.drives)


class World:
    """All mutable simulator state; callers hold the simulator's one lock around every use."""

    def __init__(self, devices: list[Device], vlans: list[Vlan], next_ip_id: int, rng: random.Random) -> None:
        self.devices: dict[int, Device] = {d.id: d for d in devices}
        self.vlans = vlans
        self.next_ip_id = next_ip_id
        self.rng = rng  # decides reimage failures and generates passwords, so runs are reproducible
        self.by_customer: dict[int, list[int]] = {}
        for device in sorted(devices, key=lambda d: d.id):
            self.by_customer.setdefault(device.customer_id, []).append(device.id)
        self.active: set[int] = {d.id for d in devices if d.job is not None and d.job.state == p.STATUS_IN_PROGRESS}
        # Rendered devices.list fragments per (device id, verbosity); dropped whenever the device changes.
        self.fragments: dict[tuple[int, str], str] = {}
        self.dirty = False

    def touch(self, device: Device) -> None:
        """Record that a device changed: drop its cached XML and mark the state for saving."""
        for verbosity in p.VERBOSITIES:
            self.fragments.pop((device.id, verbosity), None)
        self.dirty = True

    def customer_devices(self, customer_id: int) -> list[Device]:
        """The customer's devices in id order."""
        return [self.devices[i] for i in self.by_customer.get(customer_id, [])]

    def find(self, customer_id: int, raw_id: str | None) -> Device:
        """The customer's device with this id; ApiError 100 if there is none (another customer's is none too)."""
        try:
            device = self.devices[int((raw_id or "").strip())]
        except (ValueError, KeyError):
            raise p.ApiError(p.ERR_UNKNOWN_DEVICE, p.MSG_UNKNOWN_DEVICE) from None
        if device.customer_id != customer_id:
            raise p.ApiError(p.ERR_UNKNOWN_DEVICE, p.MSG_UNKNOWN_DEVICE)
        return device

    def customer_vlans(self, customer_id: int, facility: str | None = None, ip_type: str | None = None) -> list[Vlan]:
        """The customer's VLANs, optionally only at one facility and of one type."""
        return [
            v
            for v in self.vlans
            if v.customer_id == customer_id
            and (facility is None or v.facility == facility)
            and (ip_type is None or v.type == ip_type)
        ]

    def ips_held(self, customer_id: int, except_device: int) -> set[str]:
        """Addresses held by the customer's other devices, including those promised to running reimages."""
        held: set[str] = set()
        for device in self.customer_devices(customer_id):
            if device.id == except_device:
                continue
            held.update(a.ip for a in device.ips)
            if device.job is not None and device.job.state == p.STATUS_IN_PROGRESS:
                held.update(ip for ip in (device.job.frontend_ip, device.job.backend_ip) if ip)
        return held

    def start_job(self, device: Device, job: Job) -> None:
        """Attach a running reimage to the device."""
        device.job = job
        device.last_update = int(job.started)
        self.active.add(device.id)
        self.touch(device)

    def advance(self, now: float) -> None:
        """Finish every job whose time has come; progress is derived from wall-clock time, no thread needed."""
        for device_id in sorted(self.active):
            device = self.devices[device_id]
            job = device.job
            if job is None or now < job.end_time():
                continue
            self.active.discard(device_id)
            job.finished = job.end_time()
            device.last_update = int(job.finished)
            if job.fail_at is None:
                job.state = p.STATUS_SUCCEEDED
                self._apply(device, job)
            else:
                job.state = p.STATUS_FAILED
            self.touch(device)

    def _apply(self, device: Device, job: Job) -> None:
        image = IMAGES[job.image_id]
        device.label = job.hostname
        device.os_name = image.os_name
        device.os_arch = image.architecture
        device.image_id = job.image_id
        device.image_version_id = job.image_version_id
        device.voxel_access = job.voxel_access
        device.passwords = dict(job.passwords)
        if job.ssh_username:
            device.ssh_username = job.ssh_username
        if job.frontend_ip or job.backend_ip:
            # New IP details replace the whole old assignment (design.md §4).
            device.ips = []
            for ip_type, ip in ((p.IP_FRONTEND, job.frontend_ip), (p.IP_BACKEND, job.backend_ip)):
                if ip:
                    vlan = self.vlan_of(device.customer_id, ip)
                    device.ips.append(IpAssignment(self.next_ip_id, ip_type, ip, vlan.id if vlan else 0))
                    self.next_ip_id += 1

    def vlan_of(self, customer_id: int, ip: str) -> Vlan | None:
        """The customer's VLAN whose subnets contain this address."""
        address = ipaddress.IPv4Address(ip)
        for vlan in self.customer_vlans(customer_id):
            if any(address in net for net in vlan.networks()):
                return vlan
        return None

    def status(self, device: Device, now: float) -> tuple[str, int, str]:
        """(status, last_update, extended_status) for voxservers.status."""
        job = device.job
        if job is None:
            return p.STATUS_SUCCEEDED, device.last_update, p.EXTENDED_IDLE
        if job.state == p.STATUS_IN_PROGRESS:
            return job.state, device.last_update, p.step_text(job.percent(now))
        if job.state == p.STATUS_FAILED:
            return job.state, device.last_update, p.failed_text(int(100 * (job.fail_at or 0.0)))
        return job.state, device.last_update, p.EXTENDED_DONE

    def dumps(self) -> str:
        """Everything needed to rebuild this world, as JSON (fast: objects are encoded in place, not copied)."""
        version, internal, gauss = self.rng.getstate()
        data = {
            "format": STATE_FORMAT,
            "devices": list(self.devices.values()),
            "vlans": self.vlans,
            "next_ip_id": self.next_ip_id,
            "rng": [version, internal, gauss],
        }
        return json.dumps(data, separators=(",", ":"), default=_plain)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> World:
        """Rebuild a world saved by to_json."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported state format {data.get('format')!r}")
        devices = []
        for raw in data["devices"]:
            raw = dict(raw)
            raw["ips"] = [IpAssignment(**a) for a in raw["ips"]]
            raw["job"] = Job(**raw["job"]) if raw.get("job") else None
            devices.append(Device(**raw))
        vlans = []
        for raw in data["vlans"]:
            raw = dict(raw)
            raw["subnets"] = [Subnet(**s) for s in raw["subnets"]]
            vlans.append(Vlan(**raw))
        rng = random.Random()
        version, internal, gauss = data["rng"]
        rng.setstate((version, tuple(internal), gauss))
        return cls(devices, vlans, int(data["next_ip_id"]), rng)


def _plain(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return vars(value)
    raise TypeError(f"cannot save {type(value).__name__}")


def save_atomically(path: Path, text: str) -> None:
    """Write text to a temporary file beside path, then rename it over path, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> World | None:
    """The world saved at path, or None if there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return World.from_json(json.loads(text))
