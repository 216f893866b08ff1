"""The audit log page: who may read it, filters, paging, HTMX fragments, and the CSV export (and its helper)."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reimaging.audit import audit_record
from reimaging.csvexport import csv_cell, csv_stream_response
from reimaging.models import AuditEntry
from reimaging.views.audit import PAGE_SIZE

pytestmark = pytest.mark.django_db

URL = "/audit/"
EXPORT_URL = "/audit/export.csv"


def entry(action: str = AuditEntry.Action.JOB_STARTED, *, days_ago: float = 0, **fields) -> AuditEntry:
    """An audit entry written the way the app writes them, then placed in time."""
    at = timezone.now() - datetime.timedelta(days=days_ago)
    fields.setdefault("actor_name", "alice")
    return AuditEntry.objects.create(action=action, at=at, **fields)


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- Access ------------------------------------------------------------------------------------------------------


def test_audit_urls() -> None:
    assert reverse("audit_list") == URL
    assert reverse("audit_export") == EXPORT_URL


@pytest.mark.parametrize("url", [URL, EXPORT_URL])
def test_audit_anonymous_is_sent_to_login(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", [None, "viewer", "operator"])
@pytest.mark.parametrize("url", [URL, EXPORT_URL])
def test_audit_is_refused_below_admin(client_as, role: str | None, url: str) -> None:
    assert client_as(role).get(url).status_code == 403
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.EXPORTED).exists()


def test_audit_admin_reads_the_log(client_as) -> None:
    entry(target="job 12", message="ticket #77")
    response = client_as("admin").get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "job 12" in html and "ticket #77" in html and "started a reimage" in html
    assert 'aria-current="page"' in html and 'data-testid="audit-export"' in html


def test_audit_export_needs_its_own_permission(make_user, client) -> None:
    user = make_user(None, "auditor")
    user.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    client.force_login(user)
    assert client.get(URL).status_code == 200
    assert 'data-testid="audit-export"' not in client.get(URL).content.decode()
    assert client.get(EXPORT_URL).status_code == 403


def test_audit_refuses_post(client_as) -> None:
    assert client_as("admin").post(URL).status_code == 405


# --- What the log shows --------------------------------------------------------------------------------------------


def test_audit_logins_show_ip_and_user_agent(make_user, client_as) -> None:
    make_user("viewer", "bob")
    browser = Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux) TestBrowser/1.0")
    browser.post(reverse("login"), {"username": "bob", "password": "wrong"})
    browser.post(reverse("login"), {"username": "bob", "password": "pw-bob"})
    browser.post(reverse("logout"))

    html = client_as("admin").get(URL, {"actor": "bob"}).content.decode()
    for label in ("logged in", "failed to log in", "logged out"):
        assert f"<td>{label}</td>" in html
    assert html.count("203.0.113.9") == 3
    assert html.count("TestBrowser/1.0") >= 3


def test_audit_shows_entries_written_elsewhere(client_as) -> None:
    for action in AuditEntry.Action.values:
        audit_record(actor=None, actor_name="carol", action=action, target=f"thing-{action}")
    html = client_as("admin").get(URL, {"actor": "carol"}).content.decode()
    for action, label in AuditEntry.Action.choices:
        assert f'data-action="{action}"' in html
        assert f"<td>{label}</td>" in html


def test_audit_is_newest_first_unless_asked(client_as) -> None:
    entry(target="job 1", days_ago=2)
    entry(target="job 2", days_ago=1)
    client = client_as("admin")
    assert [e.target for e in client.get(URL, {"q": "job"}).context["page"]] == ["job 2", "job 1"]
    assert [e.target for e in client.get(URL, {"q": "job", "sort": "oldest"}).context["page"]] == ["job 1", "job 2"]


def test_audit_output_is_escaped(client_as) -> None:
    entry(target="<script>alert(1)</script>", user_agent='"><img src=x onerror=alert(1)>')
    html = client_as("admin").get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


# --- Filters ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def spread(db) -> None:
    """Entries across actions, actors, days and texts."""
    entry(AuditEntry.Action.LOGIN, actor_name="alice", target="user alice", days_ago=10)
    entry(AuditEntry.Action.JOB_STARTED, actor_name="bob", target="job 7", message="ticket TKT-99", days_ago=5)
    entry(
        AuditEntry.Action.DEVICE_LOCKED, actor_name="Alice", target="device 3001", message="customer asked", days_ago=1
    )


def shown_targets(response) -> set[str]:
    return {e.target for e in response.context["page"].object_list}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"user alice", "job 7", "device 3001"}),
        ({"action": "job_started"}, {"job 7"}),
        ({"actor": "ALIC"}, {"user alice", "device 3001"}),  # case-insensitive, part of the name
        ({"q": "tkt-99"}, {"job 7"}),  # message
        ({"q": "device 30"}, {"device 3001"}),  # target
        ({"action": "login", "actor": "bob"}, set()),
    ],
)
def test_audit_filters(client_as, spread, params: dict, expected: set[str]) -> None:
    response = client_as("admin").get(URL, params)
    assert shown_targets(response) - {"user admin-user"} == expected


def test_audit_filter_by_date_range_includes_the_whole_last_day(client_as, spread) -> None:
    today = timezone.localdate()
    client = client_as("admin")
    params = {"date_from": str(today - datetime.timedelta(days=6)), "date_to": str(today - datetime.timedelta(days=1))}
    assert shown_targets(client.get(URL, params)) == {"job 7", "device 3001"}
    assert shown_targets(client.get(URL, {"date_to": str(today - datetime.timedelta(days=8))})) == {"user alice"}


def test_audit_invalid_filter_is_reported_and_ignored(client_as, spread) -> None:
    client = client_as("admin")
    response = client.get(URL, {"date_from": "not-a-date", "action": "job_started"})
    assert response.status_code == 200
    assert 'data-testid="audit-filter-errors"' in response.content.decode()
    assert shown_targets(response) == {"job 7"}
    today = timezone.localdate()
    response = client.get(URL, {"date_from": str(today), "date_to": str(today - datetime.timedelta(days=3))})
    assert "The end date is before the start date." in response.content.decode()


def test_audit_form_keeps_the_filters(client_as, spread) -> None:
    html = client_as("admin").get(URL, {"action": "device_locked", "actor": "ali", "q": "asked"}).content.decode()
    assert '<option value="device_locked" selected>' in html
    assert 'value="ali"' in html and 'value="asked"' in html


def test_audit_pages_keep_the_filters_in_links(client_as) -> None:
    for n in range(PAGE_SIZE + 5):
        entry(target=f"job {n}", days_ago=1)
    client = client_as("admin")
    response = client.get(URL, {"action": "job_started", "actor": "", "q": "job"})
    html = response.content.decode()
    assert "page 1 of 2" in html
    assert 'href="/audit/?action=job_started&amp;q=job&amp;page=2"' in html
    assert "actor=" not in html.split('rel="next"')[0].rsplit("<a", 1)[1]  # empty filters are left out
    page2 = client.get(URL, {"action": "job_started", "q": "job", "page": "2"})
    assert len(page2.context["page"].object_list) == 5
    assert client.get(URL, {"page": "999"}).context["page"].number == 2  # past the end: the last page


# --- HTMX ------------------------------------------------------------------------------------------------------------


def test_audit_htmx_gets_only_the_results(client_as, spread) -> None:
    response = client_as("admin").get(URL, {"action": "job_started", "actor": ""}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in html and 'id="audit-form"' not in html
    assert "job 7" in html and "device 3001" not in html
    assert response["HX-Push-Url"] == "/audit/?action=job_started"
    assert "HX-Request" in response["Vary"]


def test_audit_htmx_history_restore_gets_the_whole_page(client_as) -> None:
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    html = client_as("admin").get(URL, headers=headers).content.decode()
    assert "<html" in html and 'id="audit-form"' in html


def test_audit_page_works_without_javascript(client_as) -> None:
    html = client_as("admin").get(URL).content.decode()
    assert '<form id="audit-form" class="toolbar" method="get" action="/audit/"' in html
    assert 'hx-target="#audit-results"' in html and 'hx-push-url="true"' in html
    assert "<script>" not in html and "style=" not in html


# --- CSV export ------------------------------------------------------------------------------------------------------


def test_audit_export_streams_the_filtered_set_and_is_audited(client_as, spread) -> None:
    client = client_as("admin")
    response = client.get(EXPORT_URL, {"action": "device_locked"}, REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="voxweb-audit-')
    rows = rows_of(response)
    assert rows[0] == ["id", "at", "actor", "action", "target", "message", "ip_address", "user_agent"]
    assert [row[4] for row in rows[1:]] == ["device 3001"]
    assert rows[1][3] == "device_locked" and rows[1][2] == "Alice"
    assert datetime.datetime.fromisoformat(rows[1][1]).tzinfo is not None

    export = AuditEntry.objects.get(action=AuditEntry.Action.EXPORTED)
    assert export.actor_name == "admin-user" and export.target == "audit log"
    assert export.ip_address == "198.51.100.4"
    assert "1 entries" in export.message and "action=device_locked" in export.message


def test_audit_export_is_newest_first_and_leaves_out_itself(client_as, spread) -> None:
    rows = rows_of(client_as("admin").get(EXPORT_URL, {"actor": "lice"}))
    assert [row[4] for row in rows[1:]] == ["device 3001", "user alice"]
    assert all(row[3] != "exported" for row in rows[1:])


def test_audit_export_escapes_formulas_and_quotes(client_as) -> None:
    dangerous = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    for text in dangerous:
        entry(target=text, message='said "hi", then\nleft')
    rows = rows_of(client_as("admin").get(EXPORT_URL, {"actor": "alice"}))
    assert sorted(row[4] for row in rows[1:]) == sorted("'" + text for text in dangerous)
    assert {row[5] for row in rows[1:]} == {'said "hi", then\nleft'}  # quoted by the csv module, read back whole


def test_csv_cell_rules() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell(-3) == -3 and csv_cell(1.5) == 1.5 and csv_cell(Decimal("-2.5")) == Decimal("-2.5")
    assert csv_cell(when) == "2026-01-02T03:04:05.678901+00:00"
    assert csv_cell(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert csv_cell("-1") == "'-1"  # text that looks like a number may still be a formula fragment
    assert csv_cell("plain, text") == "plain, text"
    assert csv_cell("a=b") == "a=b"


def test_csv_stream_response_is_lazy_and_safe_to_name() -> None:
    pulled: list[int] = []

    def rows():
        for n in range(3):
            pulled.append(n)
            yield [n, f"=row{n}"]

    response = csv_stream_response('evil"name\r\n.csv', ["n", "=text"], rows())
    assert pulled == []  # nothing is produced before the response is sent
    assert "\n" not in response["Content-Disposition"] and "\r" not in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body == "n,'=text\r\n0,'=row0\r\n1,'=row1\r\n2,'=row2\r\n"
    assert response["Cache-Control"] == "no-store"


def test_csv_stream_response_streams_under_asgi() -> None:
    pulled: list[int] = []

    def rows():
        for n in range(1200):
            pulled.append(n)
            yield [n]

    async def first_part(response) -> bytes:
        async for part in response:  # what Django's ASGI handler does
            return part
        return b""

    response = csv_stream_response("x.csv", ["n"], rows())
    assert async_to_sync(first_part)(response) == b"n\r\n"
    assert len(pulled) < 1200  # a chunk was read, not the whole iterator

    async def all_parts(response) -> list[bytes]:
        return [part async for part in response]

    parts = async_to_sync(all_parts)(csv_stream_response("x.csv", ["n"], rows()))
    assert parts[0] == b"n\r\n" and parts[-1] == b"1199\r\n" and len(parts) == 1201
