"""Untrusted text: what the API says (labels, descriptions, statuses, errors) and what users type is shown, escaped.

The data comes from a voxsim started with hostile=True (one hostile device per customer) plus labels set through
its control endpoint, synced as the worker would; the API error comes from an injected fault. Checked on the HTML
of every page and live partial, and in Chromium (no dialog, no element the text would have made).
"""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils.html import escape

from conftest import browser_log_in
from reimaging import services, streams
from reimaging.models import ApiCall, Device, JobEvent, ReimageJob
from voxsim import CUSTOMERS
from voxsim.catalog import HOSTILE

REIMAGE = "voxel.voxservers.reimage"
API_ERROR = "Invalid parameter: hostname: <script>alert('api')</script>"
STATUS = "<img src=x onerror=\"alert('status')\"> Partitioning disks (10%)"
REASON = "ticket <b>bold</b> <script>alert('reason')</script>"
LOCK_REASON = "<iframe src=\"javascript:alert('lock')\"></iframe>"
LOGIN_NAME = "<svg/onload=alert('login')>"
LABELS = [label for label, _ in HOSTILE]
DESCRIPTIONS = [description for _, description in HOSTILE]
EVERYTHING = [*LABELS, *DESCRIPTIONS, API_ERROR, STATUS, REASON, LOCK_REASON, LOGIN_NAME]


