"""Every view that takes input, fed arbitrary query strings and POST bodies: never a 500, every refusal explained.

An answer is one of: 200 (the page, with its error messages), 302 (done, or refused with a message), 400 with a
text, 403, 404. The reimage form's own fuzzing is in test_reimage_views.py; its partial and confirm are here too.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reimaging.models import ApiCall, ReimageJob
from reimaging.tests.factories import DeviceFactory, ImageFactory, ReimageJobFactory, VlanFactory

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HX = {"HX-Request": "true"}

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
value = st.one_of(
    text,
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(
        ["", "0", "-1", "1", "2", "9" * 30, "1e3", "NaN", "2024-02-30", "2024-01-01", "9999-12-31", "0001-01-01",
         "-created", "hostname", "-cores", "failed", "locked", "voxserver", "login_failed", "\x00", "%00",
         "' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "//evil.example/", "https://evil.example/"]
    ),
)  # fmt: skip


def params(*names: str) -> st.SearchStrategy[dict[str, str | list[str]]]:
    """Query or form data: the view's own names (sometimes repeated) and stray ones, with arbitrary values."""
    keys = st.one_of(st.sampled_from(names), text)
    return st.dictionaries(keys, st.one_of(value, st.lists(value, min_size=2, max_size=3)), max_size=len(names) + 2)


def test_fuzz_nul_is_refused_with_a_reason(fuzz) -> None:
    for response in (
        fuzz.client.get(reverse("device_list"), {"q": "a\x00b"}),
        fuzz.client.post(reverse("device_lock", args=[fuzz.device.pk]), {"reason": "\x00"}),
        Client().post(reverse("login"), {"username": "\x00", "password": "x"}),
    ):
        assert response.status_code == 400
        assert "NUL character" in response.content.decode()


def explained(response: Any, where: str) -> None:
    """The answer is one a person can act on; never a server error."""
    assert response.status_code in (200, 302, 400, 403, 404), f"{where}: {response.status_code}"
    if response.status_code == 400:
        assert response.content.strip(), f"{where}: a 400 without a reason"
    if response.status_code == 302:
        location = response["Location"]
        assert location.startswith("/") and not location.startswith("//"), f"{where}: redirected off-site: {location}"
    if not response.streaming:
        response.content  # noqa: B018  (renders it all)
    elif response.status_code == 200 and response.get("Content-Type", "").startswith("text/csv"):
        b"".join(response.streaming_content)


@pytest.fixture
def fuzz(client: Client, make_user: Any) -> SimpleNamespace:
    """An admin's client (every view open to it) and real rows to act on."""
    device = DeviceFactory()
    VlanFactory(account=device.account)
    ImageFactory(account=device.account)
    queued = ReimageJobFactory(device=device)
    failed = ReimageJobFactory(state=ReimageJob.State.FAILED, reason="first try")
    call = ApiCall.objects.create(account=device.account, job=queued, method="voxel.devices.list", stat="ok")
    client.force_login(make_user("admin"))
    return SimpleNamespace(client=client, device=device, queued=queued, failed=failed, call=call)


# --- Query strings -------------------------------------------------------------------------------------------------


@FUZZ
@given(query=params("q", "customer", "facility", "type", "state", "sort", "page"), htmx=st.booleans())
def test_fuzz_device_picker(fuzz, query, htmx: bool) -> None:
    explained(fuzz.client.get(reverse("device_list"), query, headers=HX if htmx else {}), "picker")


def test_fuzz_device_picker_customer_beyond_64_bits(fuzz) -> None:
    response = fuzz.client.get(reverse("device_list"), {"customer": str(2**63), "page": str(2**64)})
    assert response.status_code == 200


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_fuzz_dates_at_the_ends_of_the_calendar(fuzz, settings, zone: str) -> None:
    settings.TIME_ZONE = zone  # east or west of UTC, a day's bounds at year 1 or 9999 fall off the calendar
    for name in ("audit_list", "job_list", "audit_export", "job_export"):
        for query in ({"date_from": "0001-01-01", "date_to": "9999-12-31"}, {"date_from": "9999-12-31"}):
            response = fuzz.client.get(reverse(name), query)
            explained(response, name)
            assert response.status_code == 200
            if not response.streaming:
                assert "Give a date between 1900 and 9998." in response.content.decode()


JOB_FILTERS = ("q", "state", "user", "account", "device", "facility", "image", "date_from", "date_to", "sort", "page")


@FUZZ
@given(query=params(*JOB_FILTERS), htmx=st.booleans())
def test_fuzz_job_list_and_export(fuzz, query, htmx: bool) -> None:
    explained(fuzz.client.get(reverse("job_list"), query, headers=HX if htmx else {}), "job list")
    explained(fuzz.client.get(reverse("job_export"), query), "job export")


