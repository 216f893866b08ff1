"""Writing the audit log: one function, so every entry has the same shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from reimaging.models import AuditEntry

# The request being served, for audit entries written where no request is passed (signals, e.g. a role change
# made in the Django admin): they still name who did it and from where.
_current_request: ContextVar[HttpRequest | None] = ContextVar("voxweb_current_request", default=None)


def current_request() -> HttpRequest | None:
    """The request this thread or task is serving, if any."""
    return _current_request.get()


@sync_and_async_middleware
def current_request_middleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    """Remember the request while it is served (after authentication, so its user is known)."""
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            token = _current_request.set(request)
            try:
                response: HttpResponseBase = await get_response(request)
                return response
            finally:
                _current_request.reset(token)

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        token = _current_request.set(request)
        try:
            response: HttpResponseBase = get_response(request)
            return response
        finally:
            _current_request.reset(token)

    return middleware


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
    request = request or current_request()
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
