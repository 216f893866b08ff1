"""Request signing (protocol notes §2.1) and timestamps (§2.2); pure functions."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["sign", "timestamp"]


def sign(secret: str, params: Mapping[str, str]) -> str:
    """Return api_sig: lowercase hex MD5 of secret + name+value of every param except api_sig, sorted by name."""
    to_sign = "".join(name + params[name] for name in sorted(params) if name != "api_sig")
    # MD5 is what the protocol prescribes; usedforsecurity=False keeps it working on FIPS-mode builds.
    return hashlib.md5((secret + to_sign).encode("utf-8"), usedforsecurity=False).hexdigest()


def timestamp(now: datetime | None = None) -> str:
    """Return an ISO-8601 timestamp with an explicit offset, as the API expects (e.g. 2015-03-16T23:01:32+00:00)."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        # A naive time would be read as the server's local time; insist on an offset.
        raise ValueError("timestamp needs an aware datetime")
    return moment.isoformat(timespec="seconds")
