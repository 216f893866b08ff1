"""Status calls per poll cycle with 1,000 active jobs, and how long a cycle takes.

1,000 jobs are started through the real services and submitted to voxsim over HTTP (one reimage call each);
then jobs_poll() runs a few cycles while they are all in progress. The figure is the number of
voxservers.status calls voxsim received per cycle; the aim (the floor) is 1, one per account.
Run: python -m benchmarks.bench_poll
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import django_on, figure

JOBS = 1000
CYCLES = 5


def figures() -> dict[str, Any]:
    from voxsim.server import start

    tmp = Path(tempfile.mkdtemp(prefix="bench-poll-"))
    django_on(tmp / "db.sqlite3")
    import logging

    from django.contrib.auth import get_user_model

    from reimaging import services
    from reimaging.models import Account, Device
    from voxsim import CUSTOMERS
    from voxweb.celery import app

    logging.getLogger("reimaging.events").setLevel(logging.ERROR)  # no Redis here: nobody listens to job events
    app.conf.broker_url = "memory://"  # the submit task is called directly below; its message goes nowhere

    # voxsim gives the first customer half the devices, about 80% of them VoxSERVERs.
    sim = start(devices=2 * int(JOBS / 0.75), seed=3, reimage_seconds=3600)
    try:
        account = Account(
            name="Bench", api_url=sim.api_url, api_key="staff-key", customer_id=str(CUSTOMERS[0].customer_id)
        )
        account.api_secret = "staff-secret"
        account.save()
        services.inventory_sync(account=account)
        user = get_user_model().objects.create_user("bench", password="x")
        image = account.images.order_by("api_id").first()
        assert image is not None
        devices = list(Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER)[:JOBS])
        assert len(devices) == JOBS, len(devices)
        for n, device in enumerate(devices):
            job = services.reimage_start(
                device=device,
                user=user,
                reason="bench",
                params={"hostname": f"b{n}.example.com", "image_id": image.api_id},
                secrets={},
            )
            services.job_submit(job_id=job.pk)
        before = len(sim.calls("voxel.voxservers.status"))
        seconds = []
        calls = []
        for _ in range(CYCLES):
            started = time.perf_counter()
            calls.append(services.jobs_poll())
            seconds.append(time.perf_counter() - started)
        received = len(sim.calls("voxel.voxservers.status")) - before
        assert received == sum(calls)
        return {
            "poll_calls_per_cycle": figure(received / CYCLES, "calls", floor=1.0),
            "poll_cycle_1000_jobs": figure(statistics.median(seconds) * 1000, "ms"),
        }
    finally:
        sim.stop()


if __name__ == "__main__":
    print(json.dumps(figures(), indent=2))
