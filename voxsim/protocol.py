"""Every choice voxsim makes where the hAPI sources are silent ([I] in hapi-protocol.md), kept here so it can change."""

from __future__ import annotations

# Error codes. 1, 9, 100, 110, 201, 206 and 500 are documented (hapi-protocol.md §5); 300 and 301 are ours.
ERR_AUTH = 1
ERR_PERMISSION = 9
ERR_UNKNOWN_DEVICE = 100
ERR_WRONG_TYPE = 110
ERR_ACTION_FAILED = 201
ERR_RESOURCE = 206
ERR_INVALID_PARAM = 300
ERR_UNKNOWN_METHOD = 301
ERR_SSL_ONLY = 500

MSG_AUTH = "Invalid login or password"
MSG_STALE = "Invalid login or password (timestamp missing, unparseable or outside the allowed skew)"
MSG_PERMISSION = "Permission denied: user lacks access rights for this method"
MSG_UNKNOWN_DEVICE = "The device_id passed in can't be matched to a valid device."
MSG_WRONG_TYPE = "This device is of a type different than required by this method."
MSG_REIMAGE_BUSY = "Device action failed (reimage already in progress)"
MSG_RESOURCE = "Failed acquiring resource"
MSG_SSL_ONLY = "Method must be accessed via an SSL endpoint"

# Default msg for a code when a fault names a code but no msg.
MESSAGES: dict[int, str] = {
    ERR_AUTH: MSG_AUTH,
    ERR_PERMISSION: MSG_PERMISSION,
    ERR_UNKNOWN_DEVICE: MSG_UNKNOWN_DEVICE,
    ERR_WRONG_TYPE: MSG_WRONG_TYPE,
    ERR_ACTION_FAILED: "Device action failed",
    ERR_RESOURCE: MSG_RESOURCE,
    ERR_INVALID_PARAM: "Invalid parameter",
    ERR_UNKNOWN_METHOD: "Unknown method",
    ERR_SSL_ONLY: MSG_SSL_ONLY,
}


class ApiError(Exception):
    """A hAPI failure, answered as HTTP 200 <rsp stat="fail"><err code msg/></rsp>."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def invalid_param(name: str, why: str) -> ApiError:
    """The one error for any parameter the API rejects (missing, malformed or not allowed)."""
    return ApiError(ERR_INVALID_PARAM, f"Invalid parameter: {name}: {why}")


def unknown_method(name: str) -> ApiError:
    """The error for a method name voxsim does not implement."""
    return ApiError(ERR_UNKNOWN_METHOD, f"Unknown method: {name or '(none given)'}")


# Provisioning status values (hapi-protocol.md §4.4, §4.7).
STATUS_IN_PROGRESS = "IN_PROGRESS"
STATUS_SUCCEEDED = "SUCCEEDED"
STATUS_FAILED = "FAILED"

# Reimage steps: (percentage at which the step starts, name). extended_status reads "<name> (<pct>%)".
REIMAGE_STEPS: tuple[tuple[int, str], ...] = (
    (0, "Preparing reimage"),
    (10, "Partitioning disks"),
    (25, "Installing base system"),
    (60, "Configuring network"),
    (85, "Running postinstall script"),
)
EXTENDED_IDLE = "Device provisioned"
EXTENDED_DONE = "Reimage completed (100%)"


def step_text(percent: int) -> str:
    """extended_status while a reimage runs, e.g. "Installing base system (40%)"."""
    name = next(name for start, name in reversed(REIMAGE_STEPS) if percent >= start)
    return f"{name} ({percent}%)"


def failed_text(percent: int) -> str:
    """extended_status of a reimage that failed at this percentage."""
    return f"Reimage failed: {step_text(percent)}"


# Device kinds (hapi-protocol.md §8).
KIND_VOXSERVER = "voxserver"
KIND_VOXCLOUD = "voxcloud"
DEVICE_TYPES: dict[str, tuple[int, str]] = {
    KIND_VOXSERVER: (1, "Dedicated Server"),
    KIND_VOXCLOUD: (3, "Virtual Server"),
}
VOXCLOUD_MODEL: tuple[int, str] = (90, "VoxCLOUD")

POWER_ON = "on"
POWER_OFF = "off"

IP_FRONTEND = "frontend"
IP_BACKEND = "backend"
IP_TYPES: tuple[str, str] = (IP_FRONTEND, IP_BACKEND)
# The VLAN description, also the ipassignment description ("lga7 public; vlan 101").
VLAN_WORDS: dict[str, str] = {IP_FRONTEND: "public", IP_BACKEND: "private"}


def vlan_description(facility: str, ip_type: str, vlan_id: int) -> str:
    """Description shared by a VLAN and the ipassignments inside it."""
    return f"{facility} {VLAN_WORDS[ip_type]}; vlan {vlan_id}"


VERBOSITIES: tuple[str, ...] = ("compact", "normal", "extended")

# Payload shapes that are ours (hapi-protocol.md §8); every value is escaped before it is substituted.
VLAN_OPEN = '<vlan id="{id}" type="{type}" facility="{facility}" description="{description}">'
VLAN_CLOSE = "</vlan>"
SUBNET = '<subnet network="{network}" gateway="{gateway}"/>'
IMAGE_VERSION = '<version id="{id}" default="{default}">{date}</version>'
HAPI_VERSION_OPEN = "<version><number>{number}</number><methods>"
HAPI_VERSION_CLOSE = "</methods></version>"

# Other limits of ours.
POSTINSTALL_MAX_BYTES = 64 * 1024
SSH_USERNAME_PATTERN = r"[a-z_][a-z0-9_-]{0,31}"
GENERATED_PASSWORD_LENGTH = 14
MASK = "***"
# Needs HTTP Basic auth over SSL on the real API; voxsim is plain HTTP, so it answers ERR_SSL_ONLY as the docs say.
METHOD_AUTHKEYS_READ = "voxel.hapi.authkeys.read"
