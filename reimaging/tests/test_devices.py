"""The device picker (/devices/), the device page, locks and the inventory refresh button."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import browser_log_in
from reimaging import selectors, services
from reimaging.models import AuditEntry, Device, DeviceLock, ReimageJob
from reimaging.services import inventory_sync
from reimaging.tests.factories import (
    AccountFactory,
    DeviceFactory,
    IpAssignmentFactory,
    ReimageJobFactory,
    UserFactory,
    VlanFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PICKER_MAX_QUERIES = 12  # session, user, perms (2), groups, banner, accounts, facilities, count, page, jobs, locks
DEVICE_PAGE_MAX_QUERIES = 13  # + addresses, VLANs, jobs, locks, and the refusal check (lock, active job)


@pytest.fixture
def acme():
    """A synced account with no devices yet."""
    return AccountFactory(name="Acme Hosting", last_sync_at=timezone.now() - timedelta(minutes=2), last_sync_duration=1)


def _rows(html: str) -> list[str]:
    """The device ids of the picker's rows, in order."""
    return re.findall(r'<td class="device-id">(\d+)</td>', html)


def _lock(device: Device, reason: str = "production database") -> DeviceLock:
    return DeviceLock.objects.create(device=device, reason=reason, locked_by=UserFactory(username="alice"))


# --- Picker --------------------------------------------------------------------------------------------------------


def test_device_list_shows_columns_and_badges(client_as, acme) -> None:
    device = DeviceFactory(
        account=acme, api_id=200001, label="web01.acme.example", os_name="CentOS 5", cores=8,
        frontend_ips="198.18.0.2", backend_ips="10.0.0.2",
    )  # fmt: skip
    cloud = DeviceFactory(account=acme, api_id=200002, label="vm01.acme.example", kind=Device.Kind.VOXCLOUD)
    busy = DeviceFactory(account=acme, api_id=200003, label="busy.acme.example")
    job = ReimageJobFactory(device=busy, requested_by=UserFactory(username="bob"))
    locked = DeviceFactory(account=acme, api_id=200004, label="locked.acme.example")
    _lock(locked)
    failed = DeviceFactory(account=acme, api_id=200005, label="failed.acme.example", state_undefined=True)

    html = client_as("operator").get(reverse("device_list")).content.decode()

    assert _rows(html) == ["200003", "200005", "200004", "200002", "200001"]  # by hostname
    for text in ("Acme Hosting", "web01.acme.example", "lga7", "VoxSERVER", "VoxCLOUD", "CentOS 5", "198.18.0.2"):
        assert text in html
    assert f'href="{reverse("device_detail", args=[device.pk])}"' in html
    assert f"reimage #{job.pk} by bob" in html and f'href="{reverse("job_detail", args=[job.pk])}"' in html
    assert "locked by alice" in html
    assert html.count('data-badge="undefined"') == 1 and failed.label in html
    assert "VoxCLOUD virtual machine; only VoxSERVERs can be reimaged here" in html  # the title; shown short
    assert ">VoxCLOUD VM: only VoxSERVERs can be reimaged here<" in html
    assert f"Device {locked.api_id} is locked by alice since" in html
    assert f"Device {busy.api_id} is busy: reimage #{job.pk} by bob" in html
    assert cloud.label in html


def test_device_list_reimage_action_only_for_voxservers_and_permitted_users(client_as, acme) -> None:
    server = DeviceFactory(account=acme)
    cloud = DeviceFactory(account=acme, kind=Device.Kind.VOXCLOUD)

    operator = client_as("operator").get(reverse("device_list")).content.decode()
    viewer = client_as("viewer").get(reverse("device_list")).content.decode()

    assert f'href="{reverse("reimage_create", args=[server.pk])}"' in operator
    assert reverse("reimage_create", args=[cloud.pk]) not in operator
    assert ">Reimage<" not in viewer


