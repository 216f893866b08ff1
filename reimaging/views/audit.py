"""The audit log (admins): filter, page and export who did what."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django_htmx.http import push_url
from django_htmx.middleware import HtmxDetails

from reimaging.audit import audit_record
from reimaging.csvexport import csv_stream_response
from reimaging.models import AuditEntry

PAGE_SIZE = 50
EXPORT_HEADER = ["id", "at", "actor", "action", "target", "message", "ip_address", "user_agent"]


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware."""

    htmx: HtmxDetails


class AuditFilterForm(forms.Form):
    """The audit log's filters, read from the query string."""

    SORTS = {"newest": ("-at", "-id"), "oldest": ("at", "id")}

    action = forms.ChoiceField(required=False, choices=[("", "any"), *AuditEntry.Action.choices])
    actor = forms.CharField(required=False, max_length=150, label="Who")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Target or message")
    sort = forms.ChoiceField(required=False, choices=[("newest", "newest first"), ("oldest", "oldest first")])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("date_from", "date_to"):  # beyond these, a day's start in the site's time zone may not exist
            day = data.get(name)
            if day and not datetime.date(1900, 1, 1) <= day <= datetime.date(9998, 12, 31):
                self.add_error(name, "Give a date between 1900 and 9998.")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def querystring(self, **extra: Any) -> str:
        """The filters as given (empty ones left out), plus extra parameters, for links that keep them."""
        params = [(name, value) for name in self.fields if (value := self.data.get(name, "").strip())]
        params += [(name, value) for name, value in extra.items() if value]
        return urlencode(params)


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def audit_entries(form: AuditFilterForm) -> QuerySet[AuditEntry]:
    """The entries matching the form's valid filters, in its order (newest first unless asked otherwise)."""
    form.is_valid()
    data = form.cleaned_data  # only the valid filters: an invalid one is reported and ignored
    entries = AuditEntry.objects.all()
    if data.get("action"):
        entries = entries.filter(action=data["action"])
    if data.get("actor"):
        entries = entries.filter(actor_name__icontains=data["actor"].strip())
    if data.get("date_from"):
        entries = entries.filter(at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):  # the whole "to" day is included, in the site's time zone
        entries = entries.filter(at__lt=_day_start(data["date_to"] + datetime.timedelta(days=1)))
    if data.get("q"):
        q = data["q"].strip()
        entries = entries.filter(Q(target__icontains=q) | Q(message__icontains=q))
    return entries.order_by(*AuditFilterForm.SORTS.get(data.get("sort") or "newest", AuditFilterForm.SORTS["newest"]))


@require_GET
@permission_required("reimaging.view_auditentry", raise_exception=True)
def audit_list(request: HtmxHttpRequest) -> TemplateResponse:
    """Audit entries, filtered, sorted and paged from the URL; HTMX gets only the results region."""
    form = AuditFilterForm(request.GET)
    page = Paginator(audit_entries(form), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"nav": "audit", "form": form, "page": page, "query": form.querystring()}
    template = "reimaging/audit_list.html"
    # A history restore (back button with htmx's cache off) needs the whole page, not the fragment.
    partial = request.htmx and not request.htmx.history_restore_request
    response = TemplateResponse(request, template + "#audit-results" if partial else template, context)
    patch_vary_headers(response, ["HX-Request"])
    if partial:
        canonical = form.querystring(page=page.number if page.number > 1 else None)
        response = push_url(response, f"{request.path}?{canonical}" if canonical else request.path)
    return response


def _export_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[Any]]:
    for e in entries.iterator(chunk_size=2000):
        yield [e.pk, e.at, e.actor_name, e.action, e.target, e.message, e.ip_address, e.user_agent]


@require_GET
@permission_required(["reimaging.view_auditentry", "reimaging.export_history"], raise_exception=True)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered audit log as a streamed CSV download; the export itself is audited first."""
    form = AuditFilterForm(request.GET)
    entries = audit_entries(form)
    filters = form.querystring() or "none"
    record = audit_record(
        actor=request.user,
        action=AuditEntry.Action.EXPORTED,
        target="audit log",
        message=f"CSV of {entries.count()} entries; filters: {filters}",
        request=request,
    )
    filename = f"voxweb-audit-{timezone.localtime(record.at):%Y%m%d-%H%M%S}.csv"
    return csv_stream_response(filename, EXPORT_HEADER, _export_rows(entries.exclude(pk=record.pk)))
