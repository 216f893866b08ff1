"""Inventory sync against voxsim over HTTP: what is stored, what is marked removed, what a failure leaves alone."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from reimaging import selectors, tasks, voxel
from reimaging.models import Account, Device, Image, ImageVersion, IpAssignment, Vlan
from reimaging.services import device_refresh, inventory_sync
from reimaging.tests.factories import AccountFactory, DeviceFactory, IpAssignmentFactory

pytestmark = pytest.mark.django_db

ACME = 1001  # the customer the `account` fixture acts for


def _sim_devices(sim, customer: int = ACME) -> list:
    return sim.sim.world.customer_devices(customer)


def test_inventory_sync_stores_devices_addresses_vlans_and_images(sim, account) -> None:
    result = inventory_sync(account=account)

    expected = _sim_devices(sim)
    assert result.devices == len(expected) == Device.objects.filter(account=account).count()
    first = expected[0]
    device = Device.objects.get(account=account, api_id=first.id)
    assert device.label == first.label
    assert device.facility == first.facility
    assert device.kind == first.kind
    assert device.cores == first.cores and device.disk_gb == first.disk_gb
    addresses = {(ip.kind, ip.address) for ip in device.ip_assignments.all()}
    assert addresses == {(a.type, a.ip) for a in first.ips}
    assert first.ips[0].ip in device.search_text and first.label.lower() in device.search_text
    assert str(first.id) in device.search_text and device.search_text == device.search_text.lower()
    vlan = Vlan.objects.get(account=account, api_id="101")
    assert vlan.kind == Vlan.Kind.FRONTEND and vlan.facility == "lga7"
    assert {"network": "198.18.0.0/27", "gateway": "198.18.0.1"} in vlan.subnets
    assert Image.objects.filter(account=account).count() == result.images > 0
    assert ImageVersion.objects.filter(image__account=account, is_default=True).exists()
    account.refresh_from_db()
    assert account.last_sync_at is not None and account.last_sync_duration is not None
    assert account.last_sync_error == "" and account.last_sync_error_at is None


def test_inventory_sync_marks_devices_that_left_as_removed(sim, account) -> None:
    gone = DeviceFactory(account=account, api_id=999_999)  # a device voxsim does not know: it left the account
    IpAssignmentFactory(device=gone, address="10.9.9.9")

    result = inventory_sync(account=account)

    gone.refresh_from_db()
    assert result.removed == 1
    assert gone.is_removed and gone.removed_at is not None
    assert Device.objects.filter(pk=gone.pk).exists()  # never deleted: history points at it
    assert not gone.ip_assignments.exists()  # its addresses may be someone else's now

    second = inventory_sync(account=account)
    gone.refresh_from_db()
    assert second.removed == 0 and gone.is_removed  # counted once, and stays removed


def test_inventory_sync_brings_back_a_device_that_returns(sim, account) -> None:
    api_id = _sim_devices(sim)[0].id
    DeviceFactory(account=account, api_id=api_id, is_removed=True, removed_at=timezone.now())

    inventory_sync(account=account)

    device = Device.objects.get(account=account, api_id=api_id)
    assert not device.is_removed and device.removed_at is None


def test_inventory_sync_stores_what_changed_and_repairs_addresses(sim, account) -> None:
    inventory_sync(account=account)
    first = _sim_devices(sim)[0]
    device = Device.objects.get(account=account, api_id=first.id)
    first_seen = device.first_seen_at
    sim.sim.set_device(first.id, {"label": "renamed.acme.example", "description": "Moved To Rack 9"})
    device.ip_assignments.all().delete()
    IpAssignmentFactory(device=device, address="10.99.0.5")  # not in the API's list: the sync drops it

    inventory_sync(account=account)

    device.refresh_from_db()
    assert device.label == "renamed.acme.example"
    assert "renamed.acme.example" in device.search_text and "moved to rack 9" in device.search_text
    assert device.first_seen_at == first_seen
    assert {ip.address for ip in device.ip_assignments.all()} == {a.ip for a in first.ips}
    assert IpAssignment.objects.filter(device__account=account).count() == sum(len(d.ips) for d in _sim_devices(sim))


def test_inventory_sync_failed_changes_nothing_stored(sim, account) -> None:
    inventory_sync(account=account)
    account.refresh_from_db()
    synced_at = account.last_sync_at
    before = list(Device.objects.order_by("pk").values_list("pk", "label", "is_removed", "synced_at"))
    addresses = IpAssignment.objects.count()
    first = _sim_devices(sim)[0]
    sim.sim.set_device(first.id, {"label": "must-not-arrive.example"})
    sim.add_fault(kind="http", status=500, count=1, method="voxel.images.list")

    with pytest.raises(voxel.VoxelError):
        inventory_sync(account=account)

    assert list(Device.objects.order_by("pk").values_list("pk", "label", "is_removed", "synced_at")) == before
    assert IpAssignment.objects.count() == addresses
    account.refresh_from_db()
    assert account.last_sync_at == synced_at
    assert account.last_sync_error_at is not None
    assert "could not be reached or answered badly" in account.last_sync_error
    status = selectors.accounts_sync_status()[0]
    assert status.level == "error" and "the last sync failed" in status.text and "data from" in status.text


def test_inventory_sync_rejected_credentials_say_what_to_check(sim, account) -> None:
    account.api_secret = "wrong-secret"
    account.save()

    with pytest.raises(voxel.AuthError):
        inventory_sync(account=account)

    account.refresh_from_db()
    assert "check the account's API key, secret and customer id" in account.last_sync_error
    assert not Device.objects.exists()
    assert selectors.accounts_sync_status()[0].text.startswith("the last sync failed just now")


def test_inventory_sync_task_syncs_one_account(sim, account, redis_url) -> None:
    assert tasks.inventory_sync(account.pk) == 1

    assert Device.objects.filter(account=account).count() == len(_sim_devices(sim))


def test_inventory_sync_task_from_beat_enqueues_one_task_per_active_account(sim, account, monkeypatch) -> None:
    other = AccountFactory(api_url=sim.api_url)
    AccountFactory(api_url=sim.api_url, is_active=False)
    sent: list[tuple[int, ...]] = []
    monkeypatch.setattr(tasks.inventory_sync, "delay", lambda *args: sent.append(args))

    assert tasks.inventory_sync() == 2

    assert sorted(sent) == sorted([(account.pk,), (other.pk,)])  # ids only
    assert not Device.objects.exists()  # the per-account tasks do the work


def test_inventory_sync_task_survives_a_failing_account(sim, account, redis_url) -> None:
    sim.add_fault(kind="http", status=503, count=1, method="voxel.devices.list")

    assert tasks.inventory_sync(account.pk) == 0  # logged, not raised: beat runs it again at the next interval

    account.refresh_from_db()
    assert account.last_sync_error and not Device.objects.exists()


def test_device_refresh_rereads_one_device(sim, account) -> None:
    inventory_sync(account=account)
    first = _sim_devices(sim)[0]
    sim.sim.set_device(first.id, {"label": "fresh.acme.example"})
    device = Device.objects.get(account=account, api_id=first.id)

    device_refresh(device=device)

    device.refresh_from_db()
    assert device.label == "fresh.acme.example" and "fresh.acme.example" in device.search_text
    assert device.ip_assignments.count() == len(first.ips)


def test_accounts_sync_status_words() -> None:
    now = timezone.now()
    AccountFactory(name="A never")
    AccountFactory(name="B ok", last_sync_at=now - timedelta(minutes=2), last_sync_duration=1.24)
    AccountFactory(name="C running", last_sync_at=now - timedelta(hours=3), last_sync_started_at=now)
    AccountFactory(name="D inactive", is_active=False)

    statuses = {s.name: s for s in selectors.accounts_sync_status()}

    assert set(statuses) == {"A never", "B ok", "C running"}
    assert (statuses["A never"].level, statuses["A never"].text) == ("never", "never synced yet")
    assert statuses["B ok"].text == "synced 2 min ago in 1.2 s"
    assert statuses["C running"].level == "running" and "data from 3 h ago" in statuses["C running"].text


@override_settings(
    VOXEL_API_URL="http://127.0.0.1:8081/version/1.0/",
    VOXEL_API_KEY="env-key",
    VOXEL_API_SECRET="env-secret",
    VOXEL_CUSTOMER_ID="1002",
)
def test_seed_account_creates_the_first_account_from_settings_once() -> None:
    out = StringIO()
    call_command("seed_account", stdout=out)
    call_command("seed_account", stdout=out)

    account = Account.objects.get()
    assert (account.api_url, account.api_key, account.customer_id) == (
        "http://127.0.0.1:8081/version/1.0/",
        "env-key",
        "1002",
    )
    assert account.api_secret == "env-secret" and "env-secret" not in account.api_secret_encrypted
    assert "env-secret" not in out.getvalue()
    assert "already" in out.getvalue()
