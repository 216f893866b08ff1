"""The device picker, the device page, device locks and the inventory refresh button."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from reimaging import selectors, services
from reimaging.models import Device
from reimaging.views import HtmxHttpRequest


def _pk_url(name: str) -> Callable[[int], str]:
    """A URL maker for a route taking one pk: reverse() once per page rather than once or twice per row."""
    marker = "9876543210"
    pattern = reverse(name, args=[int(marker)])
    return lambda pk: pattern.replace(marker, str(pk))


# The picker's rows are the one piece of markup built in Python, the way the admin's changelist builds its rows:
# the picker re-renders them on every keystroke, and the template language spends ~250 function calls on a row of
# a dozen cells (see benchmarks/bench_picker.py). Every value goes through html.escape, which is what Django's
# escape() does for plain strings; the rest of the page is the template.
# A row is its own SSE target (reimaging.streams pushes "device-row-<pk>" when its device's job changes); hx-target
# "this" overrides the results region that the picker's other requests inherit.
ROW = (
    '<tr id="device-row-{pk}" sse-swap="device-row-{pk}" hx-target="this" hx-swap="outerHTML">'
    '<td>{customer}</td><td class="device-id">{api_id}</td>'
    '<td class="host"><a href="{url}">{name}</a>{description}</td>'
    '<td class="facility">{facility}</td><td>{type}</td><td>{os_name}</td><td class="num">{cores}</td>'
    '<td class="ips">{frontend_ips}</td><td class="ips">{backend_ips}</td><td>{badges}</td>'
    '<td class="action">{action}</td></tr>'
)
DESCRIPTION = '<div class="muted small">{}</div>'
BADGE_JOB = '<a class="badge badge-active" href="{}" data-badge="active">reimage #{} by {}</a> '
BADGE_LOCK = '<span class="badge badge-lock" data-badge="locked">locked by {}</span> '
BADGE_UNDEFINED = '<span class="badge badge-undefined" data-badge="undefined">state undefined</span> '
BADGE_REMOVED = '<span class="badge badge-removed">removed</span>'
REFUSAL = '<span class="muted small refusal" title="{}">{}</span>'
# Said on every cloud row, so said short; the full sentence is the title, and the device page's.
CLOUD_REFUSAL = "VoxCLOUD VM: only VoxSERVERs can be reimaged here"
REIMAGE = '<a class="button primary small-button" href="{}">Reimage</a>'


def _e(value: Any) -> str:
    return html.escape(str(value))


def _picker_row_html(row: dict[str, Any], urls: dict[str, Callable[[int], str]], can_reimage: bool) -> SafeString:
    """One picker row: link to the device, badges, and the Reimage action or why there is none."""
    badges = ""
    if row["job_pk"]:
        badges += BADGE_JOB.format(_e(urls["job"](row["job_pk"])), row["job_pk"], _e(row["job_by"]))
    if row["lock_by"]:
        badges += BADGE_LOCK.format(_e(row["lock_by"]))
    if row["state_undefined"]:
        badges += BADGE_UNDEFINED
    if row["is_removed"]:
        badges += BADGE_REMOVED
    if row["refusal"]:
        short = CLOUD_REFUSAL if row["kind"] == Device.Kind.VOXCLOUD and not row["is_removed"] else row["refusal"]
        action = REFUSAL.format(_e(row["refusal"]), _e(short))
    else:
        action = REIMAGE.format(_e(urls["reimage"](row["pk"]))) if can_reimage else ""
    return SafeString(
        ROW.format(
            pk=row["pk"],
            customer=_e(row["customer"]),
            api_id=row["api_id"],
            url=_e(urls["detail"](row["pk"])),
            name=_e(row["name"]),
            description=DESCRIPTION.format(_e(row["description"])) if row["description"] else "",
            facility=_e(row["facility"]),
            type=_e(row["type"]),
            os_name=_e(row["os_name"]),
            cores=_e(row["cores"]),
            frontend_ips=_e(row["frontend_ips"]),
            backend_ips=_e(row["backend_ips"]),
            badges=badges,
            action=action,
        )
    )


def _row_urls() -> dict[str, Callable[[int], str]]:
    return {"detail": _pk_url("device_detail"), "reimage": _pk_url("reimage_create"), "job": _pk_url("job_detail")}


def _picker_rows_html(rows: list[dict[str, Any]], *, can_reimage: bool) -> list[SafeString]:
    """The page's rows as HTML, each URL reversed once per page rather than per row."""
    urls = _row_urls()
    return [_picker_row_html(row, urls, can_reimage) for row in rows]


