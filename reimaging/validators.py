"""The reimage rules of design.md §4 that need more than a field type: hostnames, and addresses in the customer's VLANs.

Each refusal is a ValidationError whose message says what is wrong and how to fix it; the form, the inline check
and the confirm step all call these same functions.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from reimaging.models import Device, IpAssignment, Vlan

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

HOSTNAME_MAX = 253
LABEL_MAX = 63
_HOSTNAME_CHAR = re.compile(r"[A-Za-z0-9.-]")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# How many free addresses to offer per VLAN, and how many candidates to look at before giving up (a /16 is never
# enumerated: a VLAN whose first addresses are all taken simply offers fewer).
FREE_PER_VLAN = 20
SCAN_LIMIT_PER_VLAN = 4096
_SCAN_BATCH = 256


def _describe_char(char: str) -> str:
    """A character as a person can read it in a message."""
    if char == " ":
        return "a space"
    if not char.isprintable() or char.isspace():
        return f"the invisible character U+{ord(char):04X}"
    return f"“{char}”"


def hostname_clean(value: str) -> tuple[str, str | None]:
    """Check a hostname; return it (surrounding whitespace trimmed) and a warning, or raise ValidationError."""
    name = value.strip()
    if not name:
        raise ValidationError("Enter the server's hostname, e.g. web1.example.com.", code="required")
    bad = list(dict.fromkeys(c for c in name if not _HOSTNAME_CHAR.fullmatch(c)))
    if bad:
        listed = ", ".join(_describe_char(c) for c in bad[:3])
        raise ValidationError(
            f"The hostname contains {listed}, which a hostname cannot have: use only letters a-z, digits, "
            "dashes (-) and dots (.), e.g. web-1.example.com.",
            code="characters",
        )
    if not _ALNUM.fullmatch(name[0]):
        raise ValidationError(
            f"The hostname must begin with a letter or a digit, not {_describe_char(name[0])}: remove it.",
            code="begin",
        )
    if not _ALNUM.fullmatch(name[-1]):
        hint = "remove the final dot" if name[-1] == "." else "remove it"
        raise ValidationError(
            f"The hostname must end with a letter or a digit, not {_describe_char(name[-1])}: {hint}.",
            code="end",
        )
    if ".." in name:
        raise ValidationError(
            "The hostname has an empty part (two dots in a row): remove the extra dot.", code="empty_label"
        )
    if len(name) > HOSTNAME_MAX:
        raise ValidationError(
            f"The hostname is {len(name)} characters long; the limit is {HOSTNAME_MAX}: shorten it.", code="length"
        )
    for label in name.split("."):
        if len(label) > LABEL_MAX:
            raise ValidationError(
                f"The part “{label[:20]}…” is {len(label)} characters long; each part between dots may have at most "
                f"{LABEL_MAX}: shorten it.",
                code="label_length",
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValidationError(
                f"The part “{label}” begins or ends with a dash; each part between dots must begin and end with a "
                "letter or a digit: move or remove the dash.",
                code="label_dash",
            )
    warning = None
    if "." not in name:
        warning = (
            f"“{name}” is not fully qualified (it has no domain). It is accepted, but a full name such as "
            f"{name}.example.com is recommended."
        )
    return name, warning


# --- Addresses -----------------------------------------------------------------------------------------------------


def _kind_label(kind: str) -> str:
    return str(Vlan.Kind(kind).label)


def _is_host(address: IPAddress, network: IPNetwork) -> bool:
    """Whether an address of the network may be given to a server (not its network or broadcast address)."""
    if network.version == 4:
        if network.prefixlen >= 31:  # point-to-point and single-host networks have no network/broadcast address
            return True
        return address not in (network.network_address, network.broadcast_address)
    return network.prefixlen >= 127 or address != network.network_address


def _gateway(subnet: dict[str, object]) -> IPAddress | None:
    try:
        return ipaddress.ip_address(str(subnet.get("gateway") or ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class Subnet:
    """One subnet of a VLAN, parsed; VLAN rows with unparseable subnets are skipped, not fatal."""

    vlan: Vlan
    network: IPNetwork
    gateway: IPAddress | None


def vlan_subnets(*, device: Device, kind: str) -> list[Subnet]:
    """The subnets of the device's account's VLANs of that kind at the device's facility (not removed)."""
    vlans = Vlan.objects.filter(account_id=device.account_id, kind=kind, facility=device.facility, is_removed=False)
    subnets = []
    for vlan in vlans:
        for subnet in vlan.subnets if isinstance(vlan.subnets, list) else []:
            if not isinstance(subnet, dict):
                continue
            try:
                network = ipaddress.ip_network(str(subnet.get("network")), strict=False)
            except ValueError:
                continue
            subnets.append(Subnet(vlan=vlan, network=network, gateway=_gateway(subnet)))
    return subnets


