"""A real Celery worker process on a real Redis runs a task against the test database."""

from __future__ import annotations

import time

import pytest

from reimaging.models import Heartbeat
from reimaging.tasks import heartbeat_write

pytestmark = pytest.mark.integration


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_worker_process_runs_a_task(celery_worker_process) -> None:
    worker = celery_worker_process()
    # The worker reports in on start-up; clear that so the row below can only come from the queued task.
    assert wait_until(lambda: Heartbeat.objects.filter(name="worker").exists()), "the worker never started"
    Heartbeat.objects.all().delete()
    result = heartbeat_write.delay()
    assert wait_until(lambda: Heartbeat.objects.filter(name="worker").exists()), "the task did not run"
    assert result.id
    assert worker.alive
