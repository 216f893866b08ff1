"""The three roles (viewer, operator, admin): Django groups holding named permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)  # lowest to highest

_VIEW = [
    "reimaging.view_account",
    "reimaging.view_device",
    "reimaging.view_ipassignment",
    "reimaging.view_vlan",
    "reimaging.view_image",
    "reimaging.view_imageversion",
    "reimaging.view_devicelock",
    "reimaging.view_reimagejob",
    "reimaging.view_jobevent",
    "reimaging.view_apicall",
]
_OPERATE = ["reimaging.start_reimage", "reimaging.reveal_credentials", "reimaging.refresh_inventory"]
_ADMINISTER = [
    "reimaging.lock_device",
    "reimaging.view_auditentry",
    "reimaging.export_history",
    "reimaging.add_account",
    "reimaging.change_account",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.view_group",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: _VIEW,
    OPERATOR: _VIEW + _OPERATE,
    ADMIN: _VIEW + _OPERATE + _ADMINISTER,
}


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The highest role the user holds (superusers are admins), or None."""
    if not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = {g.name for g in user.groups.all()}  # type: ignore[attr-defined]
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def roles_sync(apps: Any = None) -> None:
    """Create or update the role groups with exactly their permissions (idempotent; used by a migration)."""
    from django.apps import apps as global_apps

    registry = apps or global_apps
    group_model = registry.get_model("auth", "Group")
    permission_model = registry.get_model("auth", "Permission")
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        perms = []
        for name in perm_names:
            app_label, codename = name.split(".")
            perms.append(permission_model.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