def test_device_list_search_matches_hostname_id_ip_and_os(client_as, acme) -> None:
    web = DeviceFactory(account=acme, api_id=200011, label="web01.acme.example", os_name="CentOS 5",
                        search_text="web01.acme.example 200011 198.18.0.2 10.0.0.2 centos 5")  # fmt: skip
    db = DeviceFactory(account=acme, api_id=200012, label="db01.acme.example", os_name="Ubuntu 10.04",
                       search_text="db01.acme.example 200012 198.18.0.9 10.0.0.9 ubuntu 10.04")  # fmt: skip
    client = client_as("viewer")

    def found(q: str) -> list[str]:
        return _rows(client.get(reverse("device_list"), {"q": q}).content.decode())

    assert found("WEB01") == [str(web.api_id)]
    assert found("200012") == [str(db.api_id)]
    assert found("10.0.0.9") == [str(db.api_id)]
    assert found("ubuntu") == [str(db.api_id)]
    assert found("acme 198.18.0.2") == [str(web.api_id)]  # every word must match
    assert sorted(found("acme")) == sorted([str(web.api_id), str(db.api_id)])


def test_device_list_search_over_synced_inventory(client_as, sim, account) -> None:
    inventory_sync(account=account)
    target = sim.sim.world.customer_devices(1001)[3]
    backend = next(a.ip for a in target.ips if a.type == "backend")

    html = client_as("viewer").get(reverse("device_list"), {"q": backend}).content.decode()

    assert _rows(html) == [str(target.id)]


