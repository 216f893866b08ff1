"""The permission matrix: every URL pattern x every role x GET and POST, with the expected answer in ONE table.

A new URL pattern without a row here fails the suite, and so does a view whose answer for some role changes.
Reading a row: (GET, POST) for each of anonymous, a user without a role, viewer, operator and admin.
302 means "redirected": for anonymous users always to the login page, which the test checks; 405 means the
method is not allowed (checked before the permission where the view's decorators say so).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin import site as admin_site
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from reimaging.models import ApiCall, ReimageJob
from reimaging.tests.factories import DeviceFactory, ReimageJobFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "none", "viewer", "operator", "admin")
A = (302, 302)  # anonymous: every page but the public ones sends to the login page, whatever the method

# URL name -> {role: (GET status, POST status)}
MATRIX: dict[str, dict[str, tuple[int, int]]] = {
    # Public: health for load balancers, the login page, the live stream (an EventSource cannot follow a redirect).
    "healthz": {r: (503, 405) for r in ROLES},  # 503: the test settings' Redis, worker and API are all down
    "login": {r: (200, 200) for r in ROLES},  # an empty POST is the form again, with its errors
    "event_stream": {"anonymous": (401, 405), "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                     "admin": (200, 405)},
    # Any logged-in user: their own session and password.
    "logout": {"anonymous": A, "none": (405, 302), "viewer": (405, 302), "operator": (405, 302), "admin": (405, 302)},
    "password_change": {"anonymous": A, "none": (200, 200), "viewer": (200, 200), "operator": (200, 200),
                        "admin": (200, 200)},
    "password_change_done": {"anonymous": A, "none": (200, 405), "viewer": (200, 405), "operator": (200, 405),
                             "admin": (200, 405)},
    "home": {"anonymous": A, "none": (302, 405), "viewer": (302, 405), "operator": (302, 405), "admin": (302, 405)},
    # Viewers and up: devices, jobs, API calls.
    "device_list": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                    "admin": (200, 405)},
    "inventory_status": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                         "admin": (200, 405)},
    "device_detail": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                      "admin": (200, 405)},
    "job_list": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                 "admin": (200, 405)},
    "job_detail": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                   "admin": (200, 405)},
    "job_call_body": {"anonymous": A, "none": (403, 405), "viewer": (200, 405), "operator": (200, 405),
                      "admin": (200, 405)},
    # Operators and up: reimage, retry, cancel, reveal credentials, refresh the inventory.
    "reimage_create": {"anonymous": A, "none": (403, 403), "viewer": (403, 403), "operator": (200, 200),
                       "admin": (200, 200)},
    "reimage_validate": {"anonymous": A, "none": (403, 403), "viewer": (403, 403), "operator": (405, 400),
                         "admin": (405, 400)},  # 400: no field named to check
    "reimage_confirm": {"anonymous": A, "none": (403, 403), "viewer": (403, 403), "operator": (405, 400),
                        "admin": (405, 400)},  # 400: no review token
    "job_retry": {"anonymous": A, "none": (403, 403), "viewer": (403, 403), "operator": (200, 200),
                  "admin": (200, 200)},
    "job_cancel": {"anonymous": A, "none": (405, 403), "viewer": (405, 403), "operator": (405, 302),
                   "admin": (405, 302)},
    "job_credentials": {"anonymous": A, "none": (405, 403), "viewer": (405, 403), "operator": (405, 200),
                        "admin": (405, 200)},  # 200: the partial explaining why nothing can be revealed
    "inventory_refresh": {"anonymous": A, "none": (405, 403), "viewer": (405, 403), "operator": (405, 302),
                          "admin": (405, 302)},
    # Admins only: locks, the audit log, exports.
    "device_lock": {"anonymous": A, "none": (405, 403), "viewer": (405, 403), "operator": (405, 403),
                    "admin": (405, 302)},
    "device_unlock": {"anonymous": A, "none": (405, 403), "viewer": (405, 403), "operator": (405, 403),
                      "admin": (405, 302)},
    "job_export": {"anonymous": A, "none": (403, 405), "viewer": (403, 405), "operator": (403, 405),
                   "admin": (200, 405)},
    "audit_list": {"anonymous": A, "none": (403, 405), "viewer": (403, 405), "operator": (403, 405),
                   "admin": (200, 405)},
    "audit_export": {"anonymous": A, "none": (403, 405), "viewer": (403, 405), "operator": (403, 405),
                     "admin": (200, 405)},
}  # fmt: skip


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    """(qualified name, route) of every named pattern, recursively through includes and namespaces."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += url_patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            # The admin has unnamed redirects of its own; every other pattern needs a name to have a row.
            assert entry.name or namespace.startswith("admin:"), f"name the URL pattern {prefix}{entry.pattern}"
            found.append((namespace + (entry.name or ""), prefix + str(entry.pattern)))
    return found


