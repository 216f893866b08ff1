"""Celery tasks: thin wrappers that load by id, call a service, and reschedule or retry.

Tasks carry ids only, never form data or secrets. Nothing sleeps in a worker: delays are countdowns.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone

from reimaging import services, voxel
from reimaging.models import Account, Heartbeat

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, soft_time_limit=10, time_limit=20)
def heartbeat_write() -> None:
    """Record that a worker is alive and beat is scheduling (read by /healthz)."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"at": timezone.now()})


@worker_ready.connect
def _on_worker_ready(**kwargs: Any) -> None:
    """Report in as soon as a worker starts, rather than waiting for beat's first heartbeat."""
    heartbeat_write()


# acks_late: a worker killed mid-task leaves the message to be redelivered; job_submit is safe to run twice because
# the job row (state, reimage_sent_at) decides, never the message.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=90, time_limit=120)
def job_submit(job_id: int) -> str:
    """Send a queued job's reimage once; reschedule itself when the API surely did nothing."""
    outcome = services.job_submit(job_id=job_id)
    if outcome.retry_in is not None:
        job_submit.apply_async((job_id,), countdown=outcome.retry_in)
    return outcome.state


def _single_flight(name: str, seconds: int) -> redis.lock.Lock | None:
    """A Redis lock so that two beats or slow cycles never run the same periodic task at once."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    lock = client.lock(f"voxweb:lock:{name}", timeout=seconds, blocking=False)
    return lock if lock.acquire() else None


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def jobs_poll() -> int:
    """One status call per account for every active job (beat runs it every REIMAGE_POLL_INTERVAL)."""
    lock = _single_flight("jobs_poll", 150)
    if lock is None:
        return 0
    try:
        return services.jobs_poll()
    finally:
        lock.release()


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def jobs_sweep() -> int:
    """Requeue jobs whose submit message was lost."""
    return len(services.jobs_sweep())


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def inventory_sync(account_id: int | None = None) -> int:
    """Sync one account's inventory; without an id (beat, every INVENTORY_SYNC_INTERVAL) enqueue one per account.

    One task per account lets several workers sync accounts side by side, and one slow or failing API never
    holds up the others. Returns how many accounts were synced or enqueued.
    """
    if account_id is None:
        ids = list(Account.objects.filter(is_active=True).values_list("pk", flat=True))
        for pk in ids:
            inventory_sync.delay(pk)
        return len(ids)
    account = Account.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return 0
    lock = _single_flight(f"inventory_sync:{account.pk}", 660)
    if lock is None:  # a sync of this account is running already; its result is as fresh as ours would be
        return 0
    try:
        services.inventory_sync(account=account)
    except voxel.VoxelError as exc:
        # Recorded on the account (the picker and the banner show it); beat tries again at the next interval.
        log.warning("inventory sync of %s failed: %s", account.name, type(exc).__name__)
        return 0
    finally:
        lock.release()
    return 1
