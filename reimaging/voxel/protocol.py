"""The hAPI wire shapes: method names, parameter encoding, and the builders from reply elements to dataclasses.

Every shape choice marked [I] (inferred) in hapi-protocol.md lives in this module, so that better evidence
changes one file. The parse_* functions take the raw reply bytes and return frozen values or raise a
VoxelError; reading the envelope safely is reader.py's job, and lxml elements never leave the package.

Speed matters for a 10,000-device devices.list, so each element is visited once and dispatched on its tag,
instead of a find()/XPath per field.
"""

from __future__ import annotations

from typing import Final, TypeVar

from lxml import etree

from .errors import MalformedResponseError
from .models import (
    AccessMethod,
    ApiVersion,
    Device,
    DeviceStatus,
    Drive,
    Image,
    ImageVersion,
    IpAssignment,
    ReimageAccepted,
    Subnet,
    Vlan,
)
from .reader import optional_int as _int
from .reader import read_items
from .reader import required_int as _id

__all__ = [
    "DEVICES_LIST",
    "HAPI_VERSION",
    "IMAGES_LIST",
    "IPS_LIST",
    "VOXSERVERS_REIMAGE",
    "VOXSERVERS_STATUS",
    "bool_param",
    "parse_api_version",
    "parse_devices",
    "parse_empty",
    "parse_images",
    "parse_reimage",
    "parse_statuses",
    "parse_vlans",
]

DEVICES_LIST: Final = "voxel.devices.list"
IMAGES_LIST: Final = "voxel.images.list"
IPS_LIST: Final = "voxel.ips.list"  # [I] shape is ours (protocol notes §8)
VOXSERVERS_REIMAGE: Final = "voxel.voxservers.reimage"
VOXSERVERS_STATUS: Final = "voxel.voxservers.status"
HAPI_VERSION: Final = "voxel.hapi.version"

T = TypeVar("T")


def bool_param(value: bool) -> str:
    """Encode a boolean parameter the way the API spells it ("true"/"false")."""
    return "true" if value else "false"


def parse_empty(body: bytes, method: str) -> None:
    """Check a reply that carries no data (<rsp stat="ok"/>)."""
    read_items(body, method, None, None, _unused)


def _unused(el: etree._Element, method: str) -> None:
    """Builder for replies without items; never called."""


def _single(items: list[T], what: str, method: str) -> T:
    """The one item of a single-value reply; its absence is malformed."""
    if not items:
        raise MalformedResponseError(f"reply has no <{what}>", method=method)
    return items[0]


def parse_devices(body: bytes) -> tuple[Device, ...]:
    """Parse a voxel.devices.list reply."""
    shared = _Shared()

    def build(el: etree._Element, method: str) -> Device:
        return _device(el, method, shared)

    return tuple(read_items(body, DEVICES_LIST, "devices", "device", build))


_RawAccess = tuple[str | None, str | None, str | None, str | None, str | None]
_RawDrives = tuple[tuple[str | None, str | None], ...]


class _Shared:
    """Access methods and drive sets seen earlier in one reply, reused for every device that has equal ones.

    They are frozen, so sharing is safe; in a big inventory most devices repeat them (same users, same disks),
    and not building them again saves a third of the objects, with their memory and time.
    """

    def __init__(self) -> None:
        self.access: dict[_RawAccess, AccessMethod] = {}
        self.drives: dict[_RawDrives, tuple[Drive, ...]] = {}


def _device(el: etree._Element, method: str, shared: _Shared) -> Device:
    """Parse one <device> of devices.list (shape: protocol notes §4.1).

    One flat pass over the device's descendants, twice as fast as walking it level by level: each tag inside
    a device names one field, and the children of an <accessmethod> or a <drive> belong to the latest one seen.
    """
    device_id = _id(el.get("id"), "device id", method)
    description = type_name = model = facility_code = facility_name = None
    zone = cage = row = rack = position = os_name = None
    type_id = model_id = memory_mb = os_architecture = cores = None
    ips: list[IpAssignment] = []
    raw_access: list[_RawAccess] = []
    raw_drives: list[tuple[str | None, str | None]] = []
    # The access method or drive being read; each is stored when the next one starts, or at the end.
    am_type = am_user = am_password = am_address = am_port = None
    in_am = False
    drive_position = drive_size = None
    in_drive = False
    for child in el.iter():
        tag = child.tag
        if tag == "username":
            am_user = child.text
        elif tag == "accessmethod":
            if in_am:
                raw_access.append((am_type, am_user, am_password, am_address, am_port))
            am_type, am_user, am_password, am_address, am_port, in_am = child.get("type"), None, None, None, None, True
        elif tag == "ipassignment":
            ips.append(IpAssignment(_int(child.get("id")), child.get("type"), child.get("description"), child.text))
        elif tag == "description":
            description = child.text
        elif tag == "type":
            type_id, type_name = _int(child.get("id")), child.text
        elif tag == "model":
            model_id, model = _int(child.get("id")), child.text
        elif tag == "facility":
            facility_code, facility_name = child.get("code"), child.text
        elif tag == "zone":
            zone = child.text
        elif tag == "cage":
            cage = child.text
        elif tag == "row":
            row = child.text
        elif tag == "rack":
            rack = child.text
        elif tag == "position":
            position = child.text
        elif tag == "address":
            am_address = child.text
        elif tag == "port":
            am_port = child.text
        elif tag == "password":
            am_password = child.text
        elif tag == "drive":
            if in_drive:
                raw_drives.append((drive_position, drive_size))
            drive_position, drive_size, in_drive = child.get("position"), None, True
        elif tag == "size":
            drive_size = child.text
        elif tag == "memory":
            # [I] the size attribute is read as megabytes.
            memory_mb = _int(child.get("size"))
        elif tag == "name":
            os_name = child.text
        elif tag == "architecture":
            os_architecture = _int(child.text)
        elif tag == "cores":
            cores = _int(child.text)
    if in_am:
        raw_access.append((am_type, am_user, am_password, am_address, am_port))
    if in_drive:
        raw_drives.append((drive_position, drive_size))
    access: list[AccessMethod] = []
    for raw in raw_access:
        known = shared.access.get(raw)
        if known is None:
            known = shared.access[raw] = AccessMethod(raw[0], raw[1], raw[2], raw[3], _int(raw[4]))
        access.append(known)
    drives_key = tuple(raw_drives)
    drives = shared.drives.get(drives_key)
    if drives is None:
        drives = shared.drives[drives_key] = tuple([Drive(pos, _int(size)) for pos, size in raw_drives])
    return Device(
        device_id,
        el.get("label"),
        el.get("status"),
        description,
        type_id,
        type_name,
        model_id,
        model,
        facility_code,
        facility_name,
        zone,
        cage,
        row,
        rack,
        position,
        tuple(ips),
        tuple(access),
        drives,
        memory_mb,
        os_name,
        os_architecture,
        cores,
    )


