"""The reimage form, its inline checks, the review and the confirmation that queues the job."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from reimaging import services
from reimaging.forms import (
    INLINE_FIELDS,
    IP_FIELDS,
    REVIEW_MAX_AGE,
    ConfirmForm,
    ReimageForm,
    ReviewPayload,
    ReviewTokenError,
    review_token_make,
    review_token_read,
)
from reimaging.models import Device
from reimaging.services.jobs import SECRET_PARAMS

FORM = "reimaging/reimage_form.html"
REVIEW = "reimaging/reimage_review.html"
CHECKS_PASSED = "All checks passed; nothing was sent."
PERMISSION = "reimaging.start_reimage"


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware."""

    htmx: HtmxDetails


def _device(pk: int) -> Device:
    return get_object_or_404(Device.objects.select_related("account"), pk=pk)


def _initial(device: Device) -> dict[str, Any]:
    return {"hostname": device.label, "swap_space": device.default_swap_gb(), "voxel_access": False}


def _bindable(payload: ReviewPayload) -> dict[str, str]:
    return {**payload.data, **payload.secrets}


def _form_page(request: HttpRequest, form: ReimageForm, *, error: str = "", status: int = 200) -> TemplateResponse:
    refusal = services.device_refusal(form.device)
    context = {"device": form.device, "form": form, "refusal": refusal, "error": error, "nav": "devices"}
    return TemplateResponse(request, FORM, context, status=status)


def _review_page(request: HttpRequest, form: ReimageForm, confirm: ConfirmForm, token: str) -> TemplateResponse:
    context = {
        "device": form.device,
        "review": form.review(),
        "confirm": confirm,
        "token": token,
        "max_age_minutes": REVIEW_MAX_AGE // 60,
        "nav": "devices",
    }
    return TemplateResponse(request, REVIEW, context)


@permission_required(PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SECRET_PARAMS)
def reimage_create(request: HtmxHttpRequest, pk: int) -> TemplateResponse:
    """The form (GET); on POST, its review, or with action=validate every check and nothing sent."""
    device = _device(pk)
    if request.method == "GET":
        form = ReimageForm(device=device, initial={**_initial(device), "image_id": request.GET.get("image_id")})
        if request.htmx and "image_id" in request.GET:
            # The image changed: only the version select follows it.
            return TemplateResponse(request, FORM + "#field-image_version_id", {"device": device, "form": form})
        return _form_page(request, form)
    form = ReimageForm(request.POST, request.FILES, device=device)
    if not form.is_valid():
        return _form_page(request, form)
    if request.POST.get("action") == "validate":
        messages.success(request, CHECKS_PASSED)
        return _form_page(request, form)
    return _review_page(request, form, ConfirmForm(device=device), review_token_make(form=form, user=request.user))


@permission_required(PERMISSION, raise_exception=True)
@require_POST
@sensitive_post_parameters(*SECRET_PARAMS)
def reimage_validate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Check one field as it is left, with the submit's own rules; answer just that field's partial."""
    name = request.GET.get("field") or (request.htmx.trigger_name if request.htmx else None) or ""
    if name not in INLINE_FIELDS:
        return HttpResponseBadRequest("Unknown field.", content_type="text/plain")
    form = ReimageForm(request.POST, device=_device(pk))
    form.is_valid()
    context = {"device": form.device, "form": form, "ip_plan_oob": name in IP_FIELDS}
    return TemplateResponse(request, f"{FORM}#field-{name}", context)


@permission_required(PERMISSION, raise_exception=True)
@require_POST
@sensitive_post_parameters("review_token", *SECRET_PARAMS)
def reimage_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Re-run every check on the carried form, then queue the job (action=confirm), or only check, or go back."""
    device = _device(pk)
    token = request.POST.get("review_token", "")
    try:
        payload = review_token_read(token, user=request.user, device=device)
    except ReviewTokenError as exc:
        return _token_refused(request, device, exc)
    # Bound again with the carried data and passwords: every check runs anew (an address taken meanwhile, a lock).
    form = ReimageForm(_bindable(payload), device=device)
    action = request.POST.get("action", "confirm")
    if action == "edit" or not form.is_valid():
        return _form_page(request, form)
    if action == "validate":
        messages.success(request, CHECKS_PASSED)
        return _review_page(request, form, ConfirmForm(device=device), token)
    confirm = ConfirmForm(request.POST, device=device)
    if not confirm.is_valid():
        return _review_page(request, form, confirm, token)
    return _start(request, form)


def _start(request: HttpRequest, form: ReimageForm) -> HttpResponse:
    try:
        job = services.reimage_start(
            device=form.device,
            user=request.user,
            reason=form.cleaned_data["reason"],
            params=form.api_params(),
            secrets=form.secrets(),
            request=request,
        )
    except services.ReimageRefused as exc:
        form.add_error(None, str(exc))
        return _form_page(request, form)
    messages.success(request, f"Reimage #{job.pk} of {form.device.label or form.device.api_id} is queued.")
    return redirect("job_detail", pk=job.pk)


def _token_refused(request: HttpRequest, device: Device, exc: ReviewTokenError) -> TemplateResponse:
    """An expired review goes back to its form (passwords to re-enter); an unreadable one to a fresh form."""
    if exc.payload is None:
        return _form_page(request, ReimageForm(device=device, initial=_initial(device)), error=str(exc), status=400)
    form = ReimageForm(_bindable(exc.payload), device=device)
    form.is_valid()
    form.add_error(None, str(exc))
    return _form_page(request, form)
