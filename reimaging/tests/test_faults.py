"""Faults: the API down (at start-up and mid-job), our credentials refused, a storm of 206, Redis down, the database
locked or its connections cut. Pages keep rendering from the database, say what is wrong, and jobs resume.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection
from django.test import Client

from reimaging import services, voxel
from reimaging.models import Account, Device, DeviceLock, ReimageJob
from reimaging.tests.factories import DeviceFactory, ReimageJobFactory
from reimaging.tests.test_streams import login
from voxsim import CUSTOMERS
from voxsim.server import SimServer, start
from voxweb.processes import free_port

State = ReimageJob.State
REIMAGE = "voxel.voxservers.reimage"
UNREACHABLE = "The Voxel API could not be reached"
CREDENTIALS = "The Voxel API rejected our credentials: check the account's API key, secret and customer id."


def wait_for(predicate: Callable[[], Any], timeout: float = 45.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def account_on(api_url: str, name: str = "Acme Hosting") -> Account:
    account = Account(name=name, api_url=api_url, api_key="staff-key", customer_id=str(CUSTOMERS[0].customer_id))
    account.api_secret = "staff-secret"
    account.save()
    return account


def as_role(role: str, make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user(role, f"{role}-faults"))
    return client


def banner(client: Client, url: str) -> str:
    """The page's API banner text ('' without one); the page itself must render."""
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    start = html.find('data-testid="api-banner">')
    return unescape(html[start + 25 : html.find("</div>", start)]) if start >= 0 else ""


def health(client: Client) -> dict[str, Any]:
    return client.get("/healthz").json()


