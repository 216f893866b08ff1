"""Receivers: audit logins, lockouts and role changes; keep is_staff in step with the admin role."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from reimaging import roles
from reimaging.audit import audit_record, current_request
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
    if _refused_by_lockout(request):
        return  # the password was not even checked; on_locked_out records the attempt, saying why
    name = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        actor_name=name or "(blank)",
        action=AuditEntry.Action.LOGIN_FAILED,
        target=f"user {name}",
        request=request,
    )


def _refused_by_lockout(request: HttpRequest | None) -> bool:
    """Whether axes refused this login for an existing lockout (as opposed to counting a wrong password).

    axes' backend marks a refused request as locked out before Django sends user_login_failed; a failure axes
    counted carries its count instead. Either order of the two receivers gives the same answer.
    """
    return (
        bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", None) is None
    )


@receiver(user_locked_out)
def on_locked_out(sender: Any, request: HttpRequest, username: str | None = None, **kwargs: Any) -> None:
    """Audit a lockout as it starts, and each attempt refused while it lasts (as failed logins, saying so)."""
    name = (username or "")[:150]
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if _refused_by_lockout(request):
        message = "refused: locked out after repeated failures; the password was not checked"
    else:
        failures = getattr(request, "axes_failures_since_start", None) or settings.AXES_FAILURE_LIMIT
        message = f"locked out after {failures} failures, for {minutes} min from this address"
    audit_record(
        actor=None,
        actor_name=name or "(blank)",
        action=AuditEntry.Action.LOGIN_FAILED,
        target=f"user {name}",
        message=message,
        request=request,
    )


@receiver(pre_save, sender=User)
def on_password_set(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A new password (an admin's reset, or the user's own change) lifts a login lockout on that name."""
    # set_password() leaves the new raw password in _password until save() hands it to the validators' hooks.
    if instance.pk is not None and getattr(instance, "_password", None) is not None:
        axes_reset(username=instance.get_username())


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
    request = current_request()  # the admin who made the change, when it came through a page
    audit_record(
        actor=getattr(request, "user", None),
        action=AuditEntry.Action.ROLE_CHANGED,
        target=f"user {instance.get_username()}",
        message=f"role is now {role or 'none'}",
    )
