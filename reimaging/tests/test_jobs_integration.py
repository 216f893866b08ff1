"""Reimage jobs end to end: a real Celery worker (with beat) on a real Redis, voxsim over HTTP, the test database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from reimaging import services
from reimaging.models import Device, ReimageJob
from voxweb.processes import Child

pytestmark = pytest.mark.integration
State = ReimageJob.State
REIMAGE = "voxel.voxservers.reimage"
STATUS = "voxel.voxservers.status"
FAST = {"REIMAGE_POLL_INTERVAL": "1", "REIMAGE_STUCK_AFTER_SECONDS": "30"}


def wait_for(predicate: Callable[[], bool], timeout: float = 45.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def job_state(job: ReimageJob) -> str:
    job.refresh_from_db()
    return job.state


@pytest.fixture
def synced(account: Any) -> Any:
    services.inventory_sync(account=account)
    return account


def start_job(account: Any, user: Any, n: int = 0) -> ReimageJob:
    device = list(Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id"))[n]
    image = account.images.order_by("api_id").first()
    return services.reimage_start(
        device=device,
        user=user,
        reason="integration test",
        params={"hostname": f"new{n}.example.com", "image_id": image.api_id},
        secrets={"admin_password": "integration-admin-pw"},
    )


def test_worker_runs_a_job_to_succeeded(synced, make_user, sim, celery_worker_process) -> None:
    celery_worker_process(beat=True, **FAST)
    job = start_job(synced, make_user("operator"))
    wait_for(lambda: job_state(job) == State.SUCCEEDED, what="the job to succeed")
    assert len(sim.calls(REIMAGE)) == 1
    assert job.secrets_encrypted == ""
    # The device is re-read from devices.list just after the job is marked succeeded.
    wait_for(lambda: Device.objects.get(pk=job.device_id).label == "new0.example.com", what="the device refresh")


def test_worker_retries_206_then_succeeds(synced, make_user, sim, celery_worker_process) -> None:
    sim.add_fault(kind="error", code=206, msg="Failed acquiring resource", count=1, method=REIMAGE)
    celery_worker_process(beat=True, **FAST)
    job = start_job(synced, make_user("operator"))
    wait_for(lambda: job_state(job) == State.SUCCEEDED, timeout=60, what="the job to succeed after a 206")
    assert [c["code"] for c in sim.calls(REIMAGE)] == [206, None]


def test_worker_fails_unknown_device_plainly(synced, make_user, sim, celery_worker_process) -> None:
    from reimaging.tests.factories import DeviceFactory

    celery_worker_process(**FAST)
    ghost = DeviceFactory(account=synced, api_id=999999)
    image = synced.images.first()
    job = services.reimage_start(
        device=ghost,
        user=make_user("operator"),
        reason="r",
        params={"hostname": "x.example.com", "image_id": image.api_id},
        secrets={},
    )
    wait_for(lambda: job_state(job) == State.FAILED, what="the job to fail")
    assert job.error_code == 100


def test_worker_killed_mid_call_is_reconciled_without_a_second_reimage(
    synced, make_user, sim, celery_worker_process
) -> None:
    # The API processes the reimage, then the answer hangs; the worker is SIGKILLed while it waits.
    sim.add_fault(kind="hang", seconds=20, phase="after", count=1, method=REIMAGE)
    first: Child = celery_worker_process(**FAST)
    job = start_job(synced, make_user("operator"))
    wait_for(lambda: len(sim.calls(REIMAGE)) == 1, what="the reimage call")
    first.kill()
    assert job_state(job) == State.SUBMITTING
    celery_worker_process(beat=True, **FAST)
    wait_for(lambda: job_state(job) == State.SUCCEEDED, what="the job to be reconciled and succeed")
    assert len(sim.calls(REIMAGE)) == 1, "reimage must be called exactly once"
    assert job.events.filter(message__contains="was received").exists()


def test_worker_survives_a_redis_restart_mid_job(synced, make_user, sim, redis_service, celery_worker_process) -> None:
    sim.configure(reimage_seconds=4)
    celery_worker_process(beat=True, **FAST)
    job = start_job(synced, make_user("operator"))
    wait_for(lambda: job_state(job) == State.IN_PROGRESS, what="the job to be in progress")
    redis_service.restart(down_for=1.0)
    wait_for(lambda: job_state(job) == State.SUCCEEDED, timeout=60, what="the job to finish after Redis came back")
    assert len(sim.calls(REIMAGE)) == 1


def test_worker_runs_50_jobs_with_one_status_call_per_cycle(
    make_user, sim, celery_worker_process, django_db_blocker
) -> None:
    from reimaging.models import Account
    from voxsim import CUSTOMERS
    from voxsim.server import start

    big = start(devices=200, seed=7, reimage_seconds=3)
    try:
        account = Account(
            name="Big", api_url=big.api_url, api_key="staff-key", customer_id=str(CUSTOMERS[0].customer_id)
        )
        account.api_secret = "staff-secret"
        account.save()
        services.inventory_sync(account=account)
        user = make_user("operator")
        assert Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).count() >= 50
        celery_worker_process(beat=True, **FAST)
        jobs = [start_job(account, user, n) for n in range(50)]
        started = time.monotonic()
        wait_for(
            lambda: ReimageJob.objects.filter(pk__in=[j.pk for j in jobs], state=State.SUCCEEDED).count() == 50,
            timeout=120,
            what="50 jobs to succeed",
        )
        elapsed = time.monotonic() - started
        status_calls = big.calls(STATUS)
        assert len(big.calls(REIMAGE)) == 50
        # Every poll asks for all devices at once, and there is about one poll per second, not one per job.
        assert all("device_id" not in c["params"] for c in status_calls)
        assert len(status_calls) <= elapsed / 1.0 + 5, (len(status_calls), elapsed)
    finally:
        big.stop()