def test_device_list_htmx_returns_only_the_results_and_pushes_the_canonical_url(client_as, acme) -> None:
    DeviceFactory(account=acme, label="web01.acme.example")

    response = client_as("viewer").get(
        reverse("device_list"), {"q": "web01", "customer": "", "facility": "", "sort": "hostname"}, headers=HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="device-results"')
    assert "<html" not in html and 'id="picker-q"' not in html  # the search box being typed in is never replaced
    assert "web01.acme.example" in html
    assert response["HX-Push-Url"] == "/devices/?q=web01"
    assert "HX-Request" in response["Vary"]


def test_device_list_history_restore_gets_the_whole_page(client_as, acme) -> None:
    response = client_as("viewer").get(
        reverse("device_list"), {"q": "web"}, headers={**HTMX, "HX-History-Restore-Request": "true"}
    )

    html = response.content.decode()
    assert "<html" in html and 'id="picker-q"' in html and 'value="web"' in html


def test_device_list_page_works_without_javascript(client_as, acme) -> None:
    html = client_as("viewer").get(reverse("device_list"), {"q": "web", "state": "locked"}).content.decode()

    assert '<form id="picker-form" class="toolbar" method="get" action="/devices/"' in html
    assert '<button type="submit">Search</button>' in html
    assert 'value="web"' in html and '<option value="locked" selected>' in html
    assert '<input type="hidden" name="sort" value="hostname" form="picker-form">' in html


def test_device_list_filters_by_customer_facility_and_type(client_as, acme) -> None:
    other = AccountFactory(name="Blue Fern", last_sync_at=timezone.now())
    a = DeviceFactory(account=acme, facility="lga7")
    b = DeviceFactory(account=acme, facility="ams2", kind=Device.Kind.VOXCLOUD)
    c = DeviceFactory(account=other, facility="ams2")
    client = client_as("viewer")

    def found(**params: str) -> set[str]:
        return set(_rows(client.get(reverse("device_list"), params).content.decode()))

    assert found(customer=str(other.pk)) == {str(c.api_id)}
    assert found(facility="ams2") == {str(b.api_id), str(c.api_id)}
    assert found(facility="AMS2", type="voxcloud") == {str(b.api_id)}
    everything = {str(a.api_id), str(b.api_id), str(c.api_id)}
    assert found(type="nonsense") == everything  # unknown values are ignored
    assert found(customer="99999999999999999999999", page="-3", sort="';drop") == everything


def test_device_list_filters_by_state(client_as, acme) -> None:
    idle = DeviceFactory(account=acme)
    busy = DeviceFactory(account=acme)
    ReimageJobFactory(device=busy)
    done = DeviceFactory(account=acme)
    ReimageJobFactory(device=done, state=ReimageJob.State.SUCCEEDED)
    failed = DeviceFactory(account=acme, state_undefined=True)
    locked = DeviceFactory(account=acme)
    _lock(locked)
    unlocked = DeviceFactory(account=acme)
    DeviceLock.objects.create(device=unlocked, reason="old", locked_by=UserFactory(), unlocked_at=timezone.now())
    removed = DeviceFactory(account=acme, is_removed=True)
    client = client_as("viewer")

    def found(state: str) -> set[str]:
        return set(_rows(client.get(reverse("device_list"), {"state": state}).content.decode()))

    assert found("idle") == {str(d.api_id) for d in (idle, done, unlocked)}
    assert found("reimaging") == {str(busy.api_id)}
    assert found("failed") == {str(failed.api_id)}
    assert found("locked") == {str(locked.api_id)}
    assert found("removed") == {str(removed.api_id)}
    assert str(removed.api_id) not in found("")


def test_device_list_sorts_and_paginates_keeping_the_view_in_the_links(client_as, acme) -> None:
    size = selectors.PICKER_PAGE_SIZE
    total = size + 10
    for n in range(total):
        DeviceFactory(account=acme, api_id=300100 + n, label=f"host{n:03d}.acme.example", cores=n % 7 + 1)
    client = client_as("viewer")

    first = client.get(reverse("device_list"), {"q": "acme", "sort": "-id"}).content.decode()
    second = client.get(reverse("device_list"), {"q": "acme", "sort": "-id", "page": "2"}).content.decode()

    newest = 300100 + total - 1
    assert _rows(first) == [str(newest - n) for n in range(size)]
    assert _rows(second) == [str(300100 + n) for n in range(9, -1, -1)]
    assert 'href="/devices/?q=acme&amp;sort=-id&amp;page=2"' in first
    assert 'hx-get="/devices/?q=acme&amp;sort=-id&amp;page=2"' in first
    assert f"{total} devices match" in first
    # The id column now sorts ascending on a click; the others start ascending, back on page 1.
    assert 'href="/devices/?q=acme&amp;sort=id"' in second
    assert 'href="/devices/?q=acme&amp;sort=cores"' in second
    assert 'aria-sort="descending"' in first
    by_hostname = client.get(reverse("device_list"), {"sort": "-hostname"}).content.decode()
    assert _rows(by_hostname)[0] == str(newest)
    out_of_range = client.get(reverse("device_list"), {"page": "99"}).content.decode()
    assert "Page 2 of 2" in out_of_range


def test_device_list_empty_states(client_as) -> None:
    client = client_as("viewer")
    assert 'data-testid="empty-no-account"' in client.get(reverse("device_list")).content.decode()

    account = AccountFactory(name="Fresh")
    html = client.get(reverse("device_list")).content.decode()
    assert 'data-testid="empty-never-synced"' in html and "Fresh</strong>: never synced yet" in html

    account.last_sync_at = timezone.now()
    account.save()
    assert 'data-testid="empty-no-devices"' in client.get(reverse("device_list")).content.decode()

    DeviceFactory(account=account, label="web01.example")
    html = client.get(reverse("device_list"), {"q": "nothing-like-this"}, headers=HTMX).content.decode()
    assert 'data-testid="empty-no-match"' in html and "nothing-like-this" in html


def test_device_list_shows_sync_status_and_errors_in_plain_words(client_as) -> None:
    now = timezone.now()
    AccountFactory(name="Good", last_sync_at=now - timedelta(minutes=2), last_sync_duration=0.8)
    AccountFactory(
        name="Bad",
        last_sync_at=now - timedelta(hours=1),
        last_sync_error="The Voxel API rejected our credentials: check the account's API key.",
        last_sync_error_at=now - timedelta(minutes=1),
    )

    html = client_as("viewer").get(reverse("device_list")).content.decode()

    assert "Good</strong>: synced 2 min ago" in html
    assert "Bad</strong>: the last sync failed 1 min ago: The Voxel API rejected our credentials" in html


def test_inventory_status_is_the_polled_sync_line(client_as) -> None:
    AccountFactory(name="Good", last_sync_at=timezone.now() - timedelta(minutes=3), last_sync_duration=0.8)

    html = client_as("viewer").get(reverse("inventory_status"), headers=HTMX).content.decode()

    assert html.lstrip().startswith('<section id="sync-status"') and "<html" not in html
    assert 'hx-trigger="every 15s"' in html and "Good</strong>: synced 3 min ago in 0.8 s" in html
    assert client_as(None).get(reverse("inventory_status")).status_code == 403


def test_device_list_query_count_is_constant(client_as, acme, django_assert_max_num_queries) -> None:
    client = client_as("operator")

    def render() -> int:
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(PICKER_MAX_QUERIES):
            assert client.get(reverse("device_list")).status_code == 200
        return len(queries)

    def add(count: int) -> None:
        for n in range(count):
            device = DeviceFactory(account=AccountFactory(last_sync_at=timezone.now()) if n % 5 == 0 else acme)
            if n % 3 == 0:
                ReimageJobFactory(device=device)
            elif n % 3 == 1:
                _lock(device)

    add(5)
    few = render()
    add(55)
    assert render() == few


def test_picker_refusal_matches_the_service(acme) -> None:
    locked = DeviceFactory(account=acme)
    _lock(locked)
    busy = DeviceFactory(account=acme)
    ReimageJobFactory(device=busy, created_at=timezone.now() - timedelta(minutes=7))
    cloud = DeviceFactory(account=acme, kind=Device.Kind.VOXCLOUD)
    removed = DeviceFactory(account=acme, is_removed=True)
    free = DeviceFactory(account=acme)

    rows = [
        row
        for state in ("", "removed")
        for row in selectors.device_picker_page(selectors.PickerQuery(state=state)).object_list
    ]

    assert {row["pk"] for row in rows} == {locked.pk, busy.pk, cloud.pk, removed.pk, free.pk}
    for row in rows:
        assert row["refusal"] == services.device_refusal(Device.objects.get(pk=row["pk"]))
    assert "running 7 min" in next(row["refusal"] for row in rows if row["pk"] == busy.pk)


def test_device_list_escapes_what_the_api_and_users_wrote(client_as, acme) -> None:
    device = DeviceFactory(account=acme, label="<script>x</script>", description='"><img src=x>', os_name="<b>")
    DeviceLock.objects.create(device=device, reason="<i>db</i>", locked_by=UserFactory(username="alice"))

    html = client_as("operator").get(reverse("device_list")).content.decode()

    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<img src=x>" not in html and "&lt;b&gt;" in html
    assert "<i>db</i>" not in html and "&lt;i&gt;db&lt;/i&gt;" in html


def test_device_row_for_live_updates_follows_the_reimage_permission(acme) -> None:
    from reimaging.streams import render_device_row

    device = DeviceFactory(account=acme)
    url = reverse("reimage_create", args=[device.pk])

    with_action = render_device_row(device.pk, True)
    without = render_device_row(device.pk, False)

    assert with_action is not None and without is not None
    assert with_action.startswith(f'<tr id="device-row-{device.pk}" sse-swap="device-row-{device.pk}"')
    assert 'hx-target="this" hx-swap="outerHTML"' in with_action
    assert f'href="{url}"' in with_action and f'href="{url}"' not in without
    ReimageJobFactory(device=device, requested_by=UserFactory(username="bob"))
    assert "reimage #" in (render_device_row(device.pk, True) or "")
    assert render_device_row(999_999, True) is None


# --- Refresh -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_inventory_refresh_enqueues_a_sync_per_account_after_commit(
    client_as, acme, role, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from reimaging import tasks

    other = AccountFactory()
    AccountFactory(is_active=False)
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.inventory_sync, "delay", lambda *args: sent.append(args))
    client = client_as(role)
    assert 'data-testid="inventory-refresh"' in client.get(reverse("device_list")).content.decode()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("inventory_refresh"), {"next": "/devices/?q=web"})

    assert response.status_code == 302 and response["Location"] == "/devices/?q=web"
    assert len(callbacks) == 2
    assert sorted(sent) == sorted([(acme.pk,), (other.pk,)])  # account ids only
    entry = AuditEntry.objects.get(action=AuditEntry.Action.INVENTORY_REFRESHED)
    assert entry.actor_name == f"{role}-user"


