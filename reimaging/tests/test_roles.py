"""Roles: the groups and their permissions, the role in the layout, login required everywhere."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from reimaging import roles
from reimaging.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_roles_groups_exist_with_nested_permissions() -> None:
    perms = {
        g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.select_related("content_type")}
        for g in Group.objects.filter(name__in=roles.ROLES)
    }
    assert set(perms) == set(roles.ROLES)
    assert perms["viewer"] < perms["operator"] < perms["admin"]
    assert "reimaging.start_reimage" in perms["operator"] and "reimaging.start_reimage" not in perms["viewer"]
    assert "reimaging.lock_device" in perms["admin"] and "reimaging.lock_device" not in perms["operator"]
    assert "reimaging.view_auditentry" in perms["admin"]


@pytest.mark.parametrize("role", roles.ROLES)
def test_roles_layout_shows_user_and_role(client_as, role: str) -> None:
    response = client_as(role).get(reverse("device_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="current-role">{role}<' in html
    assert f"{role}-user" in html
    assert ('href="/audit/"' in html) is (role == roles.ADMIN)


def test_roles_anonymous_is_sent_to_login() -> None:
    from django.test import Client

    response = Client().get(reverse("device_list"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_roles_user_without_role_is_refused(client_as) -> None:
    assert client_as(None).get(reverse("device_list")).status_code == 403


def test_roles_viewer_cannot_read_audit(client_as) -> None:
    assert client_as("viewer").get(reverse("audit_list")).status_code == 403


def test_roles_admin_role_grants_django_admin_and_is_audited(make_user) -> None:
    from reimaging.services import user_set_role

    user = make_user("operator")
    assert not user.is_staff
    user_set_role(user=user, role="admin")
    user.refresh_from_db()
    assert user.is_staff
    assert roles.role_of(user) == "admin"
    user_set_role(user=user, role="viewer")
    user.refresh_from_db()
    assert not user.is_staff and roles.role_of(user) == "viewer"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED, target=f"user {user.username}").exists()


def test_roles_create_user_command_reads_password_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("NEW_USER_PASSWORD", "a-long-password-123")
    out = StringIO()
    call_command("create_user", "alice", "--role", "operator", "--password-env", "NEW_USER_PASSWORD", stdout=out)
    user = get_user_model().objects.get(username="alice")
    assert user.check_password("a-long-password-123")
    assert roles.role_of(user) == "operator"
    assert "a-long-password-123" not in out.getvalue()


def test_roles_login_and_failed_login_are_audited(make_user) -> None:
    from django.test import Client

    make_user("viewer", "bob")
    c = Client()
    assert c.post(reverse("login"), {"username": "bob", "password": "wrong"}).status_code == 200
    assert c.post(reverse("login"), {"username": "bob", "password": "pw-bob"}).status_code == 302
    actions = list(AuditEntry.objects.filter(actor_name="bob").values_list("action", flat=True))
    assert AuditEntry.Action.LOGIN in actions and AuditEntry.Action.LOGIN_FAILED in actions
    assert not AuditEntry.objects.filter(message__contains="wrong").exists()


def test_roles_user_with_history_is_protected_not_deleted(client_as, make_user) -> None:
    from django.test import Client

    bob = make_user("viewer", "bobby")
    Client().post(reverse("login"), {"username": "bobby", "password": "pw-bobby"})  # writes audit entries
    admin = client_as("admin")
    response = admin.post(reverse("admin:auth_user_delete", args=[bob.pk]), {"post": "yes"})
    assert response.status_code in (200, 403)  # the admin explains what protects the user; it never crashes
    assert get_user_model().objects.filter(pk=bob.pk).exists()
    bob.is_active = False
    bob.save()
    assert AuditEntry.objects.filter(actor=bob).exists()


def test_roles_change_in_the_admin_names_the_admin(client_as, make_user) -> None:
    from django.contrib.auth.models import Group

    target = make_user("viewer", "tina")
    admin = client_as("admin")
    operator_group = Group.objects.get(name="operator")
    response = admin.post(
        reverse("admin:auth_user_change", args=[target.pk]),
        {
            "username": "tina",
            "groups": [operator_group.pk],
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED, target="user tina").latest("at")
    assert entry.actor_name == "admin-user" and entry.ip_address == "127.0.0.1"
    assert "operator" in entry.message
