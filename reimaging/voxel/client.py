"""The hAPI client: one requests.Session, signed form POSTs, a timeout on every call, and a record of each call."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from . import protocol
from .errors import ApiError, ResourceUnavailableError, TransientError, VoxelError, error_for_http_status
from .errors import error_for_transport as _transport_error
from .models import (
    ApiVersion,
    CallRecord,
    Device,
    DeviceStatus,
    Image,
    ReimageAccepted,
    Vlan,
)
from .signing import sign, timestamp

__all__ = ["DEFAULT_TIMEOUT", "Client", "mask_params"]

logger = logging.getLogger("reimaging.voxel")

T = TypeVar("T")

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 30.0)
MASK = "***"
# Params whose values are credentials; every *_password param is one too.
_SECRET_PARAMS = frozenset({"key", "secret", "api_sig", "authkey"})
_LONG_PARAMS = frozenset({"postinstall_script"})
LONG_PARAM_CAP = 200
RECORD_BODY_CAP = 4096
_VERBOSITIES = ("compact", "normal", "extended")
_IP_TYPES = ("frontend", "backend")
_USER_AGENT = "voxweb-hapi-client/1.0"
_CHUNK = 64 * 1024

# Credentials that a reply body may carry: devices.list passwords, authkeys secrets, the auth-failure echo.
_BODY_SECRET_ELEMENTS = re.compile(r"<(password|secret|key|api_sig|string_to_sign)>[^<]*</\1>")
_BODY_SECRET_PARAMS = re.compile(r'(<param name="(?:key|secret|api_sig|authkey|[^"]*password)">)[^<]*(</param>)')
_BODY_SECRET_ATTRS = re.compile(r'((?:password|secret)=")[^"]*"')


def _is_secret(name: str) -> bool:
    """Whether a parameter carries a credential."""
    return name in _SECRET_PARAMS or name.endswith("password")


def mask_params(params: Mapping[str, str]) -> dict[str, str]:
    """Return params fit for a log: credentials replaced by "***", long values (postinstall_script) capped."""
    masked: dict[str, str] = {}
    for name, value in params.items():
        if _is_secret(name):
            masked[name] = MASK
        elif name in _LONG_PARAMS and len(value) > LONG_PARAM_CAP:
            masked[name] = f"{value[:LONG_PARAM_CAP]}…[{len(value)} chars]"
        else:
            masked[name] = value
    return masked


@dataclass
class _Exchange:
    """What came back over HTTP, kept even when the call fails so it can be recorded."""

    status: int | None = None
    body: bytes | None = None


class Client:
    """A Voxel hAPI client for one account; acts for customer_id when the key is a staff or reseller key."""

    def __init__(
        self,
        base_url: str,
        key: str,
        secret: str,
        *,
        customer_id: int | str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        on_call: Callable[[CallRecord], object] | None = None,
        max_body_bytes: int = 64 * 1024 * 1024,
        deadline: float = 120.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.voxel.net/version/1.0/")
        if parts.username or parts.password:
            # Credentials in the URL would end up in exception texts and logs.
            raise ValueError("base_url must not carry credentials")
        if not key or not secret:
            raise ValueError("key and secret are required")
        self.base_url = base_url
        self.customer_id = None if customer_id is None else str(customer_id)
        self.timeout = timeout
        self._key = key
        self._secret = secret
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._on_call = on_call
        self._max_body_bytes = max_body_bytes
        self._deadline = deadline

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, customer_id={self.customer_id!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- methods ------------------------------------------------------------------------------------------

    def devices_list(self, device_id: int | None = None, verbosity: str = "normal") -> tuple[Device, ...]:
        """List the account's devices, or the one device_id (code 100 if it is not on the account)."""
        params = {"device_id": _opt_str(device_id), "verbosity": _choice("verbosity", verbosity, _VERBOSITIES)}
        return self._call(protocol.DEVICES_LIST, params, protocol.parse_devices)

    def images_list(self, image_id: int | None = None, verbosity: str = "extended") -> tuple[Image, ...]:
        """List the installable images, or the one image_id."""
        params = {"image_id": _opt_str(image_id), "verbosity": _choice("verbosity", verbosity, _VERBOSITIES)}
        return self._call(protocol.IMAGES_LIST, params, protocol.parse_images)

    def ips_list(self, facility: str | None = None, ip_address_type: str | None = None) -> tuple[Vlan, ...]:
        """List the account's VLANs and their subnets, optionally for one facility and/or type."""
        if ip_address_type is not None:
            _choice("ip_address_type", ip_address_type, _IP_TYPES)
        params = {"facility": facility, "ip_address_type": ip_address_type}
        return self._call(protocol.IPS_LIST, params, protocol.parse_vlans)

    def voxservers_reimage(
        self,
        device_id: int,
        hostname: str,
        image_id: int,
        *,
        image_version_id: int | None = None,
        postinstall_script: str | None = None,
        swap_space: int | None = None,
        admin_password: str | None = None,
        console_password: str | None = None,
        ssh_username: str | None = None,
        ssh_password: str | None = None,
        voxel_access: bool | None = None,
        backend_ip: str | None = None,
        frontend_ip: str | None = None,
    ) -> ReimageAccepted:
        """Start reimaging a VoxSERVER; destructive, so never repeat it after a TransientError with maybe_delivered."""
        params = {
            "device_id": str(device_id),
            "hostname": hostname,
            "image_id": str(image_id),
            "image_version_id": _opt_str(image_version_id),
            "postinstall_script": postinstall_script,
            "swap_space": _opt_str(swap_space),
            "admin_password": admin_password,
            "console_password": console_password,
            "ssh_username": ssh_username,
            "ssh_password": ssh_password,
            "voxel_access": None if voxel_access is None else protocol.bool_param(voxel_access),
            "backend_ip": backend_ip,
            "frontend_ip": frontend_ip,
        }
        return self._call(protocol.VOXSERVERS_REIMAGE, params, protocol.parse_reimage)

    def voxservers_status(self, device_id: int | None = None, verbosity: str = "extended") -> tuple[DeviceStatus, ...]:
        """Provisioning status of one VoxSERVER, or of all the account's VoxSERVERs when device_id is None."""
        params = {"device_id": _opt_str(device_id), "verbosity": _choice("verbosity", verbosity, _VERBOSITIES)}
        return self._call(protocol.VOXSERVERS_STATUS, params, protocol.parse_statuses)

    def hapi_version(self) -> ApiVersion:
        """The API version and its method names; a harmless call to check the URL and credentials."""
        return self._call(protocol.HAPI_VERSION, {"verbosity": "compact"}, protocol.parse_api_version)

    # -- transport ----------------------------------------------------------------------------------------

    def _call(self, method: str, params: Mapping[str, str | None], parse: Callable[[bytes], T]) -> T:
        """Sign and send one call, parse the reply, and report it to the log and the on_call hook."""
        # None means "not sent"; every sent value is signed, including empty ones.
        sent = {name: value for name, value in params.items() if value is not None}
        sent["method"] = method
        sent["key"] = self._key
        sent["timestamp"] = timestamp()
        if self.customer_id is not None:
            sent["customer_id"] = self.customer_id
        sent["api_sig"] = sign(self._secret, sent)
        secrets = [value for name, value in sent.items() if _is_secret(name) and value] + [self._secret]
        exchange = _Exchange()
        started = time.monotonic()
        try:
            self._send(method, sent, exchange)
            if exchange.status != 200:
                raise error_for_http_status(exchange.status or 0, method)
            result = parse(exchange.body or b"")
        except Exception as exc:
            if isinstance(exc, VoxelError):
                _scrub(exc, secrets)
            self._report(method, sent, secrets, time.monotonic() - started, exchange, exc)
            raise
        self._report(method, sent, secrets, time.monotonic() - started, exchange, None)
        return result

    def _send(self, method: str, sent: Mapping[str, str], exchange: _Exchange) -> None:
        """POST the form and read the whole body within the timeouts, the deadline and the size cap."""
        try:
            response = self._session.post(
                self.base_url,
                data=dict(sent),
                timeout=self.timeout,
                stream=True,
                # A redirected POST would be replayed as a GET, or sent to another host; treat it as an error.
                allow_redirects=False,
                headers={"User-Agent": _USER_AGENT},
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, method) from exc
        exchange.status = response.status_code
        chunks: list[bytes] = []
        size = 0
        # The read timeout bounds each socket read only; the deadline bounds a server that trickles bytes.
        give_up = time.monotonic() + self._deadline
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise TransientError(f"reply larger than {self._max_body_bytes} bytes", method=method)
                chunks.append(chunk)
                if time.monotonic() > give_up:
                    raise TransientError(f"reply took longer than {self._deadline:g} s", method=method)
        except (requests.RequestException, Urllib3Error, OSError) as exc:
            raise _transport_error(exc, method) from exc
        finally:
            exchange.body = b"".join(chunks)
            response.close()

    def _report(
        self,
        method: str,
        sent: Mapping[str, str],
        secrets: list[str],
        duration: float,
        exchange: _Exchange,
        exc: Exception | None,
    ) -> None:
        """Log one debug line and hand a CallRecord to on_call; a failing hook never changes the call's outcome."""
        masked = mask_params(sent)
        stat: str | None = "ok" if exc is None else None
        code: int | None = None
        message: str | None = None
        if isinstance(exc, ApiError | ResourceUnavailableError):
            code, message = exc.code, exc.msg if exc.msg is not None else exc.message
            # Only a 200 reply carries a stat; other ApiErrors come from the HTTP status.
            stat = "fail" if exchange.status == 200 else None
        elif isinstance(exc, VoxelError):
            message = exc.message
        elif exc is not None:
            message = type(exc).__name__
        logger.debug(
            "%s %s -> %s in %.3fs",
            method,
            masked,
            "ok" if exc is None else f"{type(exc).__name__} ({code})" if code is not None else type(exc).__name__,
            duration,
        )
        if self._on_call is None:
            return
        record = CallRecord(
            method=method,
            params=masked,
            duration=duration,
            http_status=exchange.status,
            stat=stat,
            error_code=code,
            error_message=message,
            response_body=None if exchange.body is None else _record_body(exchange.body, secrets),
            error_class=None if exc is None else type(exc).__name__,
            maybe_delivered=exc.maybe_delivered if isinstance(exc, TransientError) else None,
        )
        try:
            self._on_call(record)
        except Exception:
            # Recording is the caller's concern; a reimage that was accepted must still be reported as accepted.
            logger.warning("on_call hook failed for %s", method, exc_info=True)


