"""Filter forms for list pages: every query-string value is validated, so a bad one is explained, never a 500."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from reimaging.models import Account, ReimageJob

JOB_SORTS = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "state": ("state", "-created_at"),
    "device": ("device__label", "-created_at"),
    "user": ("requested_by_name", "-created_at"),
    "-finished": ("-finished_at", "-id"),
}


class JobFilterForm(forms.Form):
    """The job history filters; all optional, all in the URL."""

    q = forms.CharField(required=False, max_length=200, label="Search", help_text="Hostname, device id or reason")
    state = forms.ChoiceField(required=False, choices=[("", "any state"), *ReimageJob.State.choices])
    user = forms.ChoiceField(required=False, label="Started by")
    account = forms.ModelChoiceField(
        required=False, queryset=Account.objects.all(), label="Customer", empty_label="any customer"
    )
    device = forms.IntegerField(required=False, min_value=1, label="Device id")
    facility = forms.CharField(required=False, max_length=50)
    image = forms.IntegerField(required=False, min_value=1, label="Image id")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("-created", "newest first"),
            ("created", "oldest first"),
            ("-finished", "recently finished"),
            ("state", "state"),
            ("device", "device"),
            ("user", "user"),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = ReimageJob.objects.order_by().values_list("requested_by_name", flat=True).distinct()
        user_choices = [("", "anyone")] + [(n, n) for n in sorted(set(names))]
        # Users who have not started a job yet are valid filters too (an empty result, not an error).
        user_choices += [
            (u, u)
            for u in get_user_model().objects.order_by("username").values_list("username", flat=True)
            if u not in set(names)
        ]
        user_field = self.fields["user"]
        assert isinstance(user_field, forms.ChoiceField)
        user_field.choices = user_choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("date_from", "date_to"):  # beyond these, a day's bounds in the site's time zone may not exist
            day = data.get(name)
            if day and not date(1900, 1, 1) <= day <= date(9998, 12, 31):
                self.add_error(name, "Give a date between 1900 and 9998.")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date; swap them.")
        return data

    def apply(self, jobs: QuerySet[ReimageJob]) -> QuerySet[ReimageJob]:
        """The jobs that match the valid filters (invalid ones are left out and shown as errors)."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        if q := (data.get("q") or "").strip():
            match = Q(params__hostname__icontains=q) | Q(reason__icontains=q) | Q(device__label__icontains=q)
            if q.isascii() and q.isdigit() and len(q) <= 18:
                match |= Q(device__api_id=int(q)) | Q(pk=int(q))
            jobs = jobs.filter(match)
        if data.get("state"):
            jobs = jobs.filter(state=data["state"])
        if data.get("user"):
            jobs = jobs.filter(requested_by_name=data["user"])
        if data.get("account"):
            jobs = jobs.filter(account=data["account"])
        if data.get("device"):
            jobs = jobs.filter(device__api_id=data["device"])
        if data.get("facility"):
            jobs = jobs.filter(device__facility=data["facility"].strip().lower())
        if data.get("image"):
            jobs = jobs.filter(params__image_id=data["image"])
        tz = timezone.get_current_timezone()
        if data.get("date_from"):
            jobs = jobs.filter(created_at__gte=datetime.combine(data["date_from"], time.min, tzinfo=tz))
        if data.get("date_to"):
            jobs = jobs.filter(created_at__lte=datetime.combine(data["date_to"], time.max, tzinfo=tz))
        return jobs.order_by(*JOB_SORTS.get(data.get("sort") or "-created", JOB_SORTS["-created"]))
