"""'Job N changed' notices on Redis pub/sub: the worker publishes after commit, web processes listen for SSE."""

from __future__ import annotations

import json
import logging
from functools import cache

import redis
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)
CHANNEL = "voxweb:jobs"


@cache
def _redis(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process; publishing is frequent, connecting is not free."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def job_changed_publish(job_id: int, *, device_id: int | None = None, state: str = "") -> None:
    """Tell every web process that a job changed; a Redis outage is logged, never fatal (pages poll the DB too)."""
    message = json.dumps({"job": job_id, "device": device_id, "state": state})
    try:
        _redis(settings.REDIS_URL).publish(CHANNEL, message)
    except redis.RedisError as exc:
        log.warning("could not publish job %s change: %s", job_id, type(exc).__name__)


def job_changed_on_commit(job_id: int, *, device_id: int | None = None, state: str = "") -> None:
    """Publish once the surrounding transaction commits, so listeners read the new state."""
    transaction.on_commit(lambda: job_changed_publish(job_id, device_id=device_id, state=state))
