"""Client of the Voxel hAPI: signing, transport, hardened XML parsing and typed errors; imports nothing from Django."""

from .client import DEFAULT_TIMEOUT, Client, mask_params
from .errors import (
    ApiError,
    AuthError,
    DeviceNotFoundError,
    MalformedResponseError,
    ResourceUnavailableError,
    TransientError,
    UnsafeXmlError,
    VoxelError,
    WrongDeviceTypeError,
)
from .models import (
    AccessMethod,
    ApiVersion,
    CallRecord,
    Device,
    DeviceStatus,
    Drive,
    Image,
    ImageVersion,
    IpAssignment,
    ReimageAccepted,
    Subnet,
    Vlan,
)
from .signing import sign, timestamp

__all__ = [
    "DEFAULT_TIMEOUT",
    "AccessMethod",
    "ApiError",
    "ApiVersion",
    "AuthError",
    "CallRecord",
    "Client",
    "Device",
    "DeviceNotFoundError",
    "DeviceStatus",
    "Drive",
    "Image",
    "ImageVersion",
    "IpAssignment",
    "MalformedResponseError",
    "ReimageAccepted",
    "ResourceUnavailableError",
    "Subnet",
    "TransientError",
    "UnsafeXmlError",
    "Vlan",
    "VoxelError",
    "WrongDeviceTypeError",
    "mask_params",
    "sign",
    "timestamp",
]
