"""The audit log (admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from reimaging.models import AuditEntry


@require_GET
@permission_required("reimaging.view_auditentry", raise_exception=True)
def audit_list(request: HttpRequest) -> TemplateResponse:
    """Audit entries, newest first."""
    page = Paginator(AuditEntry.objects.all(), 100).get_page(request.GET.get("page"))
    return TemplateResponse(request, "reimaging/audit_list.html", {"page": page, "nav": "audit"})
