"""Fixtures: one voxsim per session on an ephemeral loopback port, reset before every test that uses it."""

import time
from collections.abc import Iterator

import pytest

from reimaging.voxel import CallRecord, Client
from voxsim.server import SimServer, start

ACME_ID = 1001
BLUEFERN_ID = 1002
# Short enough for a reimage to finish within a test, long enough to observe it in progress.
REIMAGE_SECONDS = 0.5
# Tight timeouts keep the hang and latency fault tests fast.
TIMEOUT = (2.0, 1.0)


@pytest.fixture(scope="session")
def voxsim_server() -> Iterator[SimServer]:
    server = start(devices=40, seed=1, reimage_seconds=REIMAGE_SECONDS)
    yield server
    server.stop()


@pytest.fixture
def sim(voxsim_server: SimServer) -> SimServer:
    """The shared simulator, back to its seeded world with no faults and an empty call log."""
    voxsim_server.reset()
    return voxsim_server


@pytest.fixture
def records() -> list[CallRecord]:
    """Every CallRecord the client fixtures report."""
    return []


@pytest.fixture
def client(sim: SimServer, records: list[CallRecord]) -> Iterator[Client]:
    """A client with Acme Hosting's own key."""
    with Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, on_call=records.append) as acme:
        yield acme


@pytest.fixture
def staff(sim: SimServer, records: list[CallRecord]) -> Iterator[Client]:
    """A client with the staff key, acting for Blue Fern Media."""
    with Client(
        sim.api_url, "staff-key", "staff-secret", customer_id=BLUEFERN_ID, timeout=TIMEOUT, on_call=records.append
    ) as client:
        yield client


def voxserver_id(client: Client) -> int:
    """The id of one of the client's VoxSERVERs."""
    return next(d.id for d in client.devices_list() if not d.is_voxcloud)


def voxcloud_id(client: Client) -> int:
    """The id of one of the client's cloud VMs."""
    return next(d.id for d in client.devices_list() if d.is_voxcloud)


def wait_until_done(client: Client, device_id: int) -> str:
    """Poll voxservers.status until the device's reimage ends; return the final status."""
    deadline = time.monotonic() + 10 * REIMAGE_SECONDS + 5
    while (status := client.voxservers_status(device_id=device_id)[0].status) == "IN_PROGRESS":
        assert time.monotonic() < deadline, "reimage did not finish"
        time.sleep(0.05)
    return status
