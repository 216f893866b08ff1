"""Celery tasks: thin wrappers that load by id, call a service, and reschedule or retry."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from reimaging.models import Heartbeat


@shared_task(ignore_result=True, soft_time_limit=10, time_limit=20)
def heartbeat_write() -> None:
    """Record that a worker is alive and beat is scheduling (read by /healthz)."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"at": timezone.now()})


@worker_ready.connect
def _on_worker_ready(**kwargs: Any) -> None:
    """Report in as soon as a worker starts, rather than waiting for beat's first heartbeat."""
    heartbeat_write()
