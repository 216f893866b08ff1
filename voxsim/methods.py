"""The hAPI methods voxsim answers, each returning the payload inside <rsp stat="ok">."""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voxsim import protocol as p
from voxsim import render
from voxsim.catalog import FACILITIES, IMAGES, Image
from voxsim.world import Device, Job, World

Params = Mapping[str, str]

_LABEL = re.compile(r"[A-Za-z0-9-]{1,63}")
_SSH_USERNAME = re.compile(p.SSH_USERNAME_PATTERN)
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Context:
    """What a method needs: the world, the customer it acts for, the time, and the runtime knobs."""

    world: World
    customer_id: int
    now: float
    api_version: str
    reimage_seconds: float
    fail_rate: float


def _verbosity(params: Params, default: str) -> str:
    value = params.get("verbosity") or default
    if value not in p.VERBOSITIES:
        raise p.invalid_param("verbosity", "must be one of " + ", ".join(p.VERBOSITIES))
    return value


def devices_list(ctx: Context, params: Params) -> str:
    """voxel.devices.list: all the customer's devices, or one with device_id."""
    verbosity = _verbosity(params, "normal")
    if params.get("device_id"):
        items = [ctx.world.find(ctx.customer_id, params["device_id"])]
    else:
        items = ctx.world.customer_devices(ctx.customer_id)
    return render.devices(ctx.world, items, verbosity)


def _image(raw: str | None) -> Image:
    if not raw:
        raise p.invalid_param("image_id", "required")
    try:
        return IMAGES[int(raw)]
    except (ValueError, KeyError):
        raise p.invalid_param("image_id", f"no such image {raw!r}") from None


def images_list(ctx: Context, params: Params) -> str:
    """voxel.images.list: every image, or one with image_id."""
    verbosity = _verbosity(params, "compact")
    items = [_image(params["image_id"])] if params.get("image_id") else list(IMAGES.values())
    return render.images(items, verbosity)


def ips_list(ctx: Context, params: Params) -> str:
    """voxel.ips.list: the customer's VLANs and their subnets, optionally by facility and ip_address_type."""
    facility = params.get("facility", "").strip().lower() or None
    if facility is not None and facility not in FACILITIES:
        raise p.invalid_param("facility", f"no such facility {facility!r}")
    ip_type = params.get("ip_address_type", "").strip().lower() or None
    if ip_type is not None and ip_type not in p.IP_TYPES:
        raise p.invalid_param("ip_address_type", "must be frontend or backend")
    return render.vlans(ctx.world.customer_vlans(ctx.customer_id, facility, ip_type))


def voxservers_status(ctx: Context, params: Params) -> str:
    """voxel.voxservers.status: provisioning state of one VoxSERVER, or of all the customer's VoxSERVERs."""
    extended = _verbosity(params, "compact") == "extended"
    if params.get("device_id"):
        device = ctx.world.find(ctx.customer_id, params["device_id"])
        if device.kind != p.KIND_VOXSERVER:
            raise p.ApiError(p.ERR_WRONG_TYPE, p.MSG_WRONG_TYPE)
        items = [device]
    else:
        items = [d for d in ctx.world.customer_devices(ctx.customer_id) if d.kind == p.KIND_VOXSERVER]
    out = []
    for device in items:
        status, last_update, extended_text = ctx.world.status(device, ctx.now)
        out.append(render.status_device(device.id, status, last_update, extended_text if extended else None))
    return "<devices>" + "".join(out) + "</devices>"


def hapi_version(ctx: Context, params: Params) -> str:
    """voxel.hapi.version: the method list, as the JS console read it."""
    return render.hapi_version(ctx.api_version, sorted([*METHODS, p.METHOD_AUTHKEYS_READ]))


def check_hostname(value: str | None) -> str:
    """Apply the hostname rule of design.md §4; return the hostname or raise invalid_param."""
    if not value:
        raise p.invalid_param("hostname", "required")
    if len(value) > 253:
        raise p.invalid_param("hostname", "longer than 253 characters")
    if not (value[0].isascii() and value[0].isalnum() and value[-1].isascii() and value[-1].isalnum()):
        raise p.invalid_param("hostname", "must begin and end with a letter or digit")
    for label in value.split("."):
        if not label:
            raise p.invalid_param("hostname", "empty label")
        if not _LABEL.fullmatch(label):
            raise p.invalid_param("hostname", "only letters, digits, dashes and dots; labels of 1-63 characters")
    return value


def _image_version(image: Image, raw: str | None) -> int:
    if not raw:
        return image.default_version.id
    try:
        version = image.version(int(raw))
    except ValueError:
        version = None
    if version is None:
        raise p.invalid_param("image_version_id", f"not a version of image {image.id}")
    return version.id