def test_inventory_refresh_refuses_viewers_gets_and_foreign_redirects(
    client_as, acme, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from reimaging import tasks

    monkeypatch.setattr(tasks.inventory_sync, "delay", lambda *args: None)
    viewer = client_as("viewer")
    assert 'data-testid="inventory-refresh"' not in viewer.get(reverse("device_list")).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        assert viewer.post(reverse("inventory_refresh")).status_code == 403
    assert not callbacks and not AuditEntry.objects.filter(action=AuditEntry.Action.INVENTORY_REFRESHED).exists()

    operator = client_as("operator")
    assert operator.get(reverse("inventory_refresh")).status_code == 405
    for foreign in ("https://evil.example/", "//evil.example/devices/"):
        response = operator.post(reverse("inventory_refresh"), {"next": foreign})
        assert response["Location"] == reverse("device_list")


# --- Device page ---------------------------------------------------------------------------------------------------


def test_device_detail_shows_attributes_addresses_with_vlans_and_jobs(client_as, acme) -> None:
    device = DeviceFactory(
        account=acme,
        label="web01.acme.example",
        facility="lga7",
        memory_mb=8192,
        location={"rack": "Rack 12"},
        access_methods=[{"type": "ssh", "username": "root"}],
    )
    VlanFactory(account=acme, api_id="201", kind="backend", facility="lga7",
                subnets=[{"network": "10.0.0.0/27", "gateway": "10.0.0.1"}])  # fmt: skip
    VlanFactory(
        account=acme,
        api_id="202",
        kind="backend",
        facility="ams2",
        subnets=[{"network": "10.0.0.0/24", "gateway": "10.0.0.1"}],
    )  # fmt: skip (another facility)
    IpAssignmentFactory(device=device, kind="backend", address="10.0.0.5")
    IpAssignmentFactory(device=device, kind="frontend", address="203.0.113.9")
    old = ReimageJobFactory(device=device, state=ReimageJob.State.FAILED, created_at=timezone.now() - timedelta(days=1))
    new = ReimageJobFactory(device=device, state=ReimageJob.State.SUCCEEDED)

    html = client_as("viewer").get(reverse("device_detail", args=[device.pk])).content.decode()

    for text in ("web01.acme.example", "Acme Hosting", "8192 MB", "Rack 12", "ssh as root", "LGA7 - New York"):
        assert text in html
    assert "VLAN 201" in html and "10.0.0.0/27" in html and "VLAN 202" not in html
    assert "in no VLAN of this account at LGA7" in html  # 203.0.113.9
    assert html.index(f"#{new.pk}<") < html.index(f"#{old.pk}<")  # newest first
    assert f'href="{reverse("job_detail", args=[old.pk])}"' in html


def test_device_detail_reimage_action_and_refusals(client_as, acme) -> None:
    server = DeviceFactory(account=acme)
    cloud = DeviceFactory(account=acme, kind=Device.Kind.VOXCLOUD)
    busy = DeviceFactory(account=acme)
    job = ReimageJobFactory(device=busy)
    client = client_as("operator")

    html = client.get(reverse("device_detail", args=[server.pk])).content.decode()
    assert f'href="{reverse("reimage_create", args=[server.pk])}"' in html
    assert (
        "only VoxSERVERs can be reimaged here" in client.get(reverse("device_detail", args=[cloud.pk])).content.decode()
    )
    busy_html = client.get(reverse("device_detail", args=[busy.pk])).content.decode()
    assert f"is busy: reimage #{job.pk}" in busy_html and reverse("reimage_create", args=[busy.pk]) not in busy_html
    viewer = client_as("viewer").get(reverse("device_detail", args=[server.pk])).content.decode()
    assert reverse("reimage_create", args=[server.pk]) not in viewer


def test_device_detail_lock_buttons_only_for_admins(client_as, acme) -> None:
    device = DeviceFactory(account=acme)
    lock_url = reverse("device_lock", args=[device.pk])

    assert lock_url not in client_as("operator").get(reverse("device_detail", args=[device.pk])).content.decode()
    assert lock_url in client_as("admin").get(reverse("device_detail", args=[device.pk])).content.decode()


def test_device_lock_and_unlock_by_admin(client_as, acme) -> None:
    device = DeviceFactory(account=acme)
    client = client_as("admin")

    response = client.post(
        reverse("device_lock", args=[device.pk]), {"reason": "customer's production DB"}, follow=True
    )

    html = response.content.decode()
    assert "is locked: it cannot be reimaged until it is unlocked" in html
    assert "Locked by <strong>admin-user</strong>" in html and reverse("device_unlock", args=[device.pk]) in html
    assert services.device_refusal(device).startswith(f"Device {device.api_id} is locked by admin-user")
    again = client.post(reverse("device_lock", args=[device.pk]), {"reason": "again"}, follow=True)
    assert "is already locked" in again.content.decode()

    html = client.post(reverse("device_unlock", args=[device.pk]), follow=True).content.decode()
    assert f"Device {device.api_id} is unlocked." in html and "Not locked." in html
    assert "is not locked" in client.post(reverse("device_unlock", args=[device.pk]), follow=True).content.decode()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditEntry.Action.DEVICE_LOCKED, AuditEntry.Action.DEVICE_UNLOCKED} <= actions


