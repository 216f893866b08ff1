"""The home redirect and /healthz."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reimaging.clients import client_for
from reimaging.models import Account, Heartbeat
from reimaging.voxel import AuthError, VoxelError


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The device picker is where support staff start."""
    return redirect("device_list")


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _check_redis() -> dict[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def _check_worker() -> dict[str, Any]:
    beat = Heartbeat.objects.filter(name="worker").first()
    if beat is None:
        return {"ok": False, "error": "the Celery worker has never reported in"}
    age = (timezone.now() - beat.at).total_seconds()
    if age > settings.HEALTH_HEARTBEAT_MAX_AGE:
        return {"ok": False, "error": f"no heartbeat from the Celery worker for {int(age)} s", "age_seconds": int(age)}
    return {"ok": True, "age_seconds": int(age)}


def _check_hapi() -> dict[str, Any]:
    accounts = list(Account.objects.filter(is_active=True)[:10])
    if not accounts:
        return {"ok": False, "error": "no active account is configured"}
    failing = {}
    for account in accounts:
        try:
            client_for(account, timeout=(2.0, 3.0), record=False).hapi_version()
        except AuthError:
            failing[account.name] = "the API rejected our credentials: check the account's key and secret"
        except VoxelError as exc:
            failing[account.name] = f"unreachable or failing ({type(exc).__name__})"
    if failing:
        return {"ok": False, "error": "the Voxel API is not answering for every account", "accounts": failing}
    return {"ok": True, "accounts": len(accounts)}


CHECKS = {"database": _check_database, "redis": _check_redis, "worker": _check_worker, "hapi": _check_hapi}
# What to say when a check itself raises: plain words, never the exception text (it may carry a URL or host).
CHECK_FAILED = {
    "database": "the database is unavailable",
    "redis": "Redis is unreachable",
    "worker": "the worker heartbeat could not be read (is the database up?)",
    "hapi": "the Voxel API check could not run",
}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON health of each part; 200 when all are up, 503 naming what is not. Reveals no secrets."""
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            result = check()
        except Exception:  # a health check must answer, whatever broke
            result = {"ok": False, "error": CHECK_FAILED[name]}
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        results[name] = result
    failing = [name for name, result in results.items() if not result["ok"]]
    body = {"status": "ok" if not failing else "failing", "failing": failing, "checks": results}
    return JsonResponse(body, status=200 if not failing else 503)
