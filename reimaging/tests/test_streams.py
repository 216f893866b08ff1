"""Server-Sent Events: the real ASGI server streams current state, then changes published on Redis."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from reimaging import streams
from reimaging.events import job_changed_publish
from reimaging.models import ReimageJob
from reimaging.tests.factories import ReimageJobFactory

pytestmark = pytest.mark.integration
State = ReimageJob.State


def login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert response.ok and "Log in to voxweb" not in response.text
    return session


class Events:
    """Reads SSE messages from a streaming response in a thread, so the test can wait for them with a timeout."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.messages: list[tuple[str, str]] = []
        self.ended = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    self.messages.append((name, "\n".join(data)))
                    name, data = "message", []
        except requests.RequestException:
            pass
        self.ended = True

    def wait(self, predicate, timeout: float = 10.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if predicate(message):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no such message; got {[m[0] for m in self.messages]}")


@pytest.fixture
def stream(asgi_server) -> Iterator:
    def open_stream(session: requests.Session, query: str) -> Events:
        response = session.get(f"{asgi_server}/stream/?{query}", stream=True, timeout=(5, 30))
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
        return Events(response)

    yield open_stream
    # Not closed here: closing a response while its reader thread waits would block until the next heartbeat.
    # The server stops right after this fixture, which ends every stream and its reader thread.


def test_stream_needs_a_login(asgi_server) -> None:
    assert requests.get(f"{asgi_server}/stream/?job=1", timeout=10).status_code == 401


def test_stream_sends_state_then_changes_then_ends_when_final(asgi_server, stream, make_user) -> None:
    make_user("viewer", "vera")
    job = ReimageJobFactory(state=State.IN_PROGRESS, extended_status="Partitioning disks (10%)", progress=10)
    events = stream(login(asgi_server, "vera"), f"job={job.pk}")
    _, html = events.wait(lambda m: m[0] == f"job-status-{job.pk}")
    assert 'data-job-status="in_progress"' in html and "Partitioning disks (10%)" in html
    events.wait(lambda m: m[0] == "live" and "live" in m[1])

    ReimageJob.objects.filter(pk=job.pk).update(extended_status="Installing base system (40%)", progress=40)
    job_changed_publish(job.pk, device_id=job.device_id, state="in_progress")
    events.wait(lambda m: "Installing base system (40%)" in m[1])

    ReimageJob.objects.filter(pk=job.pk).update(state=State.SUCCEEDED, progress=100)
    job_changed_publish(job.pk, device_id=job.device_id, state="succeeded")
    events.wait(lambda m: 'data-job-status="succeeded"' in m[1])
    events.wait(lambda m: m[0] == "close")
    deadline = time.monotonic() + 5
    while not events.ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events.ended, "the stream of a final job ends"


def test_stream_of_a_final_job_ends_at_once(asgi_server, stream, make_user) -> None:
    make_user("viewer", "vic")
    job = ReimageJobFactory(state=State.FAILED)
    events = stream(login(asgi_server, "vic"), f"job={job.pk}")
    events.wait(lambda m: m[0] == "close")


def test_stream_list_rows_and_the_owners_notice(asgi_server, stream, make_user) -> None:
    owner = make_user("operator", "otto")
    job = ReimageJobFactory(requested_by=owner, requested_by_name="otto", state=State.IN_PROGRESS)
    events = stream(login(asgi_server, "otto"), f"all_rows=1&rows={job.pk}")
    events.wait(lambda m: m[0] == f"job-row-{job.pk}" and 'data-job-status="in_progress"' in m[1])
    ReimageJob.objects.filter(pk=job.pk).update(state=State.SUCCEEDED)
    job_changed_publish(job.pk, device_id=job.device_id, state="succeeded")
    events.wait(lambda m: m[0] == f"job-row-{job.pk}" and 'data-job-status="succeeded"' in m[1])
    _, notice = events.wait(lambda m: m[0] == "notice")
    assert f"#{job.pk}</a>" in notice and "succeeded" in notice


def test_stream_caps_open_streams_per_user(asgi_server, stream, make_user) -> None:
    make_user("viewer", "greedy")
    session = login(asgi_server, "greedy")
    for _ in range(streams.MAX_STREAMS_PER_USER):
        stream(session, "")
    response = session.get(f"{asgi_server}/stream/", timeout=10)
    assert response.status_code == 429 and "Too many live pages" in response.text


def test_stream_escapes_hostile_api_text(asgi_server, stream, make_user) -> None:
    make_user("viewer", "vince")
    job = ReimageJobFactory(state=State.IN_PROGRESS, extended_status="<script>alert(1)</script> (50%)")
    events = stream(login(asgi_server, "vince"), f"job={job.pk}")
    _, html = events.wait(lambda m: m[0] == f"job-status-{job.pk}")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_hub_renders_a_change_once_for_every_subscriber(transactional_db) -> None:
    job = ReimageJobFactory(state=State.IN_PROGRESS)

    async def scenario() -> tuple[int, list[str | None]]:
        hub = streams.Hub()
        subs = [streams.Subscriber(user_id=i, can_reimage=False, job=job.pk) for i in range(50)]
        hub.subscribers.update(subs)  # not add(): no Redis listener needed to call publish directly
        await hub.publish(f'{{"job": {job.pk}}}')
        return hub.renders, [sub.queue.get_nowait() for sub in subs]

    # In a thread of its own: Playwright's sync API may have left an event loop running in this one.
    result: list[tuple[int, list[str | None]]] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    thread.start()
    thread.join(30)
    renders, messages = result[0]
    assert renders == 2  # the status and the timeline, once each for all 50
    assert len(set(messages)) == 1 and messages[0].startswith(f"event: job-status-{job.pk}\n")


def test_stream_ids_are_ascii_digits_only() -> None:
    # '²' is a digit to str.isdigit() but not to int(): such ids are ignored, never a 500.
    assert streams._ids("1,²,03,abc,99999999999999999999") == frozenset({1, 3})