def test_device_lock_needs_a_reason_a_post_and_the_admin_role(client_as, acme) -> None:
    device = DeviceFactory(account=acme)
    url = reverse("device_lock", args=[device.pk])

    assert client_as("operator").post(url, {"reason": "x"}).status_code == 403
    admin = client_as("admin")
    assert admin.get(url).status_code == 405
    assert "Say why the device is locked." in admin.post(url, {"reason": "  "}, follow=True).content.decode()
    assert not DeviceLock.objects.exists()
    assert client_as("viewer").post(reverse("device_unlock", args=[device.pk])).status_code == 403


def test_device_detail_query_count_is_constant(client_as, acme, django_assert_max_num_queries) -> None:
    device = DeviceFactory(account=acme)
    VlanFactory(account=acme, subnets=[{"network": "10.200.0.0/16", "gateway": "10.200.0.1"}])
    client = client_as("admin")

    def render() -> int:
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(DEVICE_PAGE_MAX_QUERIES):
            assert client.get(reverse("device_detail", args=[device.pk])).status_code == 200
        return len(queries)

    def add(count: int) -> None:
        for _ in range(count):
            IpAssignmentFactory(device=device)
            ReimageJobFactory(device=device, state=ReimageJob.State.SUCCEEDED)
            DeviceLock.objects.create(device=device, reason="r", locked_by=UserFactory(), unlocked_at=timezone.now())

    add(5)
    few = render()
    add(55)
    assert render() == few