def _opt_str(value: int | str | None) -> str | None:
    """Render an optional parameter; None stays None (not sent)."""
    return None if value is None else str(value)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """Check an enumerated parameter before it costs a round trip."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _redact(text: str, secrets: list[str]) -> str:
    """Replace every known secret value in text by the mask, longest first so no part of one survives."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    return text


def _record_body(body: bytes, secrets: list[str]) -> str:
    """Decode, redact and cap a reply body for the call record."""
    # Redact a window twice the cap, so a secret straddling the cut is still caught whole.
    text = body[: RECORD_BODY_CAP * 2].decode("utf-8", errors="replace")
    text = _BODY_SECRET_ELEMENTS.sub(rf"<\1>{MASK}</\1>", text)
    text = _BODY_SECRET_PARAMS.sub(rf"\1{MASK}\2", text)
    text = _BODY_SECRET_ATTRS.sub(rf'\1{MASK}"', text)
    return _redact(text, secrets)[:RECORD_BODY_CAP]


def _scrub(exc: VoxelError, secrets: list[str]) -> None:
    """Remove our secrets from an error's texts, in case the API echoed one in its message."""
    exc.message = _redact(exc.message, secrets)
    exc.args = (exc.message,)
    if isinstance(exc, ApiError | ResourceUnavailableError) and exc.msg is not None:
        exc.msg = _redact(exc.msg, secrets)