def device_row_context(device_pk: int) -> dict[str, Any] | None:
    """Context of the picker's device-row partial for one device (live updates), or None if it is gone.

    The stream renders a row once for the users who may reimage and once for those who may not, choosing with
    perms.reimaging.start_reimage; both forms are built here and the partial picks one.
    """
    row = selectors.device_picker_row(device_pk)
    if row is None:
        return None
    urls = _row_urls()
    return {
        "row_with_reimage": _picker_row_html(row, urls, True),
        "row_without_reimage": _picker_row_html(row, urls, False),
    }


def _picker_context(request: HttpRequest, query: selectors.PickerQuery) -> dict[str, Any]:
    page = selectors.device_picker_page(query)
    accounts = selectors.accounts_sync_status()
    return {
        "nav": "devices",
        "query": query,
        "page": page,
        "page_links": selectors.picker_page_links(query, page),
        "columns": selectors.picker_columns(query, request.path),
        "filters": selectors.picker_filters(query, accounts, selectors.picker_facilities()),
        "accounts": accounts,
        "synced_any": any(account.synced for account in accounts),
        "rows": _picker_rows_html(list(page.object_list), can_reimage=request.user.has_perm("reimaging.start_reimage")),
        "stream_devices": ",".join(str(row["pk"]) for row in page.object_list),
    }


@require_GET
@permission_required("reimaging.view_device", raise_exception=True)
def device_list(request: HtmxHttpRequest) -> TemplateResponse:
    """Every device of every account: search, filters, sort and page from the URL; HTMX gets only the results."""
    query = selectors.PickerQuery.from_params(request.GET)
    context = _picker_context(request, query)
    template = "reimaging/device_list.html"
    # A history restore (back button with htmx's cache off) needs the whole page, not the fragment.
    partial = request.htmx and not request.htmx.history_restore_request
    response = TemplateResponse(request, template + "#device-results" if partial else template, context)
    patch_vary_headers(response, ["HX-Request"])
    if partial:
        # The server names the canonical URL (no empty parameters, the page actually shown) for the address bar.
        canonical = query.querystring(page=context["page"].number)
        response = push_url(response, f"{request.path}?{canonical}" if canonical else request.path)
    return response


@require_GET
@permission_required("reimaging.view_device", raise_exception=True)
def inventory_status(request: HttpRequest) -> TemplateResponse:
    """The picker's sync status line (polled by the picker): when each account last synced, or its error."""
    context = {"accounts": selectors.accounts_sync_status()}
    return TemplateResponse(request, "reimaging/device_list.html#sync-status", context)


@require_GET
@permission_required("reimaging.view_device", raise_exception=True)
def device_detail(request: HttpRequest, pk: int) -> TemplateResponse:
    """One device: its attributes, addresses with their VLANs, jobs, lock and the reimage action."""
    device = get_object_or_404(selectors.device_for_page(), pk=pk)
    locks = selectors.device_locks(device)
    jobs = selectors.device_jobs(device)
    context = {
        "nav": "devices",
        "device": device,
        "addresses": selectors.device_addresses(device),
        "jobs": jobs,
        "active_job": next((job for job in jobs if job.is_active), None),
        "active_lock": next((lock for lock in locks if lock.unlocked_at is None), None),
        "locks": locks,
        "refusal": services.device_refusal(device),
    }
    return TemplateResponse(request, "reimaging/device_detail.html", context)


@require_POST
@permission_required("reimaging.lock_device", raise_exception=True)
def device_lock(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Lock a device against reimaging, with the reason given."""
    device = get_object_or_404(Device, pk=pk)
    try:
        services.device_lock(device=device, user=request.user, reason=request.POST.get("reason", ""), request=request)
    except services.ReimageRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Device {device.api_id} is locked: it cannot be reimaged until it is unlocked.")
    return redirect("device_detail", pk=device.pk)


@require_POST
@permission_required("reimaging.lock_device", raise_exception=True)
def device_unlock(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Lift a device's lock."""
    device = get_object_or_404(Device, pk=pk)
    try:
        services.device_unlock(device=device, user=request.user, request=request)
    except services.ReimageRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Device {device.api_id} is unlocked.")
    return redirect("device_detail", pk=device.pk)


@require_POST
@permission_required("reimaging.refresh_inventory", raise_exception=True)
def inventory_refresh(request: HttpRequest) -> HttpResponseRedirect:
    """Ask the worker to sync every account now; back to the picker view the button was pressed on."""
    account_ids = services.inventory_refresh(user=request.user, request=request)
    if account_ids:
        messages.info(request, "Refreshing the inventory from the Voxel API; the sync line shows when it is done.")
    else:
        messages.warning(request, "There is no active account to refresh: an admin adds one in the Django admin.")
    target = request.POST.get("next", "")
    local = target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return HttpResponseRedirect(target if local else reverse("device_list"))
