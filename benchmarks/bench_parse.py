"""How long the hAPI client takes to parse a 10,000-device voxel.devices.list, next to a bare lxml parse.

The reply is fetched from voxsim over HTTP, so the bytes are what the client really receives. The floor is
lxml at its plainest: etree.fromstring plus a walk over every element. Both run alternately in this process
and each figure is the median of RUNS timings.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reimaging.voxel import protocol, sign, timestamp
from voxsim.server import start

DEVICES = 10_000
RUNS = 7


def fetch_devices_list(devices: int = DEVICES) -> bytes:
    """Start voxsim, sign a devices.list for a customer holding `devices` devices, and return the raw reply."""
    # voxsim gives the first customer (Acme) half of the generated devices.
    sim = start(devices=2 * devices, seed=1)
    try:
        params = {
            "method": "voxel.devices.list",
            "key": "acme-key",
            "timestamp": timestamp(),
            "verbosity": "normal",
        }
        params["api_sig"] = sign("acme-secret", params)
        response = requests.post(sim.api_url, data=params, timeout=(3.05, 120))
        response.raise_for_status()
        return response.content
    finally:
        sim.stop()


def _floor(body: bytes) -> float:
    """Seconds for a bare lxml parse that visits every element, the tree's freeing included."""
    started = time.perf_counter()
    root = etree.fromstring(body)
    _element = root
    for _element in root.iter():
        pass
    # The last element keeps the tree alive; drop both so that freeing the tree is timed, as it is in ours.
    del _element, root
    return time.perf_counter() - started


def _ours(body: bytes) -> float:
    """Seconds for the client's parse of the reply into Device values."""
    started = time.perf_counter()
    result = protocol.parse_devices(body)
    elapsed = time.perf_counter() - started
    # Freeing the result is the caller's cost, not the parser's; keep it out of the timing.
    del result
    return elapsed


def figures() -> dict[str, dict[str, Any]]:
    """Median parse time of a 10,000-device devices.list, with the bare-lxml floor and their ratio."""
    body = fetch_devices_list()
    count = len(protocol.parse_devices(body))
    ours: list[float] = []
    floor: list[float] = []
    for run in range(RUNS):
        # Alternate, and swap the order each round: drift in machine load and the state the previous run
        # left the allocator in then fall on both series alike.
        if run % 2:
            ours.append(_ours(body))
            floor.append(_floor(body))
        else:
            floor.append(_floor(body))
            ours.append(_ours(body))
    value = statistics.median(ours) * 1000
    base = statistics.median(floor) * 1000
    return {
        "devices_list_parse": {
            "value": round(value, 1),
            "unit": "ms",
            "floor": round(base, 1),
            "ratio": round(value / base, 2),
            "devices": count,
            "bytes": len(body),
        }
    }


if __name__ == "__main__":
    for name, figure in figures().items():
        print(
            f"{name}: {figure['value']} {figure['unit']} for {figure['devices']} devices ({figure['bytes']} bytes); "
            f"bare lxml {figure['floor']} {figure['unit']}; ratio {figure['ratio']}"
        )
