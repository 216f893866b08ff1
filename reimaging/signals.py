"""Receivers: audit logins and role changes, and keep is_staff in step with the admin role."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.http import HttpRequest

from reimaging import roles
from reimaging.audit import audit_record
from reimaging.models import AuditEntry

User = get_user_model()


@receiver(user_logged_in)
def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Audit a successful login."""
    audit_record(actor=user, action=AuditEntry.Action.LOGIN, target=f"user {user.get_username()}", request=request)


@receiver(user_logged_out)
def on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Audit a logout (user is None when the session had already expired)."""
    if user is not None:
        audit_record(actor=user, action=AuditEntry.Action.LOGOUT, target=f"user {user.get_username()}", request=request)


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Audit a failed login with the name tried (Django has already masked the password)."""
    name = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        actor_name=name or "(blank)",
        action=AuditEntry.Action.LOGIN_FAILED,
        target=f"user {name}",
        request=request,
    )


@receiver(m2m_changed, sender=User.groups.through)
def on_groups_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    """A role change through the admin or a command: admins get the Django admin, others lose it; audited."""
    if action not in {"post_add", "post_remove", "post_clear"} or not isinstance(instance, User):
        return
    role = roles.role_of(instance)
    is_staff = role == roles.ADMIN or instance.is_superuser
    if instance.is_staff != is_staff:
        User.objects.filter(pk=instance.pk).update(is_staff=is_staff)
        instance.is_staff = is_staff
    audit_record(
        actor=None,
        action=AuditEntry.Action.ROLE_CHANGED,
        target=f"user {instance.get_username()}",
        message=f"role is now {role or 'none'}",
    )
