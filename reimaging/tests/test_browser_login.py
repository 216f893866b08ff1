"""In Chromium against the real ASGI server: each role logs in and sees its role in the layout."""

from __future__ import annotations

import pytest

from reimaging import roles

pytestmark = pytest.mark.browser


def test_browser_each_role_logs_in_and_sees_its_role(asgi_server, page, make_user) -> None:
    for role in roles.ROLES:
        make_user(role, role)
    for role in roles.ROLES:
        page.context.clear_cookies()
        page.goto(f"{asgi_server}/devices/")
        assert "/accounts/login/" in page.url
        page.get_by_label("Username").fill(role)
        page.get_by_label("Password").fill(f"pw-{role}")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{asgi_server}/devices/")
        assert page.get_by_test_id("current-role").inner_text() == role
        assert page.get_by_test_id("current-user").inner_text() == role
        assert page.get_by_role("link", name="Audit").count() == (1 if role == roles.ADMIN else 0)


def test_browser_wrong_password_is_refused_with_a_message(asgi_server, page, make_user) -> None:
    make_user("viewer", "carol")
    page.goto(f"{asgi_server}/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username and password")
    assert page.get_by_label("Username").input_value() == "carol"