def parse_images(body: bytes) -> tuple[Image, ...]:
    """Parse a voxel.images.list reply (compact verbosity carries only id and summary)."""
    return tuple(read_items(body, IMAGES_LIST, "images", "image", _image))


def _image(el: etree._Element, method: str) -> Image:
    """Parse one <image> (protocol notes §4.2; <versions> is [I], §8)."""
    image_id = _id(el.get("id"), "image id", method)
    architecture = None
    family = version = product_family = product_version = admin_username = description = None
    versions: tuple[ImageVersion, ...] = ()
    for child in el:
        tag = child.tag
        if tag == "operating_system":
            for part in child:
                ptag = part.tag
                if ptag == "architecture":
                    architecture = _int(part.text)
                elif ptag == "family":
                    family = part.text
                elif ptag == "version":
                    version = part.text
                elif ptag == "product_family":
                    product_family = part.text
                elif ptag == "product_version":
                    product_version = part.text
                elif ptag == "admin_username":
                    admin_username = part.text
        elif tag == "description":
            description = child.text
        elif tag == "versions":
            versions = tuple(
                ImageVersion(_id(v.get("id"), "image version id", method), v.text, v.get("default") == "true")
                for v in child
                if v.tag == "version"
            )
    return Image(
        image_id,
        el.get("summary"),
        architecture,
        family,
        version,
        product_family,
        product_version,
        admin_username,
        description,
        versions,
    )


def parse_vlans(body: bytes) -> tuple[Vlan, ...]:
    """Parse a voxel.ips.list reply ([I] shape from protocol notes §8)."""
    return tuple(read_items(body, IPS_LIST, "vlans", "vlan", _vlan))


def _vlan(el: etree._Element, method: str) -> Vlan:
    """Parse one <vlan> with its <subnet>s."""
    return Vlan(
        _id(el.get("id"), "vlan id", method),
        el.get("type"),
        el.get("facility"),
        el.get("description"),
        tuple([Subnet(s.get("network"), s.get("gateway")) for s in el if s.tag == "subnet"]),
    )


def _device_state(el: etree._Element, method: str) -> DeviceStatus:
    """Parse a <device> of a reimage or status reply: <id>, <last_update>, <status>, [<extended_status>]."""
    device_id = last_update = status = extended = None
    for child in el:
        tag = child.tag
        if tag == "id":
            device_id = child.text
        elif tag == "last_update":
            last_update = child.text
        elif tag == "status":
            status = child.text
        elif tag == "extended_status":
            extended = child.text
    return DeviceStatus(_id(device_id, "device id", method), status, _int(last_update), extended)


def parse_reimage(body: bytes) -> ReimageAccepted:
    """Parse a voxel.voxservers.reimage reply (protocol notes §4.6)."""
    method = VOXSERVERS_REIMAGE
    state = _single(read_items(body, method, None, "device", _device_state), "device", method)
    return ReimageAccepted(state.device_id, state.last_update, state.status)


def parse_statuses(body: bytes) -> tuple[DeviceStatus, ...]:
    """Parse a voxel.voxservers.status reply (protocol notes §4.4, §4.7; extended_status is [I])."""
    return tuple(read_items(body, VOXSERVERS_STATUS, "devices", "device", _device_state))


def parse_api_version(body: bytes) -> ApiVersion:
    """Parse a voxel.hapi.version reply: <version><number/><methods><method name=…/>… ([I] beyond the names)."""
    method = HAPI_VERSION
    return _single(read_items(body, method, None, "version", _api_version), "version", method)


def _api_version(el: etree._Element, method: str) -> ApiVersion:
    """Parse the <version> element."""
    number: str | None = el.get("number")
    names: list[str] = []
    for child in el:
        if child.tag == "number":
            number = child.text
        elif child.tag == "methods":
            # The JS console read method@name; a text-only <method> is accepted too.
            names.extend(name for m in child if m.tag == "method" and (name := m.get("name") or m.text))
    return ApiVersion(number, tuple(names))