def test_device_detail_missing_device_is_404(client_as) -> None:
    assert client_as("viewer").get(reverse("device_detail", args=[999999])).status_code == 404


# --- In the browser ------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_browser_picker_search_as_you_type_keeps_the_box_and_the_url(asgi_server, page, make_user) -> None:
    make_user("viewer", "vera")
    account = AccountFactory(name="Acme Hosting", last_sync_at=timezone.now())
    for n in range(30):
        DeviceFactory(account=account, label=f"{'web' if n % 2 else 'db'}{n:02d}.acme.example", facility="lga7")
    DeviceFactory(account=account, label="web99.acme.example", facility="ams2")
    browser_log_in(page, asgi_server, "vera")
    page.wait_for_url(f"{asgi_server}/devices/")
    assert page.get_by_test_id("result-count").inner_text().startswith("31 devices")

    box = page.get_by_label("Search")
    page.evaluate("window.searchBox = document.getElementById('picker-q')")
    box.press_sequentially("web", delay=40)
    page.wait_for_url(f"{asgi_server}/devices/?q=web")
    page.get_by_test_id("result-count").filter(has_text="16 devices match").wait_for()
    # For screen readers; the announcement is written just after the swap, so wait for it rather than race it.
    page.wait_for_function(
        "() => (document.getElementById('picker-announce').innerText || '').startsWith('16 devices match')"
    )
    # The box being typed in was never replaced, and still has the keyboard.
    assert page.evaluate(
        "document.getElementById('picker-q') === window.searchBox && document.activeElement === window.searchBox"
    )
    assert box.input_value() == "web"

    page.get_by_label("Facility").select_option("ams2")
    page.wait_for_url(f"{asgi_server}/devices/?q=web&facility=ams2")
    page.get_by_test_id("result-count").filter(has_text="1 device match").wait_for()

    page.go_back()
    page.wait_for_url(f"{asgi_server}/devices/?q=web")
    page.get_by_test_id("result-count").filter(has_text="16 devices match").wait_for()
    assert page.get_by_label("Facility").input_value() == ""

    page.reload()
    assert page.get_by_label("Search").input_value() == "web"
    assert page.get_by_test_id("result-count").inner_text().startswith("16 devices match")

    # A sort chosen by clicking a heading survives further typing (it lives in the URL and in the form).
    page.get_by_role("link", name="Id").click()
    page.wait_for_url(f"{asgi_server}/devices/?q=web&sort=id")
    page.get_by_label("Search").fill("web9")
    page.wait_for_url(f"{asgi_server}/devices/?q=web9&sort=id")
    page.get_by_test_id("result-count").filter(has_text="1 device matches").wait_for()