def _swap(raw: str | None, device: Device) -> int:
    if raw is None or raw == "":
        return device.cores  # documented default: 1 GB per processor core
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise p.invalid_param("swap_space", "must be a nonzero whole number of GB")
    if int(raw) >= device.disk_gb:
        raise p.invalid_param("swap_space", f"does not fit the device's {device.disk_gb} GB disk")
    return int(raw)


def _bool(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false"):
        raise p.invalid_param(name, 'must be "true" or "false"')
    return raw == "true"


def _ip(ctx: Context, device: Device, name: str, ip_type: str, raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        address = ipaddress.IPv4Address(raw.strip())
    except ValueError:
        raise p.invalid_param(name, f"{raw!r} is not an IPv4 address") from None
    word = p.VLAN_WORDS[ip_type]
    for vlan in ctx.world.customer_vlans(ctx.customer_id, device.facility, ip_type):
        for subnet, network in zip(vlan.subnets, vlan.networks(), strict=True):
            if address not in network:
                continue
            if address in (network.network_address, network.broadcast_address):
                raise p.invalid_param(name, f"{address} is the network or broadcast address of {network}")
            if str(address) == subnet.gateway:
                raise p.invalid_param(name, f"{address} is the gateway of {network}")
            if str(address) in ctx.world.ips_held(ctx.customer_id, device.id):
                raise p.invalid_param(name, f"{address} is assigned to another device")
            return str(address)
    raise p.invalid_param(name, f"{address} is not in one of your {word} ({ip_type}) VLANs at {device.facility}")


def _password(ctx: Context, raw: str | None) -> str:
    if raw:
        return raw
    rng = ctx.world.rng
    return "".join(rng.choice(_PASSWORD_ALPHABET) for _ in range(p.GENERATED_PASSWORD_LENGTH))


def voxservers_reimage(ctx: Context, params: Params) -> str:
    """voxel.voxservers.reimage: validate as the real API would, then start a job that runs on wall-clock time."""
    if not params.get("device_id"):
        raise p.invalid_param("device_id", "required")
    device = ctx.world.find(ctx.customer_id, params["device_id"])
    if device.kind != p.KIND_VOXSERVER:
        raise p.ApiError(p.ERR_WRONG_TYPE, p.MSG_WRONG_TYPE)
    if device.job is not None and device.job.state == p.STATUS_IN_PROGRESS:
        raise p.ApiError(p.ERR_ACTION_FAILED, p.MSG_REIMAGE_BUSY)
    hostname = check_hostname(params.get("hostname"))
    image = _image(params.get("image_id"))
    version_id = _image_version(image, params.get("image_version_id"))
    swap = _swap(params.get("swap_space"), device)
    voxel_access = _bool("voxel_access", params.get("voxel_access"))
    frontend_ip = _ip(ctx, device, "frontend_ip", p.IP_FRONTEND, params.get("frontend_ip"))
    backend_ip = _ip(ctx, device, "backend_ip", p.IP_BACKEND, params.get("backend_ip"))
    ssh_username = params.get("ssh_username") or None
    if ssh_username is not None and not _SSH_USERNAME.fullmatch(ssh_username):
        raise p.invalid_param("ssh_username", "must be a lowercase Unix user name of at most 32 characters")
    script = params.get("postinstall_script", "")
    if len(script.encode("utf-8")) > p.POSTINSTALL_MAX_BYTES:
        raise p.invalid_param("postinstall_script", f"larger than {p.POSTINSTALL_MAX_BYTES} bytes")
    kickstart = params.get("kickstart") or None
    if kickstart is not None and not kickstart.startswith(("http://", "https://")):
        raise p.invalid_param("kickstart", "must be an http or https URL")
    # Decided now from the seeded RNG, so a run is reproducible and a restart does not change the outcome.
    fail_at = ctx.world.rng.uniform(0.3, 0.9) if ctx.world.rng.random() < ctx.fail_rate else None
    passwords = {
        kind: _password(ctx, params.get(f"{name}_password"))
        for kind, name in (("admin", "admin"), ("remoteconsole", "console"), ("ssh", "ssh"))
    }
    job = Job(
        started=ctx.now,
        duration=ctx.reimage_seconds,
        fail_at=fail_at,
        state=p.STATUS_IN_PROGRESS,
        finished=None,
        hostname=hostname,
        image_id=image.id,
        image_version_id=version_id,
        swap_space=swap,
        voxel_access=voxel_access,
        ssh_username=ssh_username,
        passwords=passwords,
        frontend_ip=frontend_ip,
        backend_ip=backend_ip,
        postinstall=bool(script),
        kickstart=kickstart,
    )
    ctx.world.start_job(device, job)
    return render.status_device(device.id, job.state, device.last_update, None)


METHODS: dict[str, Callable[[Context, Params], str]] = {
    "voxel.devices.list": devices_list,
    "voxel.images.list": images_list,
    "voxel.ips.list": ips_list,
    "voxel.voxservers.reimage": voxservers_reimage,
    "voxel.voxservers.status": voxservers_status,
    "voxel.hapi.version": hapi_version,
}
