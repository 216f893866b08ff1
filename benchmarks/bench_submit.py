"""How long the reimage confirmation takes, from the confirm POST to the job row being queued.

Runs in a child process so that its throwaway SQLite database (DATABASE_URL, set before django.setup()) never meets
another benchmark's settings. The Django test client drives the real views in process; the Celery message goes to
an in-memory broker ("memory://" on voxweb.celery.app, CELERY_TASK_ALWAYS_EAGER off), so nothing runs the task and
no Redis is needed. The floor is a plain authenticated GET of a trivial page (the password-change form), timed
alternately with the confirmations. Each figure is the median of RUNS timings.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 40
WARMUP = 3


def _measure(workdir: Path) -> dict[str, Any]:
    """In a fresh process: migrate a throwaway database, then time confirmations against the floor."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["VOXWEB_VAR_DIR"] = str(workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "voxweb.test_settings"
    sys.path.insert(0, str(ROOT))

    import logging

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from kombu.transport.memory import Channel

    from reimaging.models import ReimageJob
    from reimaging.services import user_set_role
    from reimaging.tests.factories import AccountFactory, DeviceFactory, ImageFactory, UserFactory
    from voxweb.celery import app

    call_command("migrate", verbosity=0)
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    # "job changed" notices go to a Redis that is not there; their warnings would only clutter the output.
    logging.disable(logging.WARNING)

    account: Any = AccountFactory()
    image: Any = ImageFactory(account=account)
    user: Any = UserFactory(username="bench-operator")
    user_set_role(user=user, role="operator")
    client = Client()
    client.force_login(user)
    floor_url = reverse("password_change")

    def confirm_once() -> float:
        device: Any = DeviceFactory(account=account)
        form = {"hostname": "bench.example.com", "image_id": str(image.api_id), "reason": "benchmark"}
        form["admin_password"] = "bench-Passw0rd"
        page = client.post(reverse("reimage_create", args=[device.pk]), form).content.decode()
        token = page.split('name="review_token" value="', 1)[1].split('"', 1)[0]
        data = {"review_token": token, "confirm": str(device.api_id), "action": "confirm"}
        confirm_url = reverse("reimage_confirm", args=[device.pk])
        started = time.perf_counter()
        response = client.post(confirm_url, data)
        queued = ReimageJob.objects.filter(device=device, state=ReimageJob.State.QUEUED).exists()
        elapsed = time.perf_counter() - started
        if response.status_code != 302 or not queued:
            raise RuntimeError(f"the confirmation did not queue a job (HTTP {response.status_code})")
        return elapsed

    def floor_once() -> float:
        started = time.perf_counter()
        response = client.get(floor_url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"the floor page answered HTTP {response.status_code}")
        return elapsed

    for _ in range(WARMUP):
        confirm_once()
        floor_once()
    ours, floor = [], []
    for _ in range(RUNS):
        floor.append(floor_once())
        ours.append(confirm_once())
    value = statistics.median(ours) * 1000
    base = statistics.median(floor) * 1000
    enqueued = sum(queue.qsize() for queue in Channel.queues.values())
    return {
        "submit_to_queued": {
            "value": round(value, 2),
            "unit": "ms",
            "floor": round(base, 2),
            "ratio": round(value / base, 2),
            "runs": RUNS,
            "enqueued": enqueued,
            "floor_page": floor_url,
        }
    }


def figures() -> dict[str, dict[str, Any]]:
    """Median ms from the confirm POST to the queued job row, with a trivial authenticated GET as the floor."""
    with tempfile.TemporaryDirectory(prefix="voxweb-bench-") as workdir:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
        done = subprocess.run(
            [sys.executable, __file__, "--child", workdir],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench_submit failed:\n{done.stderr[-4000:]}")
        result: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_measure(Path(sys.argv[2]))))
    else:
        for name, figure in figures().items():
            print(
                f"{name}: {figure['value']} {figure['unit']} (median of {figure['runs']}); floor {figure['floor']} "
                f"{figure['unit']} for GET {figure['floor_page']}; ratio {figure['ratio']}"
            )