ALL_PATTERNS = url_patterns()
APP_PATTERNS = sorted({name for name, _ in ALL_PATTERNS if not name.startswith("admin:")})


def test_permissions_every_url_pattern_has_a_row() -> None:
    missing = set(APP_PATTERNS) - set(MATRIX)
    assert not missing, f"URL patterns without a row in MATRIX (say who may use them): {sorted(missing)}"
    assert not set(MATRIX) - set(APP_PATTERNS), "MATRIX names URL patterns that no longer exist"
    assert all(set(row) == set(ROLES) for row in MATRIX.values())


def test_permissions_only_login_health_and_stream_answer_anonymous_users() -> None:
    public = {name for name, row in MATRIX.items() if row["anonymous"] != A}
    assert public == {"healthz", "login", "event_stream"}
    assert MATRIX["event_stream"]["anonymous"][0] == 401


@pytest.fixture
def objects() -> dict[str, Any]:
    """Real rows to fill the URL parameters: a device, a queued job of it, and an API call of that job."""
    device = DeviceFactory()
    job = ReimageJobFactory(device=device)
    finished = ReimageJobFactory(state=ReimageJob.State.SUCCEEDED)  # a stream of a final job ends by itself
    call = ApiCall.objects.create(account=device.account, job=job, method="voxel.voxservers.reimage", stat="ok")
    return {"device": device, "job": job, "call": call, "finished": finished}


def url_of(name: str, objects: dict[str, Any]) -> str:
    """The URL of a pattern, its parameters filled with the objects' keys."""
    kwargs = {
        "device_detail": {"pk": objects["device"].pk},
        "device_lock": {"pk": objects["device"].pk},
        "device_unlock": {"pk": objects["device"].pk},
        "reimage_create": {"pk": objects["device"].pk},
        "reimage_validate": {"pk": objects["device"].pk},
        "reimage_confirm": {"pk": objects["device"].pk},
        "job_detail": {"pk": objects["job"].pk},
        "job_cancel": {"pk": objects["job"].pk},
        "job_retry": {"pk": objects["job"].pk},
        "job_credentials": {"pk": objects["job"].pk},
        "job_call_body": {"pk": objects["job"].pk, "call_pk": objects["call"].pk},
    }.get(name, {})
    url = reverse(name, kwargs=kwargs)
    if name == "event_stream":
        url += f"?job={objects['finished'].pk}"
    return url


def client_for_role(role: str, make_user: Any) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(make_user(None if role == "none" else role))
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", APP_PATTERNS)
def test_permissions_matrix(name: str, role: str, objects, make_user) -> None:
    expected_get, expected_post = MATRIX[name][role]
    client = client_for_role(role, make_user)
    url = url_of(name, objects)
    got = client.get(url).status_code, client.post(url).status_code
    assert got == (expected_get, expected_post), f"{role} on {name} ({url}): got {got}, MATRIX says so otherwise"
    if role == "anonymous" and MATRIX[name][role] == A:
        assert client.get(url)["Location"].startswith(reverse("login") + "?next=")


# --- The Django admin: staff only, which the admin role gives ------------------------------------------------------


def admin_urls() -> list[str]:
    """The admin's index, each app's index and each model's list and add page."""
    urls = [reverse("admin:index")]
    for model in admin_site._registry:
        opts = model._meta
        urls.append(reverse("admin:app_list", kwargs={"app_label": opts.app_label}))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    return sorted(set(urls))


def test_permissions_admin_site_is_for_the_admin_role_only(make_user, objects) -> None:
    assert any(name.startswith("admin:") for name, _ in ALL_PATTERNS)
    urls = admin_urls()
    for role in ("anonymous", "none", "viewer", "operator"):
        client = client_for_role(role, make_user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, (role, url, response.status_code, response.get("Location"))
            assert response["Location"].startswith((reverse("admin:login"), reverse("login"))), (role, url)
    admin = client_for_role("admin", make_user)
    answers = {url: admin.get(url).status_code for url in urls}
    assert answers[reverse("admin:index")] == 200
    assert answers[reverse("admin:auth_user_changelist")] == 200
    assert answers[reverse("admin:reimaging_auditentry_changelist")] == 200
    # Pages the role lacks a permission for are refused (an app index with nothing it may see is 404), never 500.
    app_indexes = {reverse("admin:app_list", kwargs={"app_label": m._meta.app_label}) for m in admin_site._registry}
    odd = {url: code for url, code in answers.items() if code not in (200, 403)}
    assert all(code == 404 and url in app_indexes for url, code in odd.items()), odd
    assert answers[reverse("admin:reimaging_auditentry_add")] == 403  # history is append-only