@pytest.mark.browser
def test_browser_picker_works_without_javascript(asgi_server, browser, make_user) -> None:
    make_user("viewer", "nojs")
    account = AccountFactory(last_sync_at=timezone.now())
    DeviceFactory(account=account, label="web01.acme.example")
    DeviceFactory(account=account, label="db01.acme.example")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        browser_log_in(page, asgi_server, "nojs")
        page.wait_for_url(f"{asgi_server}/devices/")
        page.get_by_label("Search").fill("db01")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(f"{asgi_server}/devices/?q=db01*")
        assert page.get_by_test_id("result-count").inner_text().startswith("1 device match")
        assert page.get_by_role("link", name="db01.acme.example").count() == 1
    finally:
        context.close()


@pytest.mark.browser
def test_browser_picker_row_goes_live_when_its_job_changes(asgi_server, page, make_user) -> None:
    from reimaging.events import job_changed_publish

    make_user("operator", "otto")
    account = AccountFactory(last_sync_at=timezone.now())
    device = DeviceFactory(account=account, label="live01.acme.example")
    DeviceFactory(account=account, label="other01.acme.example")
    browser_log_in(page, asgi_server, "otto")
    page.wait_for_url(f"{asgi_server}/devices/")
    page.locator("#live-status[data-live-status='live']").wait_for()
    row = page.locator(f"#device-row-{device.pk}")
    assert row.get_by_role("link", name="Reimage", exact=True).count() == 1

    job = ReimageJobFactory(device=device, requested_by=UserFactory(username="bob"))
    job_changed_publish(job.pk, device_id=device.pk, state=job.state)

    row.locator("[data-badge='active']").filter(has_text=f"reimage #{job.pk} by bob").wait_for()
    assert row.get_by_role("link", name="Reimage", exact=True).count() == 0
    assert page.locator("#device-results tbody tr").count() == 2  # only that row changed, in place
