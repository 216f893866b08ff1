"""The device picker and the inventory sync at 10,000 devices, next to a floor and to Django's admin changelist.

voxsim serves 10,000 devices over HTTP to three customer accounts; they are synced into a throwaway SQLite
database. Then, in this one process, alternating so that drift in machine load hits every series alike:

- inventory_sync_10k: a re-sync of all three accounts (100 devices renamed in voxsim before each run), next to
  the floor of only fetching and parsing the three accounts' lists; inventory_sync_10k_first is the first sync
  into empty tables, next to the same floor;
- picker_page: the first page of /devices/, next to a floor view that renders the same base layout with no data
  for the same logged-in user (it exists only here, in a URLconf of this module);
- picker_page_vs_admin_changelist: the same page next to the admin changelist of Device at the same page size;
- picker_search: the HTMX search fragment (/devices/?q=web, HX-Request), next to the same floor;
- picker_queries: SQL queries per picker page, next to the floor view's.

Each figure is the median of RUNS timings (SYNC_RUNS for the syncs). Run: python -m benchmarks.bench_picker
"""

from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import django_on, figure

DEVICES = 10_000
RUNS = 25
SYNC_RUNS = 3
RENAMED_PER_SYNC = 100
SEARCH = "web"
URLCONF = "benchmarks._bench_picker_urls"
FLOOR_TEMPLATE = '{% extends "base.html" %}{% block content %}<h1>Nothing</h1>{% endblock %}'


def _bench_urlconf() -> None:
    """The app's URLs plus /_bench/floor/: an authenticated page with the base layout and no data."""
    from django.conf import settings
    from django.contrib.auth.decorators import login_required
    from django.http import HttpRequest
    from django.template import engines
    from django.template.response import TemplateResponse
    from django.urls import include, path

    floor_template = engines["django"].from_string(FLOOR_TEMPLATE)

    @login_required
    def floor(request: HttpRequest) -> TemplateResponse:
        return TemplateResponse(request, floor_template, {"nav": "devices"})

    module = types.ModuleType(URLCONF)
    module.urlpatterns = [path("_bench/floor/", floor), path("", include(settings.ROOT_URLCONF))]
    sys.modules[URLCONF] = module


def _seconds(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _accounts(api_url: str) -> list[Any]:
    from reimaging.models import Account
    from voxsim import CUSTOMERS

    accounts = []
    for customer in CUSTOMERS:
        account = Account(name=customer.name, api_url=api_url, api_key="staff-key")
        account.customer_id = str(customer.customer_id)
        account.api_secret = "staff-secret"
        account.save()
        accounts.append(account)
    return accounts


def _sync_all(accounts: list[Any]) -> None:
    from reimaging.services import inventory_sync

    for account in accounts:
        inventory_sync(account=account)


def _fetch_all(accounts: list[Any]) -> None:
    from reimaging.clients import client_for

    for account in accounts:
        client = client_for(account, record=False)
        client.devices_list(verbosity="normal")
        client.ips_list()
        client.images_list(verbosity="extended")


def _sync_figures(sim: Any, accounts: list[Any]) -> dict[str, dict[str, Any]]:
    from reimaging.models import Device, IpAssignment

    first: list[float] = []
    for run in range(SYNC_RUNS):
        if run:
            IpAssignment.objects.all().delete()
            Device.objects.all().delete()
        first.append(_seconds(lambda: _sync_all(accounts)))
    ids = sorted(Device.objects.values_list("api_id", flat=True))
    assert len(ids) == DEVICES
    resync: list[float] = []
    fetch: list[float] = []
    for run in range(SYNC_RUNS):
        for api_id in ids[run * RENAMED_PER_SYNC : (run + 1) * RENAMED_PER_SYNC]:
            sim.sim.set_device(api_id, {"label": f"renamed{run}-{api_id}.example"})
        fetch.append(_seconds(lambda: _fetch_all(accounts)))
        resync.append(_seconds(lambda: _sync_all(accounts)))
    floor = statistics.median(fetch)
    return {
        "inventory_sync_10k": figure(statistics.median(resync), "s", floor=floor),
        "inventory_sync_10k_first": figure(statistics.median(first), "s", floor=floor),
    }


def _seed_activity(user: Any) -> None:
    """Jobs, locks and failed reimages here and there, some on the first page, so badges are rendered too."""
    from reimaging.models import Device, DeviceLock, ReimageJob

    for n, device in enumerate(Device.objects.order_by("label", "pk")[:400]):
        if n % 10 == 1:
            ReimageJob.objects.create(
                account_id=device.account_id, device=device, requested_by=user, requested_by_name="bench", reason="b"
            )
        elif n % 10 == 4:
            DeviceLock.objects.create(device=device, reason="benchmark lock", locked_by=user)
        elif n % 10 == 7:
            Device.objects.filter(pk=device.pk).update(state_undefined=True)


def _page_figures(user: Any) -> dict[str, dict[str, Any]]:
    from django.contrib import admin
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from reimaging import selectors
    from reimaging.models import Device

    client = Client()
    client.force_login(user)
    device_admin = admin.site._registry[Device]
    per_page = device_admin.list_per_page
    device_admin.list_per_page = selectors.PICKER_PAGE_SIZE  # the same page size as the picker
    requests: dict[str, Callable[[], Any]] = {
        "floor": lambda: client.get("/_bench/floor/"),
        "picker": lambda: client.get("/devices/"),
        "search": lambda: client.get("/devices/", {"q": SEARCH}, headers={"HX-Request": "true"}),
        "admin": lambda: client.get("/admin/reimaging/device/"),
    }
    samples: dict[str, list[float]] = {name: [] for name in requests}
    try:
        with override_settings(ROOT_URLCONF=URLCONF):
            for name, call in requests.items():
                response = call()
                assert response.status_code == 200, f"{name}: HTTP {response.status_code}"
            for _ in range(RUNS):
                for name, call in requests.items():
                    samples[name].append(_seconds(call) * 1000)
            with CaptureQueriesContext(connection) as picker_queries:
                requests["picker"]()
            with CaptureQueriesContext(connection) as floor_queries:
                requests["floor"]()
    finally:
        device_admin.list_per_page = per_page
    floor, picker, search, admin_ms = (statistics.median(samples[n]) for n in ("floor", "picker", "search", "admin"))
    return {
        "picker_page": figure(picker, "ms", floor=floor),
        "picker_page_vs_admin_changelist": figure(picker, "ms", peer=admin_ms),
        "picker_search": figure(search, "ms", floor=floor),
        "picker_queries": figure(len(picker_queries), "queries", floor=len(floor_queries)),
    }


def figures() -> dict[str, dict[str, Any]]:
    """Sync 10,000 devices from voxsim into a throwaway database, then time the sync and the picker pages."""
    from voxsim.server import start

    logging.getLogger("voxsim").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="voxweb-bench-picker-"))
    sim = start(devices=DEVICES, seed=1)
    try:
        django_on(workdir / "bench.sqlite3")
        _bench_urlconf()
        from django.contrib.auth import get_user_model

        accounts = _accounts(sim.api_url)
        result = _sync_figures(sim, accounts)
        user = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-password-1")
        _seed_activity(user)
        result.update(_page_figures(user))
        return result
    finally:
        sim.stop()
        from django.db import connections

        connections.close_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    for name, row in figures().items():
        base = "floor" if "floor" in row else "peer"
        print(f"{name}: {row['value']} {row['unit']}; {base} {row[base]}; ratio {row['ratio']}")
