"""Inventory sync: devices, VLANs and images of an account, fetched from the hAPI and stored in bulk."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from reimaging import voxel
from reimaging.audit import audit_record
from reimaging.clients import client_for
from reimaging.crypto import DecryptionError
from reimaging.models import Account, AuditEntry, Device, Image, ImageVersion, IpAssignment, Vlan


@dataclass(frozen=True)
class SyncResult:
    """What one inventory sync did."""

    devices: int
    removed: int
    vlans: int
    images: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.devices} devices ({self.removed} removed), {self.vlans} VLANs, {self.images} images"
            f" in {self.seconds:.1f} s"
        )


DEVICE_SYNC_FIELDS = [
    "label", "description", "power_status", "kind", "type_name", "model_name", "facility", "facility_name",
    "location", "os_name", "os_architecture", "cores", "memory_mb", "disk_gb", "access_methods", "frontend_ips",
    "backend_ips", "search_text", "is_removed", "removed_at", "synced_at",
]  # fmt: skip
FRONTEND, BACKEND = Vlan.Kind.FRONTEND.value, Vlan.Kind.BACKEND.value
# What a sync compares to decide whether a stored device changed (the timestamps always differ).
DEVICE_COMPARE_FIELDS = [name for name in DEVICE_SYNC_FIELDS if name not in ("removed_at", "synced_at")]


def _device_fields(api: voxel.Device, now: datetime) -> dict[str, Any]:
    """The stored form of what devices.list says about a device (DEVICE_SYNC_FIELDS)."""
    front = [ip.address for ip in api.ip_assignments if ip.type == FRONTEND and ip.address]
    back = [ip.address for ip in api.ip_assignments if ip.type == BACKEND and ip.address]
    label = api.label or ""
    search = " ".join([label, api.description or "", str(api.id), *front, *back, api.os_name or ""]).lower()
    return {
        "label": label,
        "description": api.description or "",
        "power_status": api.status or "",
        "kind": Device.Kind.VOXCLOUD if api.is_voxcloud else Device.Kind.VOXSERVER,
        "type_name": api.type_name or "",
        "model_name": api.model or "",
        "facility": (api.facility_code or "").lower(),
        "facility_name": api.facility_name or "",
        "location": {
            k: v
            for k, v in (
                ("zone", api.zone),
                ("cage", api.cage),
                ("row", api.row),
                ("rack", api.rack),
                ("position", api.position),
            )
            if v
        },
        "os_name": api.os_name or "",
        "os_architecture": str(api.os_architecture or ""),
        "cores": api.cores,
        "memory_mb": api.memory_mb,
        "disk_gb": api.disk_gb or None,
        "access_methods": [{"type": m.type, "username": m.username} for m in api.access_methods if m.type],
        "frontend_ips": ", ".join(front),
        "backend_ips": ", ".join(back),
        "search_text": search,
        "is_removed": False,
        "removed_at": None,
        "synced_at": now,
    }


def _device_row(account: Account, api: voxel.Device, now: datetime) -> Device:
    return Device(account=account, api_id=api.id, first_seen_at=now, **_device_fields(api, now))


def inventory_sync(*, account: Account) -> SyncResult:
    """Fetch devices, VLANs and images for the account and store them in bulk; on any error store nothing new.

    The three API reads come first; only when all succeeded is the database written, in one transaction, so a
    failed sync leaves what was stored before untouched (and records the error on the account).
    """
    started = time.monotonic()
    Account.objects.filter(pk=account.pk).update(last_sync_started_at=timezone.now())
    try:
        client = client_for(account)
        api_devices = client.devices_list(verbosity="normal")
        api_vlans = client.ips_list()
        api_images = client.images_list(verbosity="extended")
    except voxel.VoxelError as exc:
        _sync_failed(account, voxel_error_text(exc))
        raise
    except DecryptionError as exc:
        _sync_failed(account, str(exc))
        raise
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = Account.objects.select_for_update().get(pk=account.pk)
            removed = _store_devices(locked, api_devices, now)
            _store_vlans(locked, api_vlans)
            _store_images(locked, api_images)
            seconds = time.monotonic() - started
            Account.objects.filter(pk=account.pk).update(
                last_sync_at=now, last_sync_duration=seconds, last_sync_error="", last_sync_error_at=None
            )
    except DatabaseError as exc:
        # Rolled back: what was stored before stays as it was. Say so without the driver's text (it may hold SQL).
        _sync_failed(account, f"The inventory was fetched but could not be stored ({type(exc).__name__}).")
        raise
    return SyncResult(len(api_devices), removed, len(api_vlans), len(api_images), seconds)


def _sync_failed(account: Account, text: str) -> None:
    Account.objects.filter(pk=account.pk).update(last_sync_error=text, last_sync_error_at=timezone.now())


def _ip_key(device_pk: int, ip: voxel.IpAssignment) -> tuple[int, str, str, str, str]:
    address = ip.address or ""
    if ":" in address:
        address = clean_ipv6_address(address)  # as GenericIPAddressField stores it, so the diff compares alike
    return (device_pk, str(ip.id or ""), ip.type or "", address, (ip.description or "")[:500])


def _store_devices(account: Account, api_devices: Sequence[voxel.Device], now: datetime) -> int:
    """Upsert only the devices that changed, mark the ones that left as removed, and diff their addresses.

    A sync usually finds little changed; comparing against what is stored keeps the writes (and the time) in
    proportion to the changes rather than to the size of the account.
    """
    stored: dict[int, tuple[int, tuple[Any, ...]]] = {
        api_id: (pk, tuple(values))
        for api_id, pk, *values in Device.objects.filter(account=account).values_list(
            "api_id", "pk", *DEVICE_COMPARE_FIELDS
        )
    }
    by_id = {d.id: d for d in api_devices}  # once each, even if the API repeated one (an upsert may not)
    changed = []
    for api_id, api in by_id.items():
        fields = _device_fields(api, now)
        before = stored.get(api_id)
        if before is None or before[1] != tuple(fields[name] for name in DEVICE_COMPARE_FIELDS):
            changed.append(Device(account=account, api_id=api_id, first_seen_at=now, **fields))
    Device.objects.bulk_create(
        changed,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["account", "api_id"],
        update_fields=DEVICE_SYNC_FIELDS,
    )
    is_removed = DEVICE_COMPARE_FIELDS.index("is_removed")
    gone = [pk for api_id, (pk, values) in stored.items() if api_id not in by_id and not values[is_removed]]
    for chunk in _chunks(gone, 500):
        Device.objects.filter(pk__in=chunk).update(is_removed=True, removed_at=now)
    # One statement, however many devices: "seen by the API at this sync", also for the unchanged ones.
    Device.objects.filter(account=account, is_removed=False).update(synced_at=now)
    ids = {api_id: pk for api_id, (pk, _) in stored.items()}
    if not by_id.keys() <= ids.keys():
        ids = dict(Device.objects.filter(account=account).values_list("api_id", "pk"))
    _store_addresses(account, list(by_id.values()), ids)
    return len(gone)


def _store_addresses(account: Account, api_devices: Sequence[voxel.Device], ids: dict[int, int]) -> None:
    """Make the stored assignments equal the API's list: delete the ones gone, insert the new ones."""
    kinds = set(Vlan.Kind.values)
    wanted = {_ip_key(ids[d.id], ip) for d in api_devices for ip in d.ip_assignments if ip.address and ip.type in kinds}
    stored: dict[tuple[int, str, str, str, str], list[int]] = {}
    for pk, *key in IpAssignment.objects.filter(device__account=account).values_list(
        "pk", "device_id", "api_id", "kind", "address", "description"
    ):
        stored.setdefault(tuple(key), []).append(pk)  # type: ignore[arg-type]
    # Duplicates of a wanted row are dropped too: the API lists each assignment once.
    stale = [pk for key, pks in stored.items() for pk in (pks if key not in wanted else pks[1:])]
    for chunk in _chunks(stale, 500):
        IpAssignment.objects.filter(pk__in=chunk).delete()
    IpAssignment.objects.bulk_create(
        [
            IpAssignment(device_id=key[0], api_id=key[1], kind=key[2], address=key[3], description=key[4])
            for key in wanted
            if key not in stored
        ],
        batch_size=1000,
    )