def hostile_world(sim: Any, make_user: Any) -> SimpleNamespace:
    """An account on the hostile voxsim, synced; a failed job (API error) and a running one (hostile status)."""
    from reimaging.models import Account

    account = Account(
        name="Acme <i>Hosting</i>", api_url=sim.api_url, api_key="staff-key", customer_id=str(CUSTOMERS[0].customer_id)
    )
    account.api_secret = "staff-secret"
    account.save()
    services.inventory_sync(account=account)
    # Every hostile pair on a VoxSERVER of this customer, through voxsim's control endpoint, then synced again.
    servers = list(Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id"))
    for (label, description), device in zip(HOSTILE, servers, strict=False):
        body = {"label": label, "description": description}
        requests.post(f"{sim.url}/_sim/devices/{device.api_id}", json=body, timeout=5).raise_for_status()
    services.inventory_sync(account=account)
    servers = [Device.objects.get(pk=d.pk) for d in servers]
    failed_device, running_device = servers[:2]
    assert failed_device.label == LABELS[0] and running_device.label == LABELS[1]

    operator = make_user("operator", "otto")
    image = account.images.order_by("api_id").first()
    params = {"hostname": "fresh.example.com", "image_id": image.api_id}
    failed = services.reimage_start(device=failed_device, user=operator, reason=REASON, params=params, secrets={})
    sim.add_fault(kind="error", code=300, msg=API_ERROR, method=REIMAGE, count=1)
    services.job_submit(job_id=failed.pk)
    failed.refresh_from_db()
    assert failed.state == ReimageJob.State.FAILED and API_ERROR in failed.error_message

    running = services.reimage_start(device=running_device, user=operator, reason=REASON, params=params, secrets={})
    ReimageJob.objects.filter(pk=running.pk).update(
        state=ReimageJob.State.IN_PROGRESS, extended_status=STATUS, progress=10
    )
    JobEvent.objects.create(job=running, message=STATUS, extended_status=STATUS)
    ApiCall.objects.create(
        account=account, job=running, method="voxel.voxservers.status", stat="ok", response_body=f"<rsp>{STATUS}</rsp>"
    )
    running.refresh_from_db()

    admin = make_user("admin", "ada")
    admin_client = Client()
    admin_client.force_login(admin)
    assert admin_client.post(f"/devices/{servers[2].pk}/lock/", {"reason": LOCK_REASON}).status_code == 302
    Client().post("/accounts/login/", {"username": LOGIN_NAME, "password": "x"})  # a failed login, audited
    return SimpleNamespace(
        account=account, failed=failed, running=running, locked=servers[2], admin=admin_client, devices=servers[:3]
    )


class Markup(HTMLParser):
    """The elements and attributes of a page that hostile text would have made, had it not been escaped."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.made: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("iframe", "b", "i") or (tag == "svg" and values.get("class") != "chart"):
            self.made.append(f"<{tag}>")
        if tag == "script" and not values.get("src"):
            self.made.append("inline <script>")
        if tag == "img" and values.get("src") == "x":
            self.made.append("<img src=x>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.made.append(f"{tag} {name}={value}")


def assert_escaped(html: str, expected: list[str], where: str) -> None:
    """Each expected text shown escaped; no hostile text raw; no element or handler they would have made."""
    for text in expected:
        assert escape(text) in html, f"{where}: {text!r} is not shown (escaped)"
    for text in EVERYTHING:
        assert text not in html, f"{where}: {text!r} is in the HTML unescaped"
    assert Markup(html).made == [], f"{where}: hostile text made markup"


@pytest.fixture
def world(db, hostile_sim, make_user) -> SimpleNamespace:
    hostile_sim.reset()
    try:
        yield hostile_world(hostile_sim, make_user)
    finally:
        hostile_sim.clear_faults()


def test_hostile_text_is_escaped_on_every_page(world) -> None:
    client, failed, running = world.admin, world.failed, world.running
    pages = {
        "/devices/": [*LABELS, *DESCRIPTIONS],
        f"/devices/?q={LABELS[0][:8]}": [LABELS[0]],
        f"/devices/{failed.device_id}/": [LABELS[0], DESCRIPTIONS[0], REASON],
        f"/devices/{world.locked.pk}/": [LOCK_REASON],
        f"/devices/{running.device_id}/reimage/": [LABELS[1]],
        "/jobs/": [REASON],
        f"/jobs/?q={REASON[:6]}": [REASON],
        f"/jobs/{failed.pk}/": [LABELS[0], REASON, API_ERROR],
        f"/jobs/{running.pk}/": [LABELS[1], REASON, STATUS],
        f"/jobs/{failed.pk}/retry/": [REASON],
        "/audit/": [REASON, LOCK_REASON, LOGIN_NAME],
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content.decode(), expected, url)
    htmx = {"HX-Request": "true"}
    assert_escaped(client.get("/devices/?q=hostile", headers=htmx).content.decode(), [LABELS[0]], "picker partial")
    assert_escaped(client.get("/jobs/", headers=htmx).content.decode(), [REASON], "job list partial")
    call = running.api_calls.get(method="voxel.voxservers.status")
    body = client.get(f"/jobs/{running.pk}/calls/{call.pk}/body/", headers=htmx).content.decode()
    assert_escaped(body, [f"<rsp>{STATUS}</rsp>"], "API call body")


def test_hostile_text_is_escaped_in_live_partials(world) -> None:
    failed, running = world.failed, world.running
    for job, text in ((running, STATUS), (failed, API_ERROR)):
        rendered = streams.render_job_status(job.pk)
        assert rendered is not None
        assert_escaped(rendered[0], [text], "job status partial")
    assert_escaped(streams.render_job_row(running.pk), [REASON], "job row partial")
    for device in world.devices:
        for can_reimage in (True, False):
            row = streams.render_device_row(device.pk, can_reimage)
            assert_escaped(row, [device.label], "device row partial")
    notice = streams.render_notice(failed.pk)
    assert notice is not None
    assert_escaped(notice[1], [LABELS[0]], "notice")


# --- In Chromium ---------------------------------------------------------------------------------------------------

INJECTED = """() => ({
  inlineScripts: document.querySelectorAll("script:not([src])").length,
  handlers: document.querySelectorAll("[onerror], [onload], [onclick]").length,
  frames: document.querySelectorAll("iframe, svg:not(.chart), img[src='x']").length,
  bold: [...document.querySelectorAll("b, i")].filter((e) => ["bold", "Hosting"].includes(e.textContent)).length,
  title: document.title,
})"""


@pytest.mark.browser
def test_browser_hostile_text_is_inert(asgi_server, page, hostile_sim, make_user, redis_url) -> None:
    from reimaging.events import job_changed_publish

    hostile_sim.reset()
    try:
        world = hostile_world(hostile_sim, make_user)
    finally:
        hostile_sim.clear_faults()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    browser_log_in(page, asgi_server, "ada")
    page.wait_for_url(f"{asgi_server}/devices/")
    shown = {
        "/devices/": LABELS[0],
        f"/devices/{world.failed.device_id}/": DESCRIPTIONS[0],
        f"/devices/{world.running.device_id}/reimage/": None,
        "/jobs/": REASON,
        f"/jobs/{world.failed.pk}/": API_ERROR,
        "/audit/": LOGIN_NAME,
    }
    for path, text in shown.items():
        page.goto(f"{asgi_server}{path}")
        if text:
            assert page.get_by_text(text, exact=False).first.is_visible(), (path, text)
        found = page.evaluate(INJECTED)
        assert found == {"inlineScripts": 0, "handlers": 0, "frames": 0, "bold": 0, "title": found["title"]}, path
        assert "pwned" not in found["title"]
    # The reimage form carries the label as the hostname's value: text, not markup.
    page.goto(f"{asgi_server}/devices/{world.running.device_id}/reimage/")
    assert page.locator("input[name=hostname]").input_value() == LABELS[1]

    # Live: the running job's page gets a new hostile status over SSE and shows it as text.
    page.goto(f"{asgi_server}/jobs/{world.running.pk}/")
    page.wait_for_selector("#live-status[data-live-status=live]")
    newer = "<img src=x onerror=\"alert('live')\"> Installing (40%)"
    ReimageJob.objects.filter(pk=world.running.pk).update(extended_status=newer, progress=40)
    job_changed_publish(world.running.pk, device_id=world.running.device_id, state="in_progress")
    page.get_by_text(newer).wait_for()
    found = page.evaluate(INJECTED)
    assert (found["inlineScripts"], found["handlers"], found["frames"]) == (0, 0, 0)
    page.wait_for_timeout(300)
    assert dialogs == []
