"""Fault injection: rules that make the next matching API calls misbehave in a chosen way."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from voxsim import protocol as p

ERROR = "error"  # stat="fail" with the given code and msg; nothing processed
HTTP = "http"  # an HTTP error status with a non-XML body; nothing processed
LATENCY = "latency"  # wait `seconds`, then answer normally
HANG = "hang"  # hold the connection `seconds`, then close it unanswered
DROP = "drop"  # close the connection unanswered
MALFORMED = "malformed"  # process the call, answer with a body that is not XML
TRUNCATED = "truncated"  # process the call, answer with the real XML cut in the middle
KINDS = (ERROR, HTTP, LATENCY, HANG, DROP, MALFORMED, TRUNCATED)
PHASED = (HANG, DROP)  # "before": nothing processed; "after": the call is processed first
_KEYS = {"kind", "method", "count", "rate", "code", "msg", "status", "body", "seconds", "phase"}


@dataclass
class Fault:
    """One injected fault and how many more calls it applies to (count) or how often (rate)."""

    kind: str
    method: str | None = None
    count: int | None = None
    rate: float | None = None
    code: int = p.ERR_RESOURCE
    msg: str = p.MSG_RESOURCE
    status: int = 503
    body: str = "Service Unavailable\n"
    seconds: float = 0.0
    phase: str = "before"

    def to_json(self) -> dict[str, Any]:
        """The fault as GET /_sim/faults lists it."""
        return asdict(self)


def _int(spec: Mapping[str, Any], name: str) -> int:
    value = spec[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _float(spec: Mapping[str, Any], name: str) -> float:
    value = spec[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def parse_fault(spec: Mapping[str, Any]) -> Fault:
    """Validate a fault spec (the JSON body of POST /_sim/faults); raise ValueError with the reason."""
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    fault = Fault(kind=kind, seconds=30.0 if kind == HANG else 1.0 if kind == LATENCY else 0.0)
    if "method" in spec and spec["method"] is not None:
        fault.method = str(spec["method"])
    if "count" in spec and "rate" in spec:
        raise ValueError("give count or rate, not both")
    if "rate" in spec:
        fault.rate = _float(spec, "rate")
        if not 0.0 <= fault.rate <= 1.0:
            raise ValueError("rate must be between 0.0 and 1.0")
    else:
        fault.count = _int(spec, "count") if "count" in spec else 1
        if fault.count < 1:
            raise ValueError("count must be at least 1")
    if "code" in spec:
        fault.code = _int(spec, "code")
        fault.msg = p.MESSAGES.get(fault.code, "Simulated failure")
    if "msg" in spec:
        fault.msg = str(spec["msg"])
    if "status" in spec:
        fault.status = _int(spec, "status")
        if not 400 <= fault.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
    if "body" in spec:
        fault.body = str(spec["body"])
    if "seconds" in spec:
        fault.seconds = _float(spec, "seconds")
        if fault.seconds < 0:
            raise ValueError("seconds must not be negative")
    if "phase" in spec:
        if kind not in PHASED:
            raise ValueError(f"phase applies only to {' and '.join(PHASED)}")
        if spec["phase"] not in ("before", "after"):
            raise ValueError('phase must be "before" or "after"')
        fault.phase = spec["phase"]
    return fault


class FaultBook:
    """The active faults, consulted in the order they were added; the caller holds the simulator's lock."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng  # seeded, so a "rate" fault hits the same calls on every run
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Append a fault after the existing ones."""
        self.faults.append(fault)

    def clear(self) -> int:
        """Remove every fault; return how many there were."""
        count = len(self.faults)
        self.faults.clear()
        return count

    def take(self, method: str) -> Fault | None:
        """The fault that applies to this call, if any, using up one of its count."""
        for fault in self.faults:
            if fault.method is not None and fault.method != method:
                continue
            if fault.rate is not None:
                if self.rng.random() < fault.rate:
                    return fault
                continue
            assert fault.count is not None
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)
            return fault
        return None