def _store_vlans(account: Account, api_vlans: Sequence[voxel.Vlan]) -> None:
    rows = [
        Vlan(
            account=account,
            api_id=str(v.id),
            kind=v.type,
            facility=(v.facility or "").lower(),
            description=v.description or "",
            subnets=[{"network": s.network, "gateway": s.gateway} for s in v.subnets if s.network],
            is_removed=False,
        )
        for v in api_vlans
        if v.type in Vlan.Kind.values
    ]
    Vlan.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["account", "api_id"],
        update_fields=["kind", "facility", "description", "subnets", "is_removed"],
    )
    Vlan.objects.filter(account=account).exclude(api_id__in=[r.api_id for r in rows]).update(is_removed=True)


def _store_images(account: Account, api_images: Sequence[voxel.Image]) -> None:
    rows = [
        Image(
            account=account,
            api_id=i.id,
            summary=i.summary or f"image {i.id}",
            description=i.description or "",
            architecture=str(i.architecture or ""),
            os_family=i.family or "",
            os_product=i.product_family or "",
            os_version=i.product_version or i.version or "",
            admin_username=i.admin_username or "",
            is_removed=False,
        )
        for i in api_images
    ]
    fields = ["summary", "description", "architecture", "os_family", "os_product", "os_version", "admin_username"]
    Image.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["account", "api_id"], update_fields=[*fields, "is_removed"]
    )
    Image.objects.filter(account=account).exclude(api_id__in=[r.api_id for r in rows]).update(is_removed=True)
    image_pks = dict(Image.objects.filter(account=account).values_list("api_id", "pk"))
    versions = [
        ImageVersion(image_id=image_pks[i.id], api_id=v.id, label=v.label or str(v.id), is_default=v.is_default)
        for i in api_images
        for v in i.versions
    ]
    ImageVersion.objects.bulk_create(
        versions, update_conflicts=True, unique_fields=["image", "api_id"], update_fields=["label", "is_default"]
    )
    keep = {(v.image_id, v.api_id) for v in versions}
    stale = [
        pk
        for pk, image_id, api_id in ImageVersion.objects.filter(image__account=account).values_list(
            "pk", "image_id", "api_id"
        )
        if (image_id, api_id) not in keep
    ]
    ImageVersion.objects.filter(pk__in=stale).delete()


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def voxel_error_text(exc: voxel.VoxelError) -> str:
    """Plain words for an API failure, saying what to check; never a secret."""
    if isinstance(exc, voxel.AuthError):
        return "The Voxel API rejected our credentials: check the account's API key, secret and customer id."
    if isinstance(exc, voxel.TransientError):
        return f"The Voxel API could not be reached or answered badly ({exc}); it will be tried again."
    return f"The Voxel API refused the request: {exc}"


