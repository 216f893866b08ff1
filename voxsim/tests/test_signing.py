"""Signing and timestamp rules of hapi-protocol.md §2."""

from __future__ import annotations

from datetime import datetime

import pytest

from voxsim import signing

KR_TIMESTAMP = "2015-03-16T23:01:32-07:00"


def test_sign_kr_devices_list_vector():
    params = {"method": "voxel.devices.list", "key": "api_key", "timestamp": KR_TIMESTAMP}
    assert signing.string_to_sign("api_secret", params) == (
        "api_secretkeyapi_keymethodvoxel.devices.listtimestamp2015-03-16T23:01:32-07:00"
    )
    assert signing.sign("api_secret", params) == "0231d58891b065b34a8b3d2c26afd9cc"


def test_sign_kr_devices_power_vector():
    params = {
        "method": "voxel.devices.power",
        "key": "api_key",
        "timestamp": KR_TIMESTAMP,
        "device_id": "1",
        "power_action": "off",
    }
    assert signing.sign("api_secret", params) == "e06fff7779f428fbee4a460cb3d55ef9"


def test_verify_accepts_kr_vector_and_ignores_api_sig_itself():
    params = {"method": "voxel.devices.list", "key": "api_key", "timestamp": KR_TIMESTAMP}
    params["api_sig"] = "0231D58891B065B34A8B3D2C26AFD9CC"
    assert signing.verify("api_secret", params)


def test_verify_accepts_signature_with_or_without_empty_params():
    params = {"method": "voxel.devices.list", "key": "k", "timestamp": KR_TIMESTAMP, "device_id": ""}
    with_empty = signing.sign("s", params)
    without_empty = signing.sign("s", {k: v for k, v in params.items() if v})
    assert with_empty != without_empty
    assert signing.verify("s", {**params, "api_sig": with_empty})
    assert signing.verify("s", {**params, "api_sig": without_empty})


def test_verify_rejects_wrong_secret_and_missing_sig():
    params = {"method": "voxel.devices.list", "key": "k", "timestamp": KR_TIMESTAMP}
    assert not signing.verify("other", {**params, "api_sig": signing.sign("s", params)})
    assert not signing.verify("s", params)


@pytest.mark.parametrize(
    "value",
    [
        "2015-03-16T23:01:32-07:00",
        "2010-02-10T23:39:25.808107+0000",
        "2011-02-20T15:00:56Z",
        "2024-05-01T12:00:00.123Z",
        "2024-05-01T12:00:00+00:00",
    ],
)
def test_parse_timestamp_accepts_iso_forms(value):
    assert signing.parse_timestamp(value).tzinfo is not None


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00", "yesterday", ""])
def test_parse_timestamp_rejects_naive_or_garbage(value):
    with pytest.raises(ValueError):
        signing.parse_timestamp(value)


def test_timestamp_fresh_honours_skew():
    moment = datetime.fromisoformat("2024-05-01T12:00:00+00:00").timestamp()
    assert signing.timestamp_fresh("2024-05-01T12:14:59Z", moment, 900)
    assert not signing.timestamp_fresh("2024-05-01T12:15:01Z", moment, 900)
    assert not signing.timestamp_fresh("2024-05-01T11:44:59Z", moment, 900)
    assert not signing.timestamp_fresh("nonsense", moment, 900)
