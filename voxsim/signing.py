"""hAPI request signing (hapi-protocol.md §2): md5(secret + sorted name+value pairs) and timestamp checks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime


def string_to_sign(secret: str, params: Mapping[str, str], *, skip_empty: bool = False) -> str:
    """The signed string: secret, then name+value for every param but api_sig, sorted by name."""
    names = sorted(name for name, value in params.items() if name != "api_sig" and (value or not skip_empty))
    return secret + "".join(name + params[name] for name in names)


def sign(secret: str, params: Mapping[str, str], *, skip_empty: bool = False) -> str:
    """Lowercase hex api_sig for these params."""
    data = string_to_sign(secret, params, skip_empty=skip_empty).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify(secret: str, params: Mapping[str, str]) -> bool:
    """True if api_sig matches, signed with or without empty-valued params (PYH and LC skip them, §2.1)."""
    given = params.get("api_sig", "").strip().lower().encode("utf-8", "replace")
    return any(
        hmac.compare_digest(given, sign(secret, params, skip_empty=skip).encode("ascii")) for skip in (False, True)
    )


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp that carries an offset or Z; raise ValueError otherwise."""
    # 3.11's fromisoformat takes Z, fractions of any length and +0000; a naive time cannot be checked for skew.
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {value!r}")
    return parsed


def timestamp_fresh(value: str, now: float, skew_seconds: float) -> bool:
    """True if the timestamp parses and lies within skew_seconds of now (epoch seconds)."""
    try:
        moment = parse_timestamp(value).timestamp()
    except (ValueError, OverflowError):
        return False
    return abs(moment - now) <= skew_seconds
