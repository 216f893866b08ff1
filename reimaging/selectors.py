"""Reads: what pages show, already filtered for the user."""

from __future__ import annotations

from django.db.models import F, Q

from reimaging.models import Account


def api_banner() -> dict[str, str] | None:
    """A banner when an account's last contact with the API failed (read from the database, never the API)."""
    failing = list(
        Account.objects.filter(is_active=True)
        .filter(Q(last_sync_at__isnull=True) | Q(last_sync_error_at__gt=F("last_sync_at")))
        .exclude(last_sync_error="")
        .values_list("name", "last_sync_error")[:3]
    )
    if not failing:
        return None
    names = ", ".join(name for name, _ in failing)
    return {"level": "error", "text": f"The Voxel API is failing for {names}: {failing[0][1]}"}
