"""Security: login lockout (django-axes), the Content-Security-Policy, HTTPS cookies and HSTS, and no stray views."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from reimaging.models import ApiCall, AuditEntry
from reimaging.tests.factories import DeviceFactory, ReimageJobFactory
from reimaging.tests.test_settings_startup import run_django

BASE_DIR = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
LIMIT = settings.AXES_FAILURE_LIMIT


def attempt(username: str, password: str, ip: str = "10.0.0.1", path: str = LOGIN) -> Any:
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


def lock_out(username: str, ip: str = "10.0.0.1") -> Any:
    responses = [attempt(username, "wrong", ip) for _ in range(LIMIT)]
    assert [r.status_code for r in responses[:-1]] == [200] * (LIMIT - 1)  # the form again, with its error
    return responses[-1]


# --- Lockout -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_security_lockout_after_limit_shows_when_and_whom_to_ask(make_user) -> None:
    make_user("viewer", "bob")
    response = lock_out("bob")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed logins" in html and 'role="alert"' in html
    until = timezone.localtime(AccessAttempt.objects.get(username="bob").attempt_time + timedelta(minutes=15))
    assert f">{until:%H:%M} UTC</time>" in html
    assert "in about 15 minutes" in html
    assert f'data-testid="lockout-contact">{settings.LOGIN_LOCKOUT_CONTACT}<' in html
    assert response["Cache-Control"] == "no-store"
    cool_off, limit = settings.AXES_COOLOFF_TIME, LIMIT
    assert cool_off == timedelta(minutes=15) and limit == 5


@pytest.mark.django_db
def test_security_lockout_refuses_the_right_password_and_does_not_extend(make_user) -> None:
    make_user("viewer", "bob")
    lock_out("bob")
    before = AccessAttempt.objects.get(username="bob")
    response = attempt("bob", "pw-bob")
    assert response.status_code == 429
    assert "_auth_user_id" not in response.client.session
    after = AccessAttempt.objects.get(username="bob")
    assert (after.attempt_time, after.failures_since_start) == (before.attempt_time, before.failures_since_start)


@pytest.mark.django_db
def test_security_lockout_is_per_username_and_address(make_user) -> None:
    make_user("viewer", "bob")
    make_user("viewer", "carol")
    lock_out("bob", ip="10.0.0.1")
    assert attempt("bob", "pw-bob", ip="10.0.0.2").status_code == 302  # bob, elsewhere
    assert attempt("carol", "pw-carol", ip="10.0.0.1").status_code == 302  # someone else, same address
    assert attempt("bob", "pw-bob", ip="10.0.0.1").status_code == 429


@pytest.mark.django_db
def test_security_lockout_ends_after_the_cool_off(make_user) -> None:
    make_user("viewer", "bob")
    lock_out("bob")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert attempt("bob", "pw-bob").status_code == 302


@pytest.mark.django_db
def test_security_success_resets_the_count(make_user) -> None:
    make_user("viewer", "bob")
    for _ in range(LIMIT - 1):
        attempt("bob", "wrong")
    assert attempt("bob", "pw-bob").status_code == 302
    for _ in range(LIMIT - 1):
        assert attempt("bob", "wrong").status_code == 200


@pytest.mark.django_db
def test_security_new_password_lifts_the_lockout(make_user) -> None:
    bob = make_user("viewer", "bob")
    lock_out("bob")
    bob.set_password("a-new-long-password-1")
    bob.save()
    assert not AccessAttempt.objects.filter(username="bob").exists()
    assert attempt("bob", "a-new-long-password-1").status_code == 302


@pytest.mark.django_db
def test_security_admin_login_is_locked_out_too(make_user) -> None:
    make_user("admin", "ada")
    for _ in range(LIMIT):
        response = attempt("ada", "wrong", path="/admin/login/")
    assert response.status_code == 429
    assert attempt("ada", "pw-ada", path=LOGIN).status_code == 429


@pytest.mark.django_db
def test_security_lockout_is_audited_without_the_password(make_user) -> None:
    make_user("viewer", "bob")
    lock_out("bob")
    attempt("bob", "pw-bob")
    entries = list(AuditEntry.objects.filter(actor_name="bob").order_by("id").values_list("action", "message"))
    assert all(action == AuditEntry.Action.LOGIN_FAILED for action, _ in entries)
    messages = [message for _, message in entries]
    assert messages.count(f"locked out after {LIMIT} failures, for 15 min from this address") == 1
    assert messages[-1] == "refused: locked out after repeated failures; the password was not checked"
    assert len(entries) == LIMIT + 2  # each failure, the lockout, the refused attempt
    assert set(AuditEntry.objects.filter(actor_name="bob").values_list("ip_address", flat=True)) == {"10.0.0.1"}
    assert not AuditEntry.objects.filter(message__contains="pw-bob").exists()
    assert not AccessAttempt.objects.filter(post_data__contains="pw-bob").exists()


def test_security_axes_checks_first() -> None:
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


# --- Content-Security-Policy ---------------------------------------------------------------------------------------

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def csp_of(response: Any) -> dict[str, str]:
    parts = [p.strip().split(" ", 1) for p in response["Content-Security-Policy"].split(";") if p.strip()]
    return {name: value for name, value in parts}


@pytest.mark.django_db
def test_security_csp_on_every_kind_of_page(client_as) -> None:
    job = ReimageJobFactory()
    client = client_as("admin")
    for url in [
        "/devices/",
        f"/devices/{job.device_id}/",
        f"/devices/{job.device_id}/reimage/",
        "/jobs/",
        f"/jobs/{job.pk}/",
        "/audit/",
        "/admin/",
        "/admin/auth/user/",
        "/nowhere/",
    ]:
        response = client.get(url)
        assert csp_of(response) == EXPECTED_CSP, url
    assert csp_of(Client().get(LOGIN)) == EXPECTED_CSP


TEMPLATES = sorted((BASE_DIR / "templates").rglob("*.html"))
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on*= event handler"),
    (re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I), "a javascript: URL"),
    (re.compile(r"\shx-on[:-]", re.I), "an hx-on handler (needs eval)"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(BASE_DIR / "templates")))
def test_security_templates_have_no_inline_script_or_style(template: Path) -> None:
    text = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.S)  # comments may name what they avoid
    for pattern, what in INLINE:
        match = pattern.search(text)
        assert match is None, f"{template.name} has {what}: {match.group(0) if match else ''}"


def test_security_htmx_never_injects_style_or_evals() -> None:
    base = (BASE_DIR / "templates" / "base.html").read_text()
    config = json.loads(re.search(r"name=\"htmx-config\" content='([^']+)'", base).group(1))
    assert config["includeIndicatorStyles"] is False and config["allowEval"] is False


# --- HTTPS: secure cookies and HSTS in production -------------------------------------------------------------------

PROBE = """
import json
from django.conf import settings
from django.test import Client
# No collectstatic here: plain static URLs instead of the manifest's hashed ones (the headers are what is probed).
settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
c = Client(HTTP_HOST="voxweb.example.com")
plain = c.get("/accounts/login/")
tls = c.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
health = c.get("/healthz")
cookie = tls.cookies.get("csrftoken")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "tls": [tls.status_code, tls.get("Strict-Transport-Security"), tls.get("Content-Security-Policy")],
    "csrf_cookie": {"secure": bool(cookie and cookie["secure"]), "samesite": cookie and cookie["samesite"]},
    "health_redirected": health.status_code in (301, 302),
    "settings": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                 settings.SECURE_PROXY_SSL_HEADER],
}))
"""


def test_security_production_redirects_to_https_and_sends_hsts_behind_a_proxy() -> None:
    result = run_django({}, "shell", "--no-imports", "-c", PROBE)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, "https://voxweb.example.com/accounts/login/"]
    status, hsts, csp = seen["tls"]
    assert status == 200
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert "default-src 'self'" in csp
    assert seen["csrf_cookie"] == {"secure": True, "samesite": "Lax"}
    assert seen["health_redirected"] is False  # load balancers probe over plain HTTP
    assert seen["settings"] == [True, True, True, ["HTTP_X_FORWARDED_PROTO", "https"]]


# --- No stray views ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_security_no_password_reset_by_email() -> None:
    with pytest.raises(NoReverseMatch):
        reverse("password_reset")
    assert Client().get("/accounts/password_reset/").status_code == 404


# --- In Chromium: no CSP violation on the main pages; the lockout as a user sees it --------------------------------

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def browser_login(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}{LOGIN}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.browser
def test_browser_main_pages_have_no_csp_violation(asgi_server, page, make_user) -> None:
    job = ReimageJobFactory(error_message="an error", state="failed")
    ApiCall.objects.create(account=job.account, job=job, method="voxel.voxservers.reimage", stat="ok")
    device = DeviceFactory(account=job.account)
    make_user("admin", "ada")
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(CSP_LISTENER)
    browser_login(page, asgi_server, "ada", "pw-ada")
    page.wait_for_url(f"{asgi_server}/devices/")
    pages = [
        "/devices/",
        "/devices/?q=web",
        f"/devices/{device.pk}/",
        f"/devices/{device.pk}/reimage/",
        "/jobs/",
        f"/jobs/{job.pk}/",
        f"/jobs/{job.pk}/retry/",
        "/audit/",
        "/accounts/password_change/",
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        f"/admin/reimaging/reimagejob/{job.pk}/change/",
    ]
    violations = {}
    for path in pages:
        response = page.goto(f"{asgi_server}{path}")
        assert response.status == 200, path
        assert response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle") if "/admin/" in path else page.wait_for_timeout(300)
        if found := page.evaluate("window.__csp"):
            violations[path] = found
    assert violations == {} and console == [], (violations, console)
    # The listener does catch a violation: an inline style set by script is refused.
    page.goto(f"{asgi_server}/devices/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("() => window.__csp.length > 0")  # a function: an expression would need eval
    assert "style-src" in page.evaluate("window.__csp")[0]


@pytest.mark.browser
def test_browser_lockout_page_is_shown_and_login_refused(asgi_server, page, make_user) -> None:
    make_user("operator", "olga")
    for _ in range(LIMIT):
        browser_login(page, asgi_server, "olga", "not-her-password")
    assert page.get_by_role("heading", name="Too many failed logins").is_visible()
    assert page.get_by_test_id("lockout-until").inner_text().endswith("UTC")
    assert page.get_by_test_id("lockout-contact").inner_text() == settings.LOGIN_LOCKOUT_CONTACT
    browser_login(page, asgi_server, "olga", "pw-olga")  # the right password, refused while locked
    assert page.get_by_role("heading", name="Too many failed logins").is_visible()
    assert AuditEntry.objects.filter(actor_name="olga", message__startswith="locked out after").count() == 1