def _holder(address: str, device: Device) -> Device | None:
    held = IpAssignment.objects.filter(address=address).exclude(device_id=device.pk).select_related("device").first()
    return held.device if held else None


def ip_clean(value: str, *, device: Device, kind: str) -> str:
    """Check an optional address for the device; return it ("" when blank) or raise ValidationError."""
    text = value.strip()
    if not text:
        return ""
    what = _kind_label(kind)
    if "/" in text:
        raise ValidationError(
            f"Give one address without a prefix length (no “/{text.partition('/')[2][:10]}”), e.g. 10.1.0.5.",
            code="prefix",
        )
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is None or (isinstance(address, ipaddress.IPv6Address) and address.scope_id):
        raise ValidationError(
            f"“{text[:60]}” is not an IP address: write it as four numbers separated by dots, e.g. 10.1.0.5.",
            code="invalid",
        )
    subnets = vlan_subnets(device=device, kind=kind)
    facility = device.facility or "(no facility)"
    if not subnets:
        raise ValidationError(
            f"The customer {device.account.name} has no {what} VLAN at {facility}, so no {kind} address can be "
            "given: leave this blank.",
            code="no_vlan",
        )
    subnet = next((s for s in subnets if address in s.network), None)
    if subnet is None:
        listed = ", ".join(str(s.network) for s in subnets[:4]) + (
            f" and {len(subnets) - 4} more" if len(subnets) > 4 else ""
        )
        raise ValidationError(
            f"{address} is not in the customer's {what} VLAN subnets at {facility} ({listed}): pick one of the free "
            "addresses offered.",
            code="outside",
        )
    if not _is_host(address, subnet.network):
        which = "network" if address == subnet.network.network_address else "broadcast"
        raise ValidationError(
            f"{address} is the {which} address of {subnet.network}, not a host address: pick another address.",
            code=which,
        )
    if subnet.gateway is not None and address == subnet.gateway:
        raise ValidationError(
            f"{address} is the gateway of {subnet.network} (VLAN {subnet.vlan.api_id}): pick another address.",
            code="gateway",
        )
    holder = _holder(str(address), device)
    if holder is not None:
        raise ValidationError(
            f"{address} is held by device {holder.api_id} ({holder.label or 'no hostname'}): pick a free address.",
            code="taken",
        )
    return str(address)


@dataclass
class VlanOffer:
    """The first free addresses of one VLAN, to pick from."""

    vlan: Vlan
    networks: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)


def _candidates(subnet: Subnet) -> Iterator[str]:
    """Host addresses of a subnet, lazily, without its gateway."""
    for address in subnet.network.hosts():
        if address != subnet.gateway:
            yield str(address)


def free_addresses(*, device: Device, kind: str, per_vlan: int = FREE_PER_VLAN) -> list[VlanOffer]:
    """Up to per_vlan free addresses of each of the device's VLANs of that kind; bounded work on any subnet size."""
    offers: dict[int, VlanOffer] = {}
    scanned: dict[int, int] = {}
    for subnet in vlan_subnets(device=device, kind=kind):
        offer = offers.setdefault(subnet.vlan.pk, VlanOffer(vlan=subnet.vlan))
        offer.networks.append(str(subnet.network))
        candidates = _candidates(subnet)
        while len(offer.addresses) < per_vlan and scanned.get(subnet.vlan.pk, 0) < SCAN_LIMIT_PER_VLAN:
            batch = [a for _, a in zip(range(_SCAN_BATCH), candidates, strict=False)]
            if not batch:
                break
            scanned[subnet.vlan.pk] = scanned.get(subnet.vlan.pk, 0) + len(batch)
            held = set(
                IpAssignment.objects.filter(address__in=batch)
                .exclude(device_id=device.pk)
                .values_list("address", flat=True)
            )
            offer.addresses.extend(a for a in batch if a not in held)
        del offer.addresses[per_vlan:]
    return list(offers.values())
