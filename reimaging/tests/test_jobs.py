"""Reimage jobs against voxsim over HTTP: the state machine, submit-once, polling, reconciling, retry, cancel, locks."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from reimaging import services
from reimaging.models import ApiCall, AuditEntry, Device, JobEvent, ReimageJob
from reimaging.services import ReimageRefused
from reimaging.tests.factories import DeviceFactory, ReimageJobFactory

pytestmark = pytest.mark.django_db
State = ReimageJob.State
REIMAGE = "voxel.voxservers.reimage"
STATUS = "voxel.voxservers.status"


@pytest.fixture
def synced(account: Any) -> Any:
    """The account with its inventory synced from voxsim."""
    services.inventory_sync(account=account)
    return account


def voxserver(account: Any, n: int = 0) -> Device:
    return list(Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id"))[n]


def start(device: Device, user: Any, **secrets: str) -> ReimageJob:
    image_id = device.account.images.order_by("api_id").first().api_id
    return services.reimage_start(
        device=device,
        user=user,
        reason="ticket #42: customer asked for a clean install",
        params={"hostname": "fresh.example.com", "image_id": image_id, "voxel_access": "false"},
        secrets=secrets,
    )


def poll_until(job: ReimageJob, states: tuple[str, ...], timeout: float = 15.0) -> ReimageJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.jobs_poll()
        job.refresh_from_db()
        if job.state in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job stayed {job.state}")


def test_jobs_happy_path_to_succeeded_refreshes_the_device(synced, make_user, sim) -> None:
    device = voxserver(synced)
    job = start(device, make_user("operator"), admin_password="S3cret-admin-pw")
    assert job.state == State.QUEUED and job.secrets_set == ["admin_password"]
    assert "S3cret-admin-pw" not in job.secrets_encrypted

    assert services.job_submit(job_id=job.pk).state == State.IN_PROGRESS
    job.refresh_from_db()
    assert job.secrets_encrypted == "" and job.deadline is not None and job.reimage_sent_at is not None
    job = poll_until(job, (State.SUCCEEDED,))
    device.refresh_from_db()
    assert device.label == "fresh.example.com"
    assert job.progress == 100 and job.finished_at
    assert len(sim.calls(REIMAGE)) == 1
    sent = sim.calls(REIMAGE)[0]["params"]
    assert sent["admin_password"] == "***" and sent["hostname"] == "fresh.example.com"
    states = list(job.events.exclude(to_state="").values_list("to_state", flat=True))
    assert states == [State.QUEUED, State.SUBMITTING, State.IN_PROGRESS, State.SUCCEEDED]
    call = ApiCall.objects.get(job=job, method=REIMAGE)
    assert call.params["admin_password"] == "***" and call.stat == "ok"
    assert "S3cret-admin-pw" not in str(list(ApiCall.objects.values()))
    assert "S3cret-admin-pw" not in str(list(JobEvent.objects.values()))


def test_jobs_progress_is_recorded_from_extended_status(synced, make_user, sim) -> None:
    sim.configure(reimage_seconds=4)
    job = start(voxserver(synced), make_user("operator"))
    services.job_submit(job_id=job.pk)
    time.sleep(1.5)
    services.jobs_poll()
    job.refresh_from_db()
    assert job.state == State.IN_PROGRESS
    assert job.extended_status and job.progress is not None and 0 < job.progress < 100


def test_jobs_206_is_retried_then_succeeds(synced, make_user, sim) -> None:
    sim.add_fault(kind="error", code=206, msg="Failed acquiring resource", count=1, method=REIMAGE)
    job = start(voxserver(synced), make_user("operator"), ssh_password="ssh-pw-1")
    outcome = services.job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert outcome.state == State.QUEUED and outcome.retry_in and 2 <= outcome.retry_in <= 5
    assert job.reimage_sent_at is None and job.next_attempt_at is not None
    assert job.secrets_encrypted, "passwords are kept while the job may still be sent"
    assert services.job_submit(job_id=job.pk).state == State.IN_PROGRESS
    assert [c["code"] for c in sim.calls(REIMAGE)] == [206, None]


def test_jobs_206_storm_gives_up_after_the_limit(synced, make_user, sim, settings) -> None:
    settings.REIMAGE_SUBMIT_MAX_ATTEMPTS = 3
    sim.add_fault(kind="error", code=206, msg="Failed acquiring resource", count=10, method=REIMAGE)
    job = start(voxserver(synced), make_user("operator"))
    for _ in range(3):
        outcome = services.job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert outcome.state == State.FAILED == job.state
    assert "could not be sent after 3 attempts" in job.error_message and job.secrets_encrypted == ""


def test_jobs_connection_refused_is_retried(synced, make_user) -> None:
    synced.api_url = "http://127.0.0.1:9/version/1.0/"
    synced.save()
    job = start(voxserver(synced), make_user("operator"))
    outcome = services.job_submit(job_id=job.pk)
    assert outcome.state == State.QUEUED and outcome.retry_in


def test_jobs_unknown_device_fails_at_once_with_code_100(synced, make_user, sim) -> None:
    ghost = DeviceFactory(account=synced, api_id=999999, label="ghost.example.com")
    job = start(ghost, make_user("operator"))
    assert services.job_submit(job_id=job.pk).state == State.FAILED
    job.refresh_from_db()
    assert job.error_code == 100 and "does not know device 999999" in job.error_message


def test_jobs_wrong_type_fails_at_once_with_code_110(synced, make_user, sim) -> None:
    # The database believes it is a VoxSERVER; the API knows better.
    cloud = Device.objects.filter(account=synced, kind=Device.Kind.VOXCLOUD).first()
    Device.objects.filter(pk=cloud.pk).update(kind=Device.Kind.VOXSERVER)
    cloud.refresh_from_db()
    job = start(cloud, make_user("operator"))
    assert services.job_submit(job_id=job.pk).state == State.FAILED
    job.refresh_from_db()
    assert job.error_code == 110 and "not a VoxSERVER" in job.error_message


def test_jobs_ambiguous_timeout_never_resends_and_reconciles(synced, make_user, sim, settings) -> None:
    settings.VOXEL_TIMEOUT = (1.0, 0.5)
    sim.add_fault(kind="hang", seconds=1.5, phase="after", count=1, method=REIMAGE)
    job = start(voxserver(synced), make_user("operator"))
    assert services.job_submit(job_id=job.pk).state == State.SUBMITTING
    # A redelivered task message must not send it again either.
    assert services.job_submit(job_id=job.pk).state == State.SUBMITTING
    settings.VOXEL_TIMEOUT = (1.0, 5.0)
    job = poll_until(job, (State.SUCCEEDED,))
    assert len(sim.calls(REIMAGE)) == 1
    assert job.events.filter(message__contains="will not be sent again").exists()


def test_jobs_timeout_before_processing_fails_plainly_after_the_grace(synced, make_user, sim, settings) -> None:
    settings.VOXEL_TIMEOUT = (1.0, 0.5)
    settings.REIMAGE_STUCK_AFTER_SECONDS = 1
    sim.add_fault(kind="hang", seconds=1.0, phase="before", count=1, method=REIMAGE)
    job = start(voxserver(synced), make_user("operator"))
    assert services.job_submit(job_id=job.pk).state == State.SUBMITTING
    time.sleep(1.2)
    job = poll_until(job, (State.FAILED,))
    assert "It was not sent again" in job.error_message
    assert len(sim.calls(REIMAGE)) == 1


def test_jobs_api_failure_flags_the_device(synced, make_user, sim) -> None:
    sim.configure(fail_rate=1.0)
    device = voxserver(synced)
    job = start(device, make_user("operator"))
    services.job_submit(job_id=job.pk)
    job = poll_until(job, (State.FAILED,))
    device.refresh_from_db()
    assert device.state_undefined and "state is undefined" in job.error_message


def test_jobs_past_deadline_times_out(synced, make_user, sim) -> None:
    sim.configure(reimage_seconds=60)
    device = voxserver(synced)
    job = start(device, make_user("operator"))
    services.job_submit(job_id=job.pk)
    ReimageJob.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    services.jobs_poll()
    job.refresh_from_db()
    assert job.state == State.TIMED_OUT and "No final status within" in job.error_message


def test_jobs_one_active_job_per_device_names_the_holder(synced, make_user) -> None:
    device = voxserver(synced)
    first = start(device, make_user("operator", "olga"))
    with pytest.raises(ReimageRefused, match=rf"reimage #{first.pk} by olga, running 0 min"):
        start(device, make_user("admin", "adam"))


def test_jobs_database_enforces_one_active_job() -> None:
    from django.db import IntegrityError, transaction

    job = ReimageJobFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReimageJobFactory(device=job.device, requested_by=job.requested_by)


def test_jobs_cancel_only_before_submission(synced, make_user) -> None:
    user = make_user("operator")
    job = start(voxserver(synced), user)
    services.job_cancel(job=job, user=user)
    job.refresh_from_db()
    assert job.state == State.CANCELLED and job.secrets_encrypted == ""
    assert services.job_submit(job_id=job.pk).state == State.CANCELLED  # a late message does nothing
    assert AuditEntry.objects.filter(action=AuditEntry.Action.JOB_CANCELLED).count() == 1
    second = start(voxserver(synced, 1), user)
    services.job_submit(job_id=second.pk)
    with pytest.raises(ReimageRefused, match="only a queued job can be cancelled"):
        services.job_cancel(job=second, user=user)


def test_jobs_retry_links_a_new_job_with_the_same_parameters(synced, make_user, sim) -> None:
    sim.configure(fail_rate=1.0)
    user = make_user("operator")
    job = start(voxserver(synced), user)
    services.job_submit(job_id=job.pk)
    job = poll_until(job, (State.FAILED,))
    sim.configure(fail_rate=0.0)
    retry = services.job_retry(job=job, user=user, secrets={"console_password": "new-console-pw"})
    assert retry.retry_of == job and retry.params == job.params and retry.secrets_set == ["console_password"]
    assert AuditEntry.objects.filter(action=AuditEntry.Action.JOB_RETRIED).exists()
    with pytest.raises(ReimageRefused, match="only failed or timed-out"):
        services.job_retry(job=retry, user=user, secrets={})


def test_jobs_locked_device_cannot_be_reimaged(synced, make_user) -> None:
    admin = make_user("admin")
    device = voxserver(synced)
    services.device_lock(device=device, user=admin, reason="customer migrating data")
    with pytest.raises(ReimageRefused, match=r"locked by admin-user.*customer migrating data"):
        start(device, make_user("operator"))
    services.device_unlock(device=device, user=admin)
    assert start(device, admin).state == State.QUEUED
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditEntry.Action.DEVICE_LOCKED, AuditEntry.Action.DEVICE_UNLOCKED} <= actions


def test_jobs_sweeper_requeues_lost_queued_jobs_only(synced, make_user, django_capture_on_commit_callbacks) -> None:
    user = make_user("operator")
    lost = start(voxserver(synced), user)
    fresh = start(voxserver(synced, 1), user)
    ReimageJob.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    from unittest.mock import patch

    from reimaging import tasks

    with patch.object(tasks.job_submit, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_sweep() == [lost.pk]
    delay.assert_called_once_with(lost.pk)
    assert fresh.pk not in services.jobs_sweep()
    assert services.jobs_sweep() == [], "a requeued job waits a full period before the next sweep"


def test_jobs_poll_makes_one_status_call_per_account(synced, make_user, sim) -> None:
    sim.configure(reimage_seconds=30)
    user = make_user("operator")
    servers = list(Device.objects.filter(account=synced, kind=Device.Kind.VOXSERVER))
    jobs = [start(device, user) for device in servers[:8]]
    for job in jobs:
        services.job_submit(job_id=job.pk)
    before = len(sim.calls(STATUS))
    assert services.jobs_poll() == 1
    assert len(sim.calls(STATUS)) == before + 1


def test_jobs_start_enqueues_the_submit_with_the_id_only(synced, make_user, django_capture_on_commit_callbacks) -> None:
    from unittest.mock import patch

    from reimaging import tasks

    with patch.object(tasks.job_submit, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        job = start(voxserver(synced), make_user("operator"), admin_password="never-in-a-message")
    delay.assert_called_once_with(job.pk)
