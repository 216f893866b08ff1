"""Job history and a job's page."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from reimaging.models import ReimageJob


@require_GET
@permission_required("reimaging.view_reimagejob", raise_exception=True)
def job_list(request: HttpRequest) -> TemplateResponse:
    """Every reimage job, newest first."""
    jobs = ReimageJob.objects.select_related("device", "account")
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    return TemplateResponse(request, "reimaging/job_list.html", {"page": page, "nav": "jobs"})


@require_GET
@permission_required("reimaging.view_reimagejob", raise_exception=True)
def job_detail(request: HttpRequest, pk: int) -> TemplateResponse:
    """One job: who, why, parameters, timeline."""
    job = get_object_or_404(ReimageJob.objects.select_related("device", "account"), pk=pk)
    return TemplateResponse(request, "reimaging/job_detail.html", {"job": job, "nav": "jobs"})