def start_job(account: Account, user: Any, n: int = 0) -> ReimageJob:
    device = list(Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id"))[n]
    image = account.images.order_by("api_id").first()
    return services.reimage_start(
        device=device,
        user=user,
        reason="fault test",
        params={"hostname": f"fault{n}.example.com", "image_id": image.api_id},
        secrets={},
    )


def job_state(job: ReimageJob) -> str:
    job.refresh_from_db()
    return job.state


# --- The API down at start-up: pages from the database, a banner, /healthz; all well once it answers ---------------


@pytest.mark.django_db
def test_faults_api_down_at_start_up_then_back(make_user, tmp_path: Path) -> None:
    port = free_port()
    account = account_on(f"http://127.0.0.1:{port}/version/1.0/")
    device = DeviceFactory(account=account)
    job = ReimageJobFactory(device=device, state=State.SUCCEEDED)
    with pytest.raises(voxel.TransientError):
        services.inventory_sync(account=account)
    viewer = as_role("viewer", make_user)
    for url in ("/devices/", f"/devices/{device.pk}/", "/jobs/", f"/jobs/{job.pk}/"):
        text = banner(viewer, url)
        assert text.startswith(f"The Voxel API is failing for {account.name}: {UNREACHABLE}"), (url, text)
    body = health(viewer)
    assert "hapi" in body["failing"] and account.name in body["checks"]["hapi"]["accounts"]

    sim = start(port=port, devices=12, seed=3, state_file=tmp_path / "voxsim.json")
    try:
        services.inventory_sync(account=account)
        assert banner(viewer, "/devices/") == ""
        assert health(viewer)["checks"]["hapi"]["ok"] is True
        assert Device.objects.filter(account=account).count() > 1
    finally:
        sim.stop()


# --- Our credentials refused ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_faults_credentials_refused_say_what_to_check(sim, make_user) -> None:
    good = account_on(sim.api_url)
    services.inventory_sync(account=good)
    job = start_job(good, make_user("operator"))
    good.api_secret = "wrong-secret"  # rotated at the API, not here
    good.save()
    with pytest.raises(voxel.AuthError):
        services.inventory_sync(account=good)
    viewer = as_role("viewer", make_user)
    assert banner(viewer, "/devices/") == f"The Voxel API is failing for {good.name}: {CREDENTIALS}"
    services.job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED and job.error_message == CREDENTIALS
    assert CREDENTIALS in unescape(viewer.get(f"/jobs/{job.pk}/").content.decode())
    assert "key and secret" in health(viewer)["checks"]["hapi"]["accounts"][good.name]
    assert "wrong-secret" not in viewer.get("/healthz").content.decode()


# --- A storm of 206: retried with growing delays, then failed in plain words ---------------------------------------


@pytest.mark.django_db
def test_faults_206_storm_backs_off_then_fails_plainly(sim, make_user, settings) -> None:
    account = account_on(sim.api_url)
    services.inventory_sync(account=account)
    job = start_job(account, make_user("operator"))
    sim.add_fault(kind="error", code=206, rate=1.0, method=REIMAGE)
    delays = []
    while (outcome := services.job_submit(job_id=job.pk)).retry_in is not None:
        delays.append(outcome.retry_in)
    assert outcome.state == State.FAILED
    assert len(delays) == settings.REIMAGE_SUBMIT_MAX_ATTEMPTS - 1
    assert delays == sorted(delays) and delays[-1] > delays[0]  # exponential, with jitter inside each step
    assert len(sim.calls(REIMAGE)) == settings.REIMAGE_SUBMIT_MAX_ATTEMPTS
    job.refresh_from_db()
    assert job.error_message == (
        f"The reimage could not be sent after {settings.REIMAGE_SUBMIT_MAX_ATTEMPTS} attempts: the API could not "
        "acquire a resource (error 206). Nothing was changed on the device; retry later."
    )
    messages = list(job.events.values_list("message", flat=True))
    assert sum("trying again in" in m for m in messages) == len(delays)
    page = as_role("operator", make_user).get(f"/jobs/{job.pk}/").content.decode()
    assert "could not be sent after" in page and "Retry" in page


@pytest.mark.integration
def test_faults_206_storm_with_a_worker(sim, make_user, celery_worker_process) -> None:
    account = account_on(sim.api_url)
    services.inventory_sync(account=account)
    sim.add_fault(kind="error", code=206, rate=1.0, method=REIMAGE)
    celery_worker_process(beat=True, REIMAGE_POLL_INTERVAL="1", REIMAGE_SUBMIT_MAX_ATTEMPTS="3")
    user = make_user("operator")
    jobs = [start_job(account, user, n) for n in range(3)]
    wait_for(lambda: all(job_state(j) == State.FAILED for j in jobs), timeout=60, what="the jobs to fail")
    for job in jobs:
        assert "could not be sent after 3 attempts" in job.error_message
        retries = job.events.filter(message__contains="trying again in").order_by("at")
        assert retries.count() == 2
    assert len(sim.calls(REIMAGE)) == 9


# --- The API down mid-job: a banner while it is; the job finishes once it is back ----------------------------------


@pytest.mark.integration
def test_faults_api_down_at_start_and_mid_job_jobs_resume(make_user, celery_worker_process, tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "voxsim.json"
    account = account_on(f"http://127.0.0.1:{port}/version/1.0/")
    celery_worker_process(beat=True, REIMAGE_POLL_INTERVAL="1", INVENTORY_SYNC_INTERVAL="2")
    viewer = as_role("viewer", make_user)
    wait_for(lambda: UNREACHABLE in banner(viewer, "/devices/"), what="the banner at start-up")

    sim: SimServer = start(port=port, devices=12, seed=3, reimage_seconds=5, state_file=state)
    try:
        wait_for(lambda: banner(viewer, "/devices/") == "" and account.devices.exists(), what="the first sync")
        job = start_job(account, make_user("operator"))
        wait_for(lambda: job_state(job) == State.IN_PROGRESS, what="the job to be accepted")
        sim.stop()
        wait_for(lambda: UNREACHABLE in banner(viewer, f"/jobs/{job.pk}/"), what="the banner mid-job")
        assert "hapi" in health(viewer)["failing"]
        assert job_state(job) == State.IN_PROGRESS
        time.sleep(2)
        sim = start(port=port, devices=12, seed=3, reimage_seconds=5, state_file=state)
        wait_for(lambda: job_state(job) == State.SUCCEEDED, what="the job to finish after the API came back")
        wait_for(lambda: banner(viewer, f"/jobs/{job.pk}/") == "", what="the banner to clear")
        assert len(sim.calls(REIMAGE)) == 0  # the reimage was sent once, to the first voxsim, never again
        assert job.api_calls.filter(method=REIMAGE).count() == 1
    finally:
        sim.stop()


# --- Redis down: pages render, /healthz names it, jobs carry on when it is back -------------------------------------


@pytest.mark.integration
def test_faults_redis_down_pages_render_and_jobs_resume(
    sim, make_user, redis_service, celery_worker_process, asgi_server, settings
) -> None:
    account = account_on(sim.api_url)
    services.inventory_sync(account=account)
    sim.configure(reimage_seconds=5)
    celery_worker_process(beat=True, REIMAGE_POLL_INTERVAL="1")
    operator = make_user("operator", "otto")
    running = start_job(account, operator, 0)
    wait_for(lambda: job_state(running) == State.IN_PROGRESS, what="the job to be accepted")
    session = login(asgi_server, "otto")

    redis_service.stop()
    try:
        for path in ("/devices/", "/jobs/", f"/jobs/{running.pk}/", f"/devices/{running.device_id}/reimage/"):
            assert session.get(f"{asgi_server}{path}", timeout=10).status_code == 200, path
        response = requests.get(f"{asgi_server}/healthz", timeout=10)
        assert response.status_code == 503
        assert "redis" in response.json()["failing"]
        assert response.json()["checks"]["redis"]["error"] == "Redis is unreachable"
        started = time.monotonic()
        waiting = start_job(account, operator, 1)  # queued; the task message cannot be sent
        assert time.monotonic() - started < 15
        assert job_state(waiting) == State.QUEUED
    finally:
        redis_service.start()

    wait_for(lambda: job_state(running) == State.SUCCEEDED, timeout=60, what="the running job to finish")
    settings.REIMAGE_STUCK_AFTER_SECONDS = 0
    assert services.jobs_sweep() == [waiting.pk]  # what beat's sweep does every minute
    wait_for(lambda: job_state(waiting) == State.SUCCEEDED, timeout=60, what="the queued job to run")
    assert requests.get(f"{asgi_server}/healthz", timeout=10).json()["checks"]["redis"]["ok"] is True


# --- The database locked for a moment, or its connections cut -------------------------------------------------------


@pytest.fixture
def write_lock_held() -> Iterator[Callable[[float], threading.Event]]:
    """hold(seconds) -> an event set once another connection holds a write lock, which it keeps for that long."""
    threads: list[threading.Thread] = []

    def hold(seconds: float) -> threading.Event:
        held = threading.Event()
        settings_dict = connection.settings_dict

        def run() -> None:
            other: Any
            if connection.vendor == "sqlite":
                import sqlite3

                other = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
            else:
                import psycopg

                other = psycopg.connect(
                    host=settings_dict["HOST"] or "127.0.0.1",
                    port=settings_dict["PORT"] or 5432,
                    user=settings_dict["USER"],
                    password=settings_dict["PASSWORD"],
                    dbname=settings_dict["NAME"],
                )
                other.execute("LOCK TABLE reimaging_devicelock, reimaging_auditentry IN EXCLUSIVE MODE")
            held.set()
            time.sleep(seconds)
            other.commit()
            other.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return held

    yield hold
    for thread in threads:
        thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_faults_database_locked_briefly_the_write_waits(make_user, write_lock_held) -> None:
    device = DeviceFactory()
    admin = as_role("admin", make_user)
    assert write_lock_held(2.0).wait(5)
    started = time.monotonic()
    response = admin.post(f"/devices/{device.pk}/lock/", {"reason": "disk swap tonight"})
    waited = time.monotonic() - started
    assert response.status_code == 302
    assert DeviceLock.objects.filter(device=device, unlocked_at__isnull=True).exists()
    assert waited >= 1.5, f"the write did not wait for the lock ({waited:.1f} s)"


@pytest.mark.integration
def test_faults_postgresql_connections_cut_next_request_recovers(make_user, asgi_server) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to restart")
    import psycopg

    make_user("viewer", "vera")
    job = ReimageJobFactory()
    session = login(asgi_server, "vera")
    assert session.get(f"{asgi_server}/jobs/{job.pk}/", timeout=10).status_code == 200
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"], dbname=s["NAME"],
        autocommit=True,
    ) as admin:  # fmt: skip
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None and row[0] >= 1  # at least this test's own connection
    connection.close()  # ours was cut too; the next query opens a new one, as the server does per request
    for path in ("/devices/", "/jobs/", f"/jobs/{job.pk}/"):
        assert session.get(f"{asgi_server}{path}", timeout=10).status_code == 200, path
    assert requests.get(f"{asgi_server}/healthz", timeout=10).json()["checks"]["database"]["ok"] is True