def device_refresh(*, device: Device) -> Device:
    """Re-read one device from devices.list (after a reimage: new hostname, OS, IPs) and store it."""
    api_devices = client_for(device.account).devices_list(device_id=device.api_id)
    match = next((d for d in api_devices if d.id == device.api_id), None)
    if match is None:
        raise voxel.DeviceNotFoundError(f"device {device.api_id} is not in devices.list", method="voxel.devices.list")
    row = _device_row(device.account, match, timezone.now())
    with transaction.atomic():
        for name in DEVICE_SYNC_FIELDS:
            setattr(device, name, getattr(row, name))
        device.save(update_fields=DEVICE_SYNC_FIELDS)
        device.ip_assignments.all().delete()
        IpAssignment.objects.bulk_create(
            IpAssignment(
                device=device,
                api_id=str(ip.id or ""),
                kind=ip.type,
                address=ip.address,
                description=(ip.description or "")[:500],
            )
            for ip in match.ip_assignments
            if ip.address and ip.type in Vlan.Kind.values
        )
    return device


def inventory_refresh(*, user: Any, request: HttpRequest | None = None) -> list[int]:
    """Enqueue a sync of every active account after commit (ids only); audited. Returns the account ids."""
    from reimaging.tasks import inventory_sync as inventory_sync_task

    accounts = list(Account.objects.filter(is_active=True).values_list("pk", "name"))
    audit_record(
        actor=user,
        action=AuditEntry.Action.INVENTORY_REFRESHED,
        target="inventory",
        message=", ".join(name for _, name in accounts) or "no active account",
        request=request,
    )
    for pk, _ in accounts:
        transaction.on_commit(partial(inventory_sync_task.delay, pk))
    return [pk for pk, _ in accounts]