@FUZZ
@given(query=params("action", "actor", "date_from", "date_to", "q", "sort", "page"), htmx=st.booleans())
def test_fuzz_audit_list_and_export(fuzz, query, htmx: bool) -> None:
    explained(fuzz.client.get(reverse("audit_list"), query, headers=HX if htmx else {}), "audit list")
    explained(fuzz.client.get(reverse("audit_export"), query), "audit export")


@FUZZ
@given(query=params("partial", "image_id", "job", "rows", "devices", "all_rows", "all_devices"), htmx=st.booleans())
def test_fuzz_pages_with_query_options(fuzz, query, htmx: bool) -> None:
    headers = HX if htmx else {}
    explained(fuzz.client.get(reverse("job_detail", args=[fuzz.queued.pk]), query, headers=headers), "job page")
    explained(fuzz.client.get(reverse("reimage_create", args=[fuzz.device.pk]), query, headers=headers), "form")
    explained(fuzz.client.get(reverse("inventory_status"), query, headers=headers), "sync status")
    # The stream is not read to its end (it does not end); its answer is decided before it starts.
    explained(fuzz.client.get(reverse("event_stream"), query), "stream")


@FUZZ
@given(pk=st.integers(min_value=0, max_value=10**20), call_pk=st.integers(min_value=0, max_value=10**20))
def test_fuzz_path_ids(fuzz, pk: int, call_pk: int) -> None:
    for name in ("device_detail", "job_detail", "job_retry", "reimage_create"):
        explained(fuzz.client.get(reverse(name, args=[pk])), name)
    explained(fuzz.client.get(reverse("job_call_body", args=[fuzz.queued.pk, call_pk])), "call body")
    explained(fuzz.client.post(reverse("job_cancel", args=[pk])), "cancel")


# --- POST bodies ---------------------------------------------------------------------------------------------------


@FUZZ
@given(body=params("reason"), unlock=st.booleans())
def test_fuzz_device_lock_and_unlock(fuzz, body, unlock: bool) -> None:
    name = "device_unlock" if unlock else "device_lock"
    explained(fuzz.client.post(reverse(name, args=[fuzz.device.pk]), body), name)


@FUZZ
@given(body=params("next"))
def test_fuzz_inventory_refresh_stays_on_site(fuzz, body) -> None:
    explained(fuzz.client.post(reverse("inventory_refresh"), body), "refresh")


@FUZZ
@given(body=params("kind", "reason"))
def test_fuzz_job_cancel_and_credentials(fuzz, body) -> None:
    explained(fuzz.client.post(reverse("job_cancel", args=[fuzz.queued.pk]), body), "cancel")
    for job in (fuzz.queued, fuzz.failed):
        response = fuzz.client.post(reverse("job_credentials", args=[job.pk]), body, headers=HX)
        explained(response, "credentials")
        if response.status_code == 200:
            assert 'role="alert"' in response.content.decode()  # says why nothing is revealed


@FUZZ
@given(body=params("reason", "admin_password", "console_password", "ssh_password"), htmx=st.booleans())
def test_fuzz_job_retry(fuzz, body, htmx: bool) -> None:
    response = fuzz.client.post(reverse("job_retry", args=[fuzz.failed.pk]), body, headers=HX if htmx else {})
    explained(response, "retry")
    ReimageJob.objects.filter(retry_of=fuzz.failed).update(state=ReimageJob.State.CANCELLED)  # free the device again


REIMAGE_FIELDS = ("hostname", "image_id", "image_version_id", "swap_space", "backend_ip", "frontend_ip", "reason",
                  "voxel_access", "admin_password", "ssh_username", "postinstall_script", "action", "review_token",
                  "confirm")  # fmt: skip


@FUZZ
@given(body=params(*REIMAGE_FIELDS), field=st.one_of(st.sampled_from(REIMAGE_FIELDS), text), htmx=st.booleans())
def test_fuzz_reimage_validate_and_confirm(fuzz, body, field: str, htmx: bool) -> None:
    headers = HX if htmx else {}
    url = reverse("reimage_validate", args=[fuzz.device.pk])
    explained(fuzz.client.post(url, body, query_params={"field": field}, headers=headers), "validate")
    explained(fuzz.client.post(reverse("reimage_confirm", args=[fuzz.device.pk]), body, headers=headers), "confirm")


@FUZZ
@given(body=params("username", "password", "next"))
def test_fuzz_login(body) -> None:
    response = Client().post(reverse("login"), body)
    assert response.status_code in (200, 302, 400, 429)
    if response.status_code == 302:
        assert response["Location"].startswith("/") and not response["Location"].startswith("//")
