"""Typed errors of the hAPI client, and the one place where API codes and transport failures map onto them.

Each class is named for what the caller should do: fix credentials (AuthError), give up on the device
(DeviceNotFoundError, WrongDeviceTypeError), retry later (TransientError), or report a bug (ApiError).
No requests, urllib3 or lxml exception crosses the package boundary; messages never carry parameters,
so they never carry secrets.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

__all__ = [
    "ApiError",
    "AuthError",
    "DeviceNotFoundError",
    "MalformedResponseError",
    "ResourceUnavailableError",
    "TransientError",
    "UnsafeXmlError",
    "VoxelError",
    "WrongDeviceTypeError",
    "error_for_fail",
    "error_for_http_status",
    "error_for_transport",
]


class VoxelError(Exception):
    """Base of every error raised by the hAPI client."""

    def __init__(self, message: str, *, method: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method

    def __str__(self) -> str:
        return f"{self.method}: {self.message}" if self.method else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would be lost by the default pickling (e.g. in a Celery result backend).
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[VoxelError], state: dict[str, object]) -> VoxelError:
    """Recreate a pickled error without calling its __init__."""
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message"))
    err.__dict__.update(state)
    return err


class ApiError(VoxelError):
    """The API answered stat="fail" with a code the caller cannot act on; report it."""

    def __init__(
        self, message: str, *, method: str | None = None, code: int | None = None, msg: str | None = None
    ) -> None:
        super().__init__(message, method=method)
        self.code = code
        self.msg = msg


class AuthError(ApiError):
    """The key, secret, signature, clock or permissions are wrong (codes 1 and 9); fix the account settings."""


class DeviceNotFoundError(ApiError):
    """The device is not on this account (code 100); do not retry."""


class WrongDeviceTypeError(ApiError):
    """The device is of a type the method does not accept, e.g. a VoxCLOUD VM (code 110); do not retry."""


class TransientError(VoxelError):
    """The call may succeed if retried later: transport failure, HTTP 5xx, malformed reply, or code 206.

    ``maybe_delivered`` says whether the API may have received and acted on the request. When it is True a
    destructive call must not be repeated blindly; reconcile through a read (e.g. voxservers.status) instead.
    """

    def __init__(self, message: str, *, method: str | None = None, maybe_delivered: bool = True) -> None:
        super().__init__(message, method=method)
        self.maybe_delivered = maybe_delivered


class ResourceUnavailableError(TransientError):
    """The API could not acquire a resource (code 206); it did nothing, so retry with backoff."""

    def __init__(
        self, message: str, *, method: str | None = None, code: int | None = None, msg: str | None = None
    ) -> None:
        # The API answered a definite failure, so the call did not take effect and repeating it is safe.
        super().__init__(message, method=method, maybe_delivered=False)
        self.code = code
        self.msg = msg


class MalformedResponseError(TransientError):
    """The reply was not a well-formed hAPI document (bad XML, truncated, unexpected shape)."""


class UnsafeXmlError(MalformedResponseError):
    """The reply declared XML entities or an external DTD (billion laughs, XXE); it was refused unread."""


# The one table of API codes that callers act on; every other code becomes a plain ApiError.
_AUTH_CODES = frozenset({1, 9})
_NOT_FOUND_CODE = 100
_WRONG_TYPE_CODE = 110
_RESOURCE_CODE = 206


def error_for_fail(code: int | None, msg: str | None, method: str | None) -> VoxelError:
    """Map a stat="fail" reply's err@code and err@msg onto the error class the caller should handle."""
    text = f"hAPI error {code if code is not None else '(no code)'}: {msg or '(no message)'}"
    if code in _AUTH_CODES:
        return AuthError(text, method=method, code=code, msg=msg)
    if code == _NOT_FOUND_CODE:
        return DeviceNotFoundError(text, method=method, code=code, msg=msg)
    if code == _WRONG_TYPE_CODE:
        return WrongDeviceTypeError(text, method=method, code=code, msg=msg)
    if code == _RESOURCE_CODE:
        return ResourceUnavailableError(text, method=method, code=code, msg=msg)
    return ApiError(text, method=method, code=code, msg=msg)


def error_for_http_status(status: int, method: str | None) -> VoxelError:
    """Map a non-200 HTTP status (the hAPI answers failures with 200) onto an error."""
    if status >= 500 or status in (408, 429):
        # A gateway or server error may come after the API acted on the request.
        return TransientError(f"HTTP {status} from the hAPI", method=method, maybe_delivered=True)
    # Redirects and other 4xx mean the base URL or a proxy is misconfigured; retrying will not help.
    return ApiError(f"unexpected HTTP {status} from the hAPI (check the API URL)", method=method)


def _surely_not_sent(exc: BaseException) -> bool:
    """Whether the failure happened before a connection existed, so no byte of the request left us."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        # TLS failures are rare and ambiguous; treating them as maybe-delivered is the safe side.
        return False
    for arg in exc.args:
        if isinstance(arg, MaxRetryError):
            # NewConnectionError covers refused connections and (as NameResolutionError) DNS failures.
            return isinstance(arg.reason, NewConnectionError | ConnectTimeoutError)
    return False


def error_for_transport(exc: BaseException, method: str | None) -> TransientError:
    """Map a requests/urllib3/socket exception onto a TransientError that says whether it may have been sent."""
    if _surely_not_sent(exc):
        kind = "connect timeout" if isinstance(exc, requests.exceptions.ConnectTimeout) else "connection failed"
        return TransientError(f"{kind}; the request was not sent", method=method, maybe_delivered=False)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransientError("read timeout; the request may have been processed", method=method)
    # Deliberately only the class name: exception texts can echo URLs or bodies.
    return TransientError(f"{type(exc).__name__} after sending; the request may have been processed", method=method)
