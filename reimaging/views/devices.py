"""The device picker and the device page."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from reimaging.models import Device


@require_GET
@permission_required("reimaging.view_device", raise_exception=True)
def device_list(request: HttpRequest) -> TemplateResponse:
    """Every device of every account, a page at a time."""
    devices = Device.objects.select_related("account").filter(is_removed=False)
    page = Paginator(devices, 50).get_page(request.GET.get("page"))
    return TemplateResponse(request, "reimaging/device_list.html", {"page": page, "nav": "devices"})


@require_GET
@permission_required("reimaging.view_device", raise_exception=True)
def device_detail(request: HttpRequest, pk: int) -> TemplateResponse:
    """One device: its attributes, addresses and jobs."""
    device = get_object_or_404(Device.objects.select_related("account"), pk=pk)
    return TemplateResponse(request, "reimaging/device_detail.html", {"device": device, "nav": "devices"})
