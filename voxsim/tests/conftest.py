"""Fixtures: one simulator per session on an ephemeral port, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from voxsim.server import SimServer, start
from voxsim.tests.hapi import ACME, STAFF, Hapi

REIMAGE_SECONDS = 0.25


@pytest.fixture(scope="session")
def _server() -> Iterator[SimServer]:
    server = start(reimage_seconds=REIMAGE_SECONDS)
    yield server
    server.stop()


@pytest.fixture
def sim(_server: SimServer) -> SimServer:
    """The shared simulator, back to its seeded world with no faults and an empty call log."""
    _server.reset()
    return _server


@pytest.fixture
def acme(sim: SimServer) -> Hapi:
    """A client with Acme Hosting's key."""
    return Hapi(sim.url, *ACME)


@pytest.fixture
def staff(sim: SimServer) -> Hapi:
    """A client with the staff key."""
    return Hapi(sim.url, *STAFF)
