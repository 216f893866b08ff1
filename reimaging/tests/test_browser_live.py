"""In Chromium, against uvicorn + a real worker + voxsim: status changes arrive live, and a restart is survived."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BASE_DIR, browser_log_in, worker_env
from reimaging import services
from reimaging.models import Device, ReimageJob
from voxweb.processes import Child, free_port, python_command, wait_for_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]
FAST = {"REIMAGE_POLL_INTERVAL": "1"}


class WebServer:
    """uvicorn on a fixed port, so that it can be stopped and started again at the same address."""

    def __init__(self, redis_url: str, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.child: Child | None = None

    def start(self) -> None:
        args = ["-m", "uvicorn", "voxweb.asgi:application", "--host", "127.0.0.1", "--port", str(self.port)]
        self.child = Child(
            "web",
            python_command(*args, "--timeout-graceful-shutdown", "1"),
            env=worker_env(self.redis_url, WHITENOISE_USE_FINDERS="1"),
            cwd=BASE_DIR,
            log=self.log_dir / "web.log",
        ).start()
        wait_for_port(self.port, proc=self.child.proc, timeout=30)

    def stop(self) -> None:
        if self.child:
            self.child.stop()


@pytest.fixture
def web(transactional_db: None, redis_url: str, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(redis_url, tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def synced(account: Any) -> Any:
    services.inventory_sync(account=account)
    return account


def log_in(page: Any, base: str, username: str) -> None:
    browser_log_in(page, base, username)
    page.wait_for_url(f"{base}/devices/")


def voxserver(account: Any) -> Device:
    return Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id").first()


def test_browser_reimage_status_goes_live_to_succeeded(
    web, page, synced, sim, make_user, celery_worker_process
) -> None:
    sim.configure(reimage_seconds=5)
    celery_worker_process(beat=True, **FAST)
    make_user("operator", "olive")
    device = voxserver(synced)
    image = synced.images.order_by("api_id").first()
    log_in(page, web.url, "olive")

    page.goto(f"{web.url}/devices/{device.pk}/reimage/")
    page.get_by_label("Hostname").fill("live.example.com")
    page.get_by_label("OS image").select_option(str(image.api_id))
    page.get_by_label("Reason").fill("INC-7: live status test")
    page.get_by_role("button", name="Review the reimage").click()
    page.get_by_label("Type the device's hostname or id to confirm").fill(str(device.api_id))
    page.get_by_role("button", name="now").click()
    page.wait_for_url(f"{web.url}/jobs/*/")

    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.locator("#live-status[data-live-status='live']").wait_for(timeout=15000)
    page.locator("#job-status [data-job-status='in_progress']").wait_for(timeout=20000)
    page.locator("#job-status [data-job-status='succeeded']").wait_for(timeout=40000)
    assert navigations == [], "the status changed without a reload"
    job = ReimageJob.objects.get()
    assert job.state == ReimageJob.State.SUCCEEDED
    # The stream of a finished job ends, and the page says updates are over rather than pretending to be live.
    page.locator("#live-status[data-live-status='done']").wait_for(timeout=10000)


def test_browser_web_restart_shows_reconnecting_then_current_state(
    web, page, synced, sim, make_user, celery_worker_process
) -> None:
    sim.configure(reimage_seconds=6)
    celery_worker_process(beat=True, **FAST)
    user = make_user("operator", "rex")
    device = voxserver(synced)
    job = services.reimage_start(
        device=device,
        user=user,
        reason="restart test",
        params={"hostname": "restart.example.com", "image_id": synced.images.first().api_id},
        secrets={},
    )
    log_in(page, web.url, "rex")
    page.goto(f"{web.url}/jobs/{job.pk}/")
    page.locator("#live-status[data-live-status='live']").wait_for(timeout=15000)

    web.stop()
    page.locator("#live-status[data-live-status='reconnecting']").wait_for(timeout=15000)
    # While the page is cut off, the job finishes on the worker.
    deadline_job = ReimageJob.objects.filter(pk=job.pk)
    for _ in range(200):
        if deadline_job.get().state == ReimageJob.State.SUCCEEDED:
            break
        page.wait_for_timeout(200)
    assert deadline_job.get().state == ReimageJob.State.SUCCEEDED
    assert page.locator("#job-status [data-job-status='succeeded']").count() == 0, "nothing arrived while down"

    web.start()
    # On reconnect the stream first sends the current state.
    page.locator("#job-status [data-job-status='succeeded']").wait_for(timeout=30000)
