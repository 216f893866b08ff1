"""XML responses built with string joins (fast enough for 10,000 devices), every value escaped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from voxsim import protocol as p
from voxsim.catalog import FACILITIES, Image
from voxsim.world import Device, Vlan, World

PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry at all; a hostile label must not make the whole response unparseable.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Attribute values also escape quotes and whitespace controls, which attribute normalisation would otherwise eat.
_ATTR = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


def text(value: object) -> str:
    """Escape a value for element content."""
    return _INVALID_XML.sub("\ufffd", str(value)).translate(_TEXT)


def attr(value: object) -> str:
    """Escape a value for a double-quoted attribute."""
    return _INVALID_XML.sub("\ufffd", str(value)).translate(_ATTR)


def ok(payload: str) -> str:
    """A success envelope; empty payloads give <rsp stat="ok"/>."""
    if not payload:
        return PROLOG + '<rsp stat="ok"/>\n'
    return f'{PROLOG}<rsp stat="ok">{payload}</rsp>\n'


def fail(code: int, msg: str, extras: str = "") -> str:
    """A failure envelope, with optional debugging elements after <err> (as LC's unauthorized.xml has)."""
    return f'{PROLOG}<rsp stat="fail"><err code="{code}" msg="{attr(msg)}"/>{extras}</rsp>\n'


def auth_extras(method: str, params: Mapping[str, str]) -> str:
    """The <method> and <parameters> echo a code-1 answer carries; values are already masked by the caller."""
    items = "".join(f'<param name="{attr(k)}">{text(v)}</param>' for k, v in params.items())
    return f"<method>{text(method)}</method><parameters>{items}</parameters>"


def _element(name: str, value: object, **attrs: object) -> str:
    attributes = "".join(f' {k}="{attr(v)}"' for k, v in attrs.items())
    return f"<{name}{attributes}>{text(value)}</{name}>"


def _accessmethod(kind: str, password: str | None, *inner: str) -> str:
    secret = f"<password>{text(password)}</password>" if password else ""
    return f'<accessmethod type="{kind}">{"".join(inner)}{secret}</accessmethod>'


def _ip_description(dev: Device, ip_type: str, vlan_id: int) -> str:
    return p.vlan_description(dev.facility, ip_type, vlan_id)


def device(dev: Device, verbosity: str) -> str:
    """One <device> element of devices.list."""
    type_id, type_name = p.DEVICE_TYPES[dev.kind]
    facility = FACILITIES[dev.facility]
    head = (
        f'<device id="{dev.id}" label="{attr(dev.label)}" status="{attr(dev.status)}">'
        + _element("type", type_name, id=type_id)
        + _element("model", dev.model_name, id=dev.model_id)
    )
    facility_xml = _element("facility", facility.name, id=facility.id, code=facility.code)
    if verbosity == "compact":
        return f"{head}<location>{facility_xml}</location></device>"
    ips = "".join(
        _element(
            "ipassignment", a.ip, id=a.id, type=a.type, description=p.vlan_description(dev.facility, a.type, a.vlan_id)
        )
        for a in dev.ips
    )
    secrets = dev.passwords
    parts = [
        head,
        _element("description", dev.description),
        "<location>",
        facility_xml,
        _element("zone", dev.zone, id=dev.zone_id),
        _element("cage", dev.cage, id=dev.cage_id),
        _element("row", dev.row, id=dev.row_id),
        _element("rack", dev.rack, id=dev.rack_id),
        _element("position", dev.position),
        "</location>",
        f"<ipassignments>{ips}</ipassignments>",
        "<accessmethods>",
        _accessmethod("ssh", secrets.get("ssh"), _element("username", dev.ssh_username)),
        _accessmethod("admin", secrets.get("admin"), _element("username", dev.admin_username)),
        _accessmethod(
            "remoteconsole",
            secrets.get("remoteconsole"),
            _element("address", dev.console_address),
            _element("port", dev.console_port),
            _element("username", dev.console_username),
        ),
        "</accessmethods>",
        "<storage>",
        *(f'<drive position="{i}"><size>{size}</size></drive>' for i, size in enumerate(dev.drives)),
        "</storage>",
        f'<memory size="{dev.memory_mb}"/>',
        "<operating_system>",
        _element("name", dev.os_name),
        _element("architecture", dev.os_arch),
        "</operating_system>",
        f"<processor><cores>{dev.cores}</cores></processor>",
    ]
    if verbosity == "extended":
        plan = "VoxCLOUD" if dev.kind == p.KIND_VOXCLOUD else "Voxel TruManaged Server"
        parts.append(_element("service", f"{plan} Configuration {dev.cores}", id=dev.service_id))
        parts.append(_element("power_consumption", 40 + 9 * dev.cores, unit="W"))
    parts.append("</device>")
    return "".join(parts)


def devices(world: World, items: Iterable[Device], verbosity: str) -> str:
    """<devices> payload, reusing each device's cached fragment until the device changes."""
    cache = world.fragments
    out = []
    for dev in items:
        key = (dev.id, verbosity)
        fragment = cache.get(key)
        if fragment is None:
            fragment = cache[key] = device(dev, verbosity)
        out.append(fragment)
    return "<devices>\n" + "\n".join(out) + "\n</devices>"


def image(img: Image, verbosity: str) -> str:
    """One <image> element of images.list."""
    head = f'<image id="{img.id}" summary="{attr(img.summary)}"'
    if verbosity == "compact":
        return head + "/>"
    parts = [
        head + ">",
        "<operating_system>",
        _element("architecture", img.architecture),
        _element("family", "Linux"),
        _element("version", img.kernel),
        _element("product_family", img.product_family),
        _element("product_version", img.product_version),
        _element("admin_username", "root"),
        "</operating_system>",
        f"<filesystem>{_element('type', img.fs_type)}{_element('size', img.fs_size_mb, units='MB')}</filesystem>",
        _element("description", img.description),
    ]
    if verbosity == "extended":
        versions = "".join(
            p.IMAGE_VERSION.format(id=v.id, default="true" if v.default else "false", date=text(v.date))
            for v in img.versions
        )
        parts.append(f"<versions>{versions}</versions>")
    parts.append("</image>")
    return "".join(parts)


def images(items: Iterable[Image], verbosity: str) -> str:
    """<images> payload."""
    return "<images>" + "".join(image(i, verbosity) for i in items) + "</images>"


def vlans(items: Iterable[Vlan]) -> str:
    """<vlans> payload of voxel.ips.list (shape of hapi-protocol.md §8)."""
    out = []
    for vlan in items:
        out.append(
            p.VLAN_OPEN.format(
                id=vlan.id, type=attr(vlan.type), facility=attr(vlan.facility), description=attr(vlan.description)
            )
        )
        out.extend(p.SUBNET.format(network=attr(s.network), gateway=attr(s.gateway)) for s in vlan.subnets)
        out.append(p.VLAN_CLOSE)
    return "<vlans>" + "".join(out) + "</vlans>"


def status_device(device_id: int, status: str, last_update: int, extended: str | None) -> str:
    """One <device> of a status answer; extended_status only when asked for."""
    extra = "" if extended is None else f"<extended_status>{text(extended)}</extended_status>"
    return (
        f"<device><id>{device_id}</id><last_update>{last_update}</last_update>"
        f"<status>{text(status)}</status>{extra}</device>"
    )


def hapi_version(number: str, methods: Iterable[str]) -> str:
    """Payload of voxel.hapi.version."""
    names = "".join(f'<method name="{attr(m)}"/>' for m in methods)
    return p.HAPI_VERSION_OPEN.format(number=text(number)) + names + p.HAPI_VERSION_CLOSE
