"""The reimage screens: permissions, the version and inline partials, review, confirm, and secrets kept out of sight."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import browser_log_in
from reimaging import forms as reimage_forms
from reimaging import tasks
from reimaging.crypto import decrypt_json
from reimaging.models import AuditEntry, DeviceLock, ReimageJob
from reimaging.tests.factories import DeviceFactory, IpAssignmentFactory, ReimageJobFactory, UserFactory
from reimaging.tests.test_reimage_form import PASSWORD, make_world, valid_data

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def someone() -> Any:
    """A user to lock devices with."""
    return UserFactory()


@pytest.fixture
def world() -> SimpleNamespace:
    return make_world()


def url(name: str, world: SimpleNamespace) -> str:
    return reverse(name, args=[world.device.pk])


def review(client: Client, world: SimpleNamespace, **overrides: Any) -> str:
    """Submit the form; return the review page's token (the form must be valid)."""
    response = client.post(url("reimage_create", world), valid_data(world, **overrides))
    html = response.content.decode()
    match = re.search(r'name="review_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def confirm(client: Client, world: SimpleNamespace, token: str, **extra: str) -> Any:
    data = {"review_token": token, "confirm": world.device.label, "action": "confirm", **extra}
    return client.post(url("reimage_confirm", world), data)


# --- Permissions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reimage_create", "reimage_validate", "reimage_confirm"])
def test_reimage_anonymous_is_sent_to_login(world, name: str) -> None:
    for response in (Client().get(url(name, world)), Client().post(url(name, world), valid_data(world))):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", ["reimage_create", "reimage_validate", "reimage_confirm"])
@pytest.mark.parametrize("role", [None, "viewer"])  # a viewer, and a user without any role
def test_reimage_viewer_refused_on_get_and_post(client_as, world, name: str, role: str | None) -> None:
    client = client_as(role)
    assert client.get(url(name, world)).status_code == 403
    assert client.post(url(name, world) + "?field=hostname", valid_data(world)).status_code == 403
    assert not ReimageJob.objects.exists()


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_reimage_operator_and_admin_get_the_form(client_as, world, role: str) -> None:
    response = client_as(role).get(url("reimage_create", world))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="web1.example.com"' in html  # the hostname starts as the device's
    assert 'name="swap_space" value="4"' in html  # 1 GB per core
    assert "Allow provider staff access" in html and "may log in to the server" in html


def test_reimage_unknown_device_is_404(client_as) -> None:
    assert client_as("operator").get(reverse("reimage_create", args=[999999])).status_code == 404


def test_reimage_form_shows_why_a_device_cannot_be_reimaged(client_as, world) -> None:
    DeviceLock.objects.create(device=world.device, reason="legal hold", locked_by=someone())
    html = client_as("operator").get(url("reimage_create", world)).content.decode()
    assert "This device cannot be reimaged now." in html and "legal hold" in html


# --- Partials ------------------------------------------------------------------------------------------------------


def test_reimage_version_select_partial_follows_the_image(client_as, world) -> None:
    client = client_as("operator")
    response = client.get(url("reimage_create", world), {"image_id": world.image.api_id}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<div class="field" id="field-image_version_id">')
    assert "<html" not in html
    assert "2024-06-01 (default)" in html and "2024-01-01" in html and "9.3" not in html
    assert "The image&#x27;s default (2024-06-01)" in html
    other = client.get(url("reimage_create", world), {"image_id": world.other_image.api_id}, headers=HX)
    assert "9.3" in other.content.decode() and "2024-06-01" not in other.content.decode()


def test_reimage_version_partial_for_a_bogus_image_is_the_grouped_list(client_as, world) -> None:
    response = client_as("operator").get(url("reimage_create", world), {"image_id": "nope"}, headers=HX)
    assert response.status_code == 200 and "<optgroup" in response.content.decode()


def test_reimage_inline_validation_answers_just_that_field(client_as, world) -> None:
    client = client_as("operator")
    response = client.post(url("reimage_validate", world) + "?field=hostname", {"hostname": "bad_name"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<div class="field has-error" id="field-hostname">')
    assert 'aria-invalid="true"' in html and 'id="id_hostname_error"' in html and "contains “_”" in html
    assert "field-swap_space" not in html and "<html" not in html
    response = client.post(url("reimage_validate", world) + "?field=hostname", {"hostname": "web9"}, headers=HX)
    assert "not fully qualified" in response.content.decode() and "has-error" not in response.content.decode()


def test_reimage_inline_validation_uses_the_trigger_name_too(client_as, world) -> None:
    headers = {**HX, "HX-Trigger-Name": "swap_space"}
    response = client_as("operator").post(url("reimage_validate", world), {"swap_space": "900"}, headers=headers)
    assert "does not fit on this device&#x27;s 500 GB disk" in response.content.decode()


def test_reimage_inline_ip_validation_updates_the_plan_out_of_band(client_as, world) -> None:
    client = client_as("operator")
    response = client.post(
        url("reimage_validate", world) + "?field=backend_ip",
        {"backend_ip": "10.20.0.255", "frontend_ip": ""},
        headers=HX,
    )
    html = response.content.decode()
    assert "is the broadcast address" in html
    assert 'id="ip-plan" class="ip-plan" aria-live="polite" hx-swap-oob="true"' in html
    assert "the current assignment will be discarded" in html
    response = client.post(
        url("reimage_validate", world) + "?field=frontend_ip", {"backend_ip": "", "frontend_ip": ""}, headers=HX
    )
    assert "Both blank: the current assignment is kept." in response.content.decode()


def test_reimage_inline_validation_of_an_unknown_field_is_400(client_as, world) -> None:
    client = client_as("operator")
    assert client.post(url("reimage_validate", world) + "?field=admin_password", {}, headers=HX).status_code == 400
    assert client.post(url("reimage_validate", world), {}, headers=HX).status_code == 400


# --- Form, review, confirm -----------------------------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[Any, ...]]:
    """The arguments of every job_submit message (captured instead of sent: there is no broker here)."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.job_submit, "delay", lambda *args, **kwargs: calls.append((*args, kwargs)))
    return calls


def test_reimage_full_flow_queues_one_job_with_secrets_encrypted(
    client_as, world, enqueued, django_capture_on_commit_callbacks
) -> None:
    client = client_as("operator")
    script = "#!/bin/sh\r\necho 'ready'\r\n"
    response = client.post(
        url("reimage_create", world),
        valid_data(
            world,
            admin_password=PASSWORD,
            ssh_password=PASSWORD + "2",
            backend_ip="10.20.0.9",
            image_version_id=str(world.older.api_id),
            postinstall_script=script,
            voxel_access="on",
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "This erases the server." in page
    assert re.search(
        r'data-param="admin_password">\s*<th[^>]*>.*?</th>\s*<td><span class="badge">set</span>', page, re.S
    )
    assert re.search(r'data-param="console_password">.*?<span class="badge">generated</span>', page, re.S)
    assert "10.20.0.9 (backend); the current assignment is discarded" in page
    assert "web1.example.com</td><td>fresh.example.com" in page
    assert PASSWORD not in page
    token = re.search(r'name="review_token" value="([^"]+)"', page).group(1)

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, world, token)
    assert response.status_code == 302
    job = ReimageJob.objects.get()
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.state == ReimageJob.State.QUEUED
    assert job.reason == "ticket #4711"
    assert job.params == {
        "hostname": "fresh.example.com",
        "image_id": world.image.api_id,
        "image_version_id": world.older.api_id,
        "postinstall_script": script,
        "swap_space": 4,
        "voxel_access": "true",
        "backend_ip": "10.20.0.9",
    }
    assert decrypt_json(job.secrets_encrypted) == {"admin_password": PASSWORD, "ssh_password": PASSWORD + "2"}
    assert job.secrets_set == ["admin_password", "ssh_password"]
    assert enqueued == [(job.pk, {})]  # the message carries the job id only
    followed = client.get(response["Location"]).content.decode()
    assert f"Reimage #{job.pk} of web1.example.com is queued." in followed
    stored = " ".join(
        [
            repr(model_to_dict(job)),
            *(repr(model_to_dict(e)) for e in job.events.all()),
            *(repr(model_to_dict(a)) for a in AuditEntry.objects.all()),
            followed,
            page,
        ]
    )
    assert PASSWORD not in stored
    assert AuditEntry.objects.filter(action=AuditEntry.Action.JOB_STARTED).count() == 1


def test_reimage_uploaded_script_reaches_the_job_exactly(client_as, world) -> None:
    client = client_as("operator")
    raw = "#!/bin/bash\nset -e\n\n  echo 'grüß dich'   \n".encode()
    response = client.post(
        url("reimage_create", world), {**valid_data(world), "postinstall_upload": SimpleUploadedFile("p.sh", raw)}
    )
    token = re.search(r'name="review_token" value="([^"]+)"', response.content.decode()).group(1)
    confirm(client, world, token)
    assert ReimageJob.objects.get().params["postinstall_script"] == raw.decode()


def test_reimage_rejected_form_keeps_input_but_never_passwords(client_as, world) -> None:
    data = valid_data(world, hostname="bad_name", admin_password=PASSWORD, ssh_username="deploy", reason="INC-1")
    response = client_as("operator").post(url("reimage_create", world), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="bad_name"' in html and 'value="deploy"' in html and 'value="INC-1"' in html
    assert PASSWORD not in html
    assert "Re-enter: passwords are never sent back to the browser." in html
    assert not ReimageJob.objects.exists()


def test_reimage_validate_only_sends_nothing(client_as, world, enqueued) -> None:
    client = client_as("operator")
    response = client.post(url("reimage_create", world), valid_data(world, action="validate", admin_password=PASSWORD))
    html = response.content.decode()
    assert "All checks passed; nothing was sent." in html
    assert PASSWORD not in html
    token = review(client, world, admin_password=PASSWORD)
    response = confirm(client, world, token, action="validate", confirm="")
    assert "All checks passed; nothing was sent." in response.content.decode()
    assert not ReimageJob.objects.exists() and enqueued == []


def test_reimage_validate_only_reports_a_failed_check(client_as, world) -> None:
    response = client_as("operator").post(
        url("reimage_create", world), valid_data(world, action="validate", swap_space="0")
    )
    assert "All checks passed" not in response.content.decode()
    assert "Swap must be at least 1 GB" in response.content.decode()


def test_reimage_confirm_needs_the_typed_hostname_or_id(client_as, world) -> None:
    client = client_as("operator")
    token = review(client, world)
    response = confirm(client, world, token, confirm="web2.example.com")
    html = response.content.decode()
    assert response.status_code == 200
    assert "That is not this device&#x27;s hostname or id" in html
    assert 'aria-invalid="true"' in html and "id_confirm_error" in html
    assert not ReimageJob.objects.exists()
    assert confirm(client, world, token, confirm=str(world.device.api_id)).status_code == 302
    assert ReimageJob.objects.count() == 1


def test_reimage_confirm_refused_when_the_device_got_locked_meanwhile(client_as, world) -> None:
    client = client_as("operator")
    token = review(client, world, admin_password=PASSWORD)
    DeviceLock.objects.create(device=world.device, reason="customer backup running", locked_by=someone())
    response = confirm(client, world, token)
    html = response.content.decode()
    assert response.status_code == 200
    assert "customer backup running" in html and 'role="alert"' in html
    assert 'value="fresh.example.com"' in html and PASSWORD not in html
    assert not ReimageJob.objects.exists()


def test_reimage_confirm_refused_when_an_ip_got_taken_meanwhile(client_as, world) -> None:
    client = client_as("operator")
    token = review(client, world, frontend_ip="203.0.113.40")
    IpAssignmentFactory(device=DeviceFactory(account=world.account), kind="frontend", address="203.0.113.40")
    html = confirm(client, world, token).content.decode()
    assert "203.0.113.40 is held by device" in html
    assert 'aria-invalid="true"' in html
    assert not ReimageJob.objects.exists()


def test_reimage_confirm_refused_when_a_job_started_meanwhile(client_as, world) -> None:
    client = client_as("operator")
    token = review(client, world)
    other = ReimageJobFactory(device=world.device)
    html = confirm(client, world, token).content.decode()
    assert f"reimage #{other.pk}" in html
    assert ReimageJob.objects.count() == 1


def test_reimage_confirm_shows_a_refusal_of_the_service_as_a_form_error(client_as, world, monkeypatch) -> None:
    from reimaging import services

    def refuse(**kwargs: Any) -> None:
        raise services.ReimageRefused("Device 1 is busy: reimage #9 by ann, running 0 min.")

    monkeypatch.setattr(services, "reimage_start", refuse)
    client = client_as("operator")
    html = confirm(client, world, review(client, world)).content.decode()
    assert 'id="form-errors"' in html and "reimage #9 by ann" in html


def test_reimage_review_token_is_bound_to_user_and_device(client_as, world, make_user) -> None:
    client = client_as("operator")
    token = review(client, world, admin_password=PASSWORD)
    other_device = make_world(label="web2.example.com").device
    response = client.post(
        reverse("reimage_confirm", args=[other_device.pk]), {"review_token": token, "confirm": "web2.example.com"}
    )
    assert response.status_code == 400 and "could not be read" in response.content.decode()
    colleague = Client()
    colleague.force_login(make_user("admin", username="colleague"))
    response = confirm(colleague, world, token)
    assert response.status_code == 400 and PASSWORD not in response.content.decode()
    tampered = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
    assert confirm(client, world, tampered).status_code == 400
    assert confirm(client, world, "").status_code == 400
    assert not ReimageJob.objects.exists()


def test_reimage_review_token_expires(client_as, world, monkeypatch) -> None:
    client = client_as("operator")
    token = review(client, world, admin_password=PASSWORD, ssh_username="deploy")
    later = time.time() + reimage_forms.REVIEW_MAX_AGE + 1
    monkeypatch.setattr("cryptography.fernet.time.time", lambda: later)
    response = confirm(client, world, token)
    html = response.content.decode()
    assert "so it expired" in html
    assert 'value="deploy"' in html and "Re-enter: passwords are never sent back" in html and PASSWORD not in html
    assert not ReimageJob.objects.exists()


def test_reimage_back_to_the_form_keeps_everything_but_passwords(client_as, world) -> None:
    client = client_as("operator")
    token = review(client, world, admin_password=PASSWORD, postinstall_script="echo hi\n", backend_ip="10.20.0.9")
    html = confirm(client, world, token, action="edit", confirm="").content.decode()
    assert 'value="fresh.example.com"' in html and 'value="10.20.0.9"' in html and "\necho hi\n</textarea>" in html
    assert PASSWORD not in html and "Re-enter: passwords are never sent back" in html


def test_reimage_views_mark_passwords_sensitive(client_as, world) -> None:
    client = client_as("operator")
    response = client.post(url("reimage_create", world), valid_data(world, admin_password=PASSWORD))
    assert {"admin_password", "console_password", "ssh_password"} <= set(
        response.wsgi_request.sensitive_post_parameters
    )
    response = client.post(url("reimage_validate", world) + "?field=hostname", {"hostname": "a"}, headers=HX)
    assert "admin_password" in response.wsgi_request.sensitive_post_parameters
    response = confirm(client, world, "x")
    assert "review_token" in response.wsgi_request.sensitive_post_parameters


def test_reimage_passwords_never_logged(client_as, world, caplog) -> None:
    client = client_as("operator")
    with caplog.at_level("DEBUG"):
        client.post(url("reimage_create", world), valid_data(world, admin_password=PASSWORD, hostname="bad_"))
        client.post(url("reimage_validate", world) + "?field=hostname", {"admin_password": PASSWORD}, headers=HX)
        confirm(client, world, review(client, world, admin_password=PASSWORD))
    assert PASSWORD not in caplog.text


# --- No input answers 500 ------------------------------------------------------------------------------------------

FIELDS = [
    "hostname",
    "image_id",
    "image_version_id",
    "swap_space",
    "backend_ip",
    "frontend_ip",
    "admin_password",
    "console_password",
    "ssh_username",
    "ssh_password",
    "voxel_access",
    "postinstall_script",
    "reason",
    "action",
    "review_token",
    "confirm",
]
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
values = st.one_of(
    text,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "10.20.0.1", "10.20.0.9", "203.0.113.255", "::1", "1e9", "on", "true", "validate", "edit"]),
)
form_data = st.dictionaries(st.sampled_from(FIELDS), values, max_size=len(FIELDS))
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def refused_nul(response: Any) -> bool:
    """A NUL character anywhere in the input is refused before any view, with 400 and a reason (middleware)."""
    return response.status_code == 400 and "NUL character" in response.content.decode()


@pytest.fixture
def fuzz(client_as, world) -> SimpleNamespace:
    client = client_as("operator")
    return SimpleNamespace(client=client, world=world, token=review(client, world, admin_password=PASSWORD))


@HYPOTHESIS
@given(data=form_data, upload=st.one_of(st.none(), st.binary(max_size=200)))
def test_reimage_form_never_answers_500(fuzz, data: dict[str, str], upload: bytes | None) -> None:
    payload: dict[str, Any] = dict(data)
    if upload is not None:
        payload["postinstall_upload"] = SimpleUploadedFile("x.sh", upload)
    response = fuzz.client.post(url("reimage_create", fuzz.world), payload)
    assert response.status_code == 200 or refused_nul(response)


@HYPOTHESIS
@given(field=st.one_of(st.sampled_from(FIELDS), text), data=form_data, image=values)
def test_reimage_partials_never_answer_500(fuzz, field: str, data: dict[str, str], image: str) -> None:
    response = fuzz.client.post(url("reimage_validate", fuzz.world), data, query_params={"field": field}, headers=HX)
    assert response.status_code in (200, 400)
    response = fuzz.client.get(url("reimage_create", fuzz.world), {"image_id": image}, headers=HX)
    assert response.status_code == 200 or refused_nul(response)


@HYPOTHESIS
@given(data=form_data, keep_token=st.booleans())
def test_reimage_confirm_never_answers_500(fuzz, data: dict[str, str], keep_token: bool) -> None:
    if keep_token:
        data = {**data, "review_token": fuzz.token}
    response = fuzz.client.post(url("reimage_confirm", fuzz.world), data)
    assert response.status_code in (200, 302, 400)
    ReimageJob.objects.filter(state=ReimageJob.State.QUEUED).update(state=ReimageJob.State.CANCELLED)


# --- In Chromium ---------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_browser_reimage_from_the_keyboard(asgi_server, page, make_user) -> None:
    world = make_world()
    make_user("operator", "olga")
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    # Failed loads are caught as responses (the browser's own favicon request is not the page's).
    page.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None
    )
    browser_log_in(page, asgi_server, "olga")
    page.wait_for_url(f"{asgi_server}/devices/")
    page.goto(f"{asgi_server}{url('reimage_create', world)}")

    hostname = page.get_by_label("Hostname")
    hostname.fill("bad_name")
    page.keyboard.press("Tab")  # leaving the field checks it on the server
    page.locator("#id_hostname_error").wait_for()
    assert "contains “_”" in page.locator("#id_hostname_error").inner_text()
    assert hostname.get_attribute("aria-invalid") == "true"
    hostname.fill("fresh.example.com")
    page.keyboard.press("Tab")
    page.locator("#id_hostname_error").wait_for(state="detached")

    page.get_by_label("OS image").select_option(str(world.image.api_id))
    # A function, not an expression: polling an expression needs eval, which the Content-Security-Policy forbids.
    page.wait_for_function("() => !document.querySelector('#id_image_version_id optgroup')")
    options = page.locator("#id_image_version_id option").all_inner_texts()
    assert options == ["The image's default (2024-06-01)", "2024-06-01 (default)", "2024-01-01"]

    page.get_by_label("Private (backend) address").fill("10.20.0.9")
    page.keyboard.press("Tab")
    page.get_by_text("the current assignment will be discarded").wait_for()
    page.get_by_label("Admin password").fill(PASSWORD)
    page.get_by_label("Reason").fill("INC-42")
    page.get_by_label("Reason").press("Enter")  # the form's first button: review, never the destructive step

    page.get_by_text("This erases the server.").wait_for()
    assert PASSWORD not in page.content()
    confirm_box = page.get_by_label("Type the device's hostname or id to confirm")
    confirm_box.fill("web1.example.com")
    confirm_box.press("Enter")
    page.wait_for_url(f"{asgi_server}/jobs/*/")
    assert "is queued." in page.locator("#messages").inner_text()
    job = ReimageJob.objects.get()
    assert job.params["backend_ip"] == "10.20.0.9" and job.secrets_set == ["admin_password"]
    assert problems == []


@pytest.mark.browser
def test_browser_reimage_without_javascript(asgi_server, browser, make_user) -> None:
    world = make_world()
    make_user("operator", "nojs")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        browser_log_in(page, asgi_server, "nojs")
        page.goto(f"{asgi_server}{url('reimage_create', world)}")
        page.get_by_label("OS image").select_option(str(world.image.api_id))
        page.get_by_label("Image version").select_option(str(world.other_version.api_id))  # every image's, grouped
        page.get_by_label("Swap space (GB)").fill("0")
        page.get_by_label("Reason").fill("INC-43")
        page.get_by_role("button", name="Review the reimage").click()
        assert "is not a version of the chosen image" in page.locator("#id_image_version_id_error").inner_text()
        assert "Swap must be at least 1 GB" in page.locator("#id_swap_space_error").inner_text()
        page.get_by_label("Image version").select_option(str(world.older.api_id))
        page.get_by_label("Swap space (GB)").fill("8")
        page.get_by_role("button", name="Review the reimage").click()
        page.get_by_label("Type the device's hostname or id to confirm").fill(str(world.device.api_id))
        page.get_by_role("button", name="Reimage web1.example.com now").click()
        page.wait_for_url(f"{asgi_server}/jobs/*/")
        assert ReimageJob.objects.get().params["image_version_id"] == world.older.api_id
    finally:
        context.close()
