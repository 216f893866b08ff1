"""Frozen values returned by the hAPI client; plain data, no lxml, no behaviour beyond derived fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "AccessMethod",
    "ApiVersion",
    "CallRecord",
    "Device",
    "DeviceStatus",
    "Drive",
    "Image",
    "ImageVersion",
    "IpAssignment",
    "ReimageAccepted",
    "Subnet",
    "Vlan",
]

# Device type and model that mark a cloud VM, which voxservers.* refuses with code 110 (protocol notes §8).
VOXCLOUD_TYPE_ID = 3
VOXCLOUD_MODEL = "VoxCLOUD"


@dataclass(frozen=True, slots=True)
class IpAssignment:
    """An address assigned to a device; type is "frontend" (public) or "backend" (private)."""

    id: int | None
    type: str | None
    description: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class AccessMethod:
    """One way to log in to a device (ssh, admin, remoteconsole, ...); the password is kept out of repr."""

    type: str | None
    username: str | None
    password: str | None = field(default=None, repr=False)
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Drive:
    """One disk of a device."""

    position: str | None
    size_gb: int | None


@dataclass(frozen=True, slots=True)
class Device:
    """A device from voxel.devices.list; fields the chosen verbosity does not carry are None or empty."""

    id: int
    label: str | None = None
    status: str | None = None
    description: str | None = None
    type_id: int | None = None
    type_name: str | None = None
    model_id: int | None = None
    model: str | None = None
    facility_code: str | None = None
    facility_name: str | None = None
    zone: str | None = None
    cage: str | None = None
    row: str | None = None
    rack: str | None = None
    position: str | None = None
    ip_assignments: tuple[IpAssignment, ...] = ()
    access_methods: tuple[AccessMethod, ...] = ()
    drives: tuple[Drive, ...] = ()
    memory_mb: int | None = None
    os_name: str | None = None
    os_architecture: int | None = None
    cores: int | None = None

    @property
    def is_voxcloud(self) -> bool:
        """Whether this is a cloud VM rather than a VoxSERVER (so it cannot be reimaged)."""
        return self.type_id == VOXCLOUD_TYPE_ID or self.model == VOXCLOUD_MODEL

    @property
    def disk_gb(self) -> int:
        """Total size of the drives whose size is known, in GB."""
        return sum(d.size_gb for d in self.drives if d.size_gb is not None)


@dataclass(frozen=True, slots=True)
class ImageVersion:
    """A dated version of an image that a reimage may pin with image_version_id."""

    id: int
    label: str | None
    is_default: bool


@dataclass(frozen=True, slots=True)
class Image:
    """An OS image from voxel.images.list."""

    id: int
    summary: str | None = None
    architecture: int | None = None
    family: str | None = None
    version: str | None = None
    product_family: str | None = None
    product_version: str | None = None
    admin_username: str | None = None
    description: str | None = None
    versions: tuple[ImageVersion, ...] = ()


@dataclass(frozen=True, slots=True)
class Subnet:
    """A subnet of a VLAN, in CIDR form, with its gateway."""

    network: str | None
    gateway: str | None


@dataclass(frozen=True, slots=True)
class Vlan:
    """A VLAN of the account from voxel.ips.list; type is "frontend" or "backend"."""

    id: int
    type: str | None
    facility: str | None
    description: str | None
    subnets: tuple[Subnet, ...] = ()


@dataclass(frozen=True, slots=True)
class ReimageAccepted:
    """The API's acknowledgement of voxel.voxservers.reimage; last_update is a Unix epoch."""

    device_id: int
    last_update: int | None
    status: str | None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Provisioning state of one device from voxel.voxservers.status (IN_PROGRESS, SUCCEEDED, FAILED)."""

    device_id: int
    status: str | None
    last_update: int | None
    extended_status: str | None = None


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """The API version and the methods it offers, from voxel.hapi.version."""

    version: str | None
    methods: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one hAPI call did, for the caller's audit log; params are masked and the body is capped and redacted."""

    method: str
    params: Mapping[str, str]
    duration: float
    http_status: int | None
    stat: str | None
    error_code: int | None
    error_message: str | None
    response_body: str | None
    error_class: str | None = None
    maybe_delivered: bool | None = None
