"""Security hooks on requests and responses: NUL characters refused, and the page a locked-out login gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asgiref.sync import iscoroutinefunction
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware

from reimaging.audit import client_ip

LOCKOUT_TEMPLATE = "registration/lockout.html"
NUL_REFUSED = "The request contains a NUL character (\\x00), which no field of voxweb accepts."


def _has_nul(request: HttpRequest) -> bool:
    """Whether a query-string or form name or value holds a NUL (uploaded files may; they are not looked at)."""
    for data in (request.GET, request.POST if request.method == "POST" else None):
        if data and any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists()):
            return True
    return False


@sync_and_async_middleware
def reject_nul_middleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    """Answer 400 to a NUL in the input: PostgreSQL cannot store one, and no person types one."""
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            if _has_nul(request):
                return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain")
            response: HttpResponseBase = await get_response(request)
            return response

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if _has_nul(request):
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain")
        response: HttpResponse = get_response(request)
        return response

    return middleware


def lockout_until(username: str | None, ip_address: str | None) -> datetime | None:
    """When logins for this username from this address are accepted again, or None if they are not locked."""
    cool_off = get_cool_off()
    if cool_off is None:
        return None
    last = AccessAttempt.objects.filter(username=username, ip_address=ip_address).aggregate(last=Max("attempt_time"))
    return last["last"] + cool_off if last["last"] else None


def lockout_response(request: HttpRequest, *args: Any) -> TemplateResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page, saying until when and whom to ask; status 429.

    axes calls this with (request, response, credentials) from its sync middleware and with (request, credentials)
    from its async one, so the credentials are read from the request, where axes keeps them either way.
    """
    credentials = getattr(request, "axes_credentials", None)
    username = get_client_username(request, credentials) or ""
    until = lockout_until(username, client_ip(request))
    cool_off = get_cool_off()
    context = {
        "username": username,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "until": until,
        "minutes_left": max(1, int((until - timezone.now()).total_seconds() + 59) // 60) if until else None,
        "contact": settings.LOGIN_LOCKOUT_CONTACT,
    }
    status = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)  # set by axes when it loads
    response = TemplateResponse(request, LOCKOUT_TEMPLATE, context, status=status)
    response["Cache-Control"] = "no-store"
    response.render()  # axes returns it from its middleware, past the point where Django renders responses
    return response
