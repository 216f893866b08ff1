"""Template context every page needs: the user's role and the API banner."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from reimaging import roles, selectors


def layout(request: HttpRequest) -> dict[str, Any]:
    """The role shown beside the user's name, and a banner when the API is failing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"TIME_ZONE": settings.TIME_ZONE}
    return {
        "user_role": roles.role_of(user),
        "api_banner": selectors.api_banner(),
        "TIME_ZONE": settings.TIME_ZONE,
    }
