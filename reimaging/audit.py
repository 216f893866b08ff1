"""Writing the audit log: one function, so every entry has the same shape."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from reimaging.models import AuditEntry


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR; a proxy must set it right)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor: Any,
    action: str,
    target: str = "",
    message: str = "",
    request: HttpRequest | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one audit entry; the actor may be None (system or an unknown login name)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        actor_name=actor_name or (user.get_username() if user else "system"),
        action=action,
        target=target[:300],
        message=message,
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request else "")[:500],
    )
