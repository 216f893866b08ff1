"""Users and their roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from reimaging import roles


@transaction.atomic
def user_set_role(*, user: AbstractUser, role: str) -> None:
    """Give the user exactly one role (the groups signal keeps is_staff in step and audits it)."""
    if role not in roles.ROLES:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(roles.ROLES)}.")
    role_groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLES)}
    if len(role_groups) < len(roles.ROLES):  # a flushed or hand-made database: make the groups again
        roles.roles_sync()
        role_groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLES)}
    others = [g for name, g in role_groups.items() if name != role and user.groups.filter(pk=g.pk).exists()]
    if others:
        user.groups.remove(*others)
    user.groups.add(role_groups[role])
