"""The simulator behind the HTTP layer: authentication, dispatch, call log, faults, runtime config and persistence."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from voxsim import faults, methods, render, signing, world
from voxsim import protocol as p
from voxsim.catalog import CUSTOMERS
from voxsim.generate import generate

CALL_LOG_LIMIT = 100_000  # oldest entries go first, so a long demo run cannot grow without bound
_MASKED = ("key", "api_sig")


@dataclass
class Config:
    """Knobs that can change while the simulator runs (POST /_sim/config)."""

    reimage_seconds: float
    fail_rate: float
    skew_seconds: float


@dataclass
class Answer:
    """An API response and what the call log records about it."""

    body: str
    stat: str
    code: int | None
    customer_id: int | None


def mask(params: Mapping[str, str]) -> dict[str, str]:
    """Params with key, api_sig and every *_password replaced by "***"."""
    return {k: p.MASK if k in _MASKED or k.endswith("_password") else v for k, v in params.items()}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


class Simulator:
    """All simulator state behind one lock; the HTTP layer and SimServer call in here."""

    def __init__(
        self,
        *,
        devices: int,
        seed: int,
        reimage_seconds: float,
        fail_rate: float,
        skew_seconds: float,
        state_file: Path | None,
        hostile: bool,
        staff_key: str,
        staff_secret: str,
    ) -> None:
        self.lock = threading.RLock()
        self.devices, self.seed, self.hostile, self.state_file = devices, seed, hostile, state_file
        self.initial = self._checked(
            Config(0.0, 0.0, 900.0), reimage_seconds=reimage_seconds, fail_rate=fail_rate, skew_seconds=skew_seconds
        )
        self.config = replace(self.initial)
        # Customer keys act for their own customer; the staff key (None) may act for any.
        self.keys: dict[str, tuple[str, int | None]] = {c.key: (c.secret, c.customer_id) for c in CUSTOMERS}
        self.keys[staff_key] = (staff_secret, None)
        self.faults = faults.FaultBook(random.Random(seed))
        self.call_log: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)
        self.seq = 0
        loaded = world.load(state_file) if state_file else None
        self.world = loaded or generate(devices, seed, hostile=hostile)
        if loaded is None:
            self._save()

    def _save(self) -> None:
        if self.state_file is not None:
            world.save_atomically(self.state_file, self.world.dumps())
        self.world.dirty = False

    def _customer(self, owner: int | None, params: Mapping[str, str]) -> int:
        raw = params.get("customer_id", "").strip()
        if owner is not None:
            if raw and raw != str(owner):
                raise p.ApiError(p.ERR_PERMISSION, p.MSG_PERMISSION)
            return owner
        if not raw:
            return CUSTOMERS[0].customer_id
        if not raw.isdigit() or int(raw) not in {c.customer_id for c in CUSTOMERS}:
            raise p.invalid_param("customer_id", f"no such customer {raw!r}")
        return int(raw)

    def claimed_customer(self, params: Mapping[str, str]) -> int | None:
        """The customer a call claims to act for, without checking its signature (for unprocessed calls)."""
        secret_owner = self.keys.get(params.get("key", ""))
        if secret_owner is None:
            return None
        try:
            return self._customer(secret_owner[1], params)
        except p.ApiError:
            return None

    def answer(self, params: Mapping[str, str], api_version: str) -> Answer:
        """Authenticate and run one API call."""
        method = params.get("method", "")
        customer_id: int | None = None
        now = time.time()
        with self.lock:
            self.world.advance(now)
            try:
                if method == p.METHOD_AUTHKEYS_READ:
                    raise p.ApiError(p.ERR_SSL_ONLY, p.MSG_SSL_ONLY)
                entry = self.keys.get(params.get("key", ""))
                if entry is None or not signing.verify(entry[0], params):
                    raise p.ApiError(p.ERR_AUTH, p.MSG_AUTH)
                if not signing.timestamp_fresh(params.get("timestamp", ""), now, self.config.skew_seconds):
                    raise p.ApiError(p.ERR_AUTH, p.MSG_STALE)
                customer_id = self._customer(entry[1], params)
                handler = methods.METHODS.get(method)
                if handler is None:
                    raise p.unknown_method(method)
                ctx = methods.Context(
                    self.world, customer_id, now, api_version, self.config.reimage_seconds, self.config.fail_rate
                )
                result = Answer(render.ok(handler(ctx, params)), "ok", None, customer_id)
            except p.ApiError as error:
                extras = render.auth_extras(method, mask(params)) if error.code == p.ERR_AUTH else ""
                result = Answer(render.fail(error.code, error.msg, extras), "fail", error.code, customer_id)
            if self.world.dirty:
                self._save()
        return result

    def record(self, params: Mapping[str, str], answer: Answer | None, fault: str | None) -> dict[str, Any]:
        """Append one call to the log and return the entry."""
        with self.lock:
            self.seq += 1
            entry = {
                "seq": self.seq,
                "time": time.time(),
                "method": params.get("method", ""),
                "customer_id": answer.customer_id if answer else self.claimed_customer(params),
                "params": mask(params),
                "stat": answer.stat if answer else None,
                "code": answer.code if answer else None,
                "fault": fault,
            }
            self.call_log.append(entry)
            return dict(entry)

    def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Logged calls in order, optionally one method's and only those after seq `since`."""
        with self.lock:
            return [
                {**e, "params": dict(e["params"])}
                for e in self.call_log
                if e["seq"] > since and (method is None or e["method"] == method)
            ]

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and append a fault; ValueError if the spec is bad."""
        fault = faults.parse_fault(spec)
        with self.lock:
            self.faults.add(fault)
        return fault.to_json()

    def take_fault(self, method: str) -> faults.Fault | None:
        """The fault that applies to the next call of this method, if any."""
        with self.lock:
            return self.faults.take(method)

    def list_faults(self) -> list[dict[str, Any]]:
        """The active faults in the order they apply."""
        with self.lock:
            return [f.to_json() for f in self.faults.faults]

    def clear_faults(self) -> int:
        """Remove all faults; return how many there were."""
        with self.lock:
            return self.faults.clear()

    @staticmethod
    def _checked(config: Config, **changes: Any) -> Config:
        unknown = set(changes) - {"reimage_seconds", "fail_rate", "skew_seconds"}
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        values = {k: _number(k, v) for k, v in changes.items()}
        new = replace(config, **values)
        if new.reimage_seconds < 0:
            raise ValueError("reimage_seconds must not be negative")
        if not 0.0 <= new.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0.0 and 1.0")
        if new.skew_seconds <= 0:
            raise ValueError("skew_seconds must be positive")
        return new

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime config (reimage_seconds, fail_rate, skew_seconds); running jobs keep their own timing."""
        with self.lock:
            self.config = self._checked(self.config, **changes)
            return asdict(self.config)

    def get_config(self) -> dict[str, Any]:
        """The current runtime config."""
        with self.lock:
            return asdict(self.config)

    def reset(self) -> None:
        """Back to the seeded world and start-up config, with no faults and an empty call log (seq restarts)."""
        with self.lock:
            self.world = generate(self.devices, self.seed, hostile=self.hostile)
            self.config = replace(self.initial)
            self.faults = faults.FaultBook(random.Random(self.seed))
            self.call_log.clear()
            self.seq = 0
            self._save()

    def device_json(self, device_id: int) -> dict[str, Any]:
        """A device's test-visible state; KeyError if there is no such device."""
        with self.lock:
            self.world.advance(time.time())
            device = self.world.devices[device_id]
            data = {k: v for k, v in asdict(device).items() if k in ("id", "customer_id", "kind", "label")}
            data.update(
                description=device.description,
                status=device.status,
                facility=device.facility,
                ips=[asdict(a) for a in device.ips],
                passwords=dict(device.passwords),
                job=asdict(device.job) if device.job else None,
            )
            if self.world.dirty:
                self._save()
            return data

    def set_device(self, device_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Set label, description or status (on/off) of a device; KeyError if none, ValueError if bad."""
        unknown = set(changes) - {"label", "description", "status"}
        if unknown:
            raise ValueError(f"only label, description and status can be set, not {', '.join(sorted(unknown))}")
        if any(not isinstance(v, str) for v in changes.values()):
            raise ValueError("values must be strings")
        if changes.get("status", p.POWER_ON) not in (p.POWER_ON, p.POWER_OFF):
            raise ValueError('status must be "on" or "off"')
        with self.lock:
            device = self.world.devices[device_id]
            for name, value in changes.items():
                setattr(device, name, value)
            self.world.touch(device)
            self._save()
        return self.device_json(device_id)
