from datetime import UTC, datetime, timedelta, timezone

import pytest

from reimaging.voxel import sign, timestamp

KR_TIMESTAMP = "2015-03-16T23:01:32-07:00"


def test_sign_kr_devices_list_vector():
    params = {"method": "voxel.devices.list", "key": "api_key", "timestamp": KR_TIMESTAMP}
    assert sign("api_secret", params) == "0231d58891b065b34a8b3d2c26afd9cc"


def test_sign_kr_devices_power_vector():
    params = {
        "method": "voxel.devices.power",
        "key": "api_key",
        "timestamp": KR_TIMESTAMP,
        "device_id": "1",
        "power_action": "off",
    }
    assert sign("api_secret", params) == "e06fff7779f428fbee4a460cb3d55ef9"


def test_sign_ignores_api_sig_and_param_order():
    params = {"timestamp": KR_TIMESTAMP, "method": "voxel.devices.list", "key": "api_key"}
    assert sign("api_secret", {**params, "api_sig": "whatever"}) == "0231d58891b065b34a8b3d2c26afd9cc"


def test_sign_changes_with_secret_and_values():
    params = {"method": "voxel.devices.list", "key": "api_key", "timestamp": KR_TIMESTAMP}
    assert sign("other", params) != sign("api_secret", params)
    assert sign("api_secret", {**params, "device_id": "2"}) != sign("api_secret", params)


def test_timestamp_is_iso8601_with_offset():
    moment = datetime(2015, 3, 16, 23, 1, 32, tzinfo=timezone(timedelta(hours=-7)))
    assert timestamp(moment) == KR_TIMESTAMP
    now = timestamp()
    assert datetime.fromisoformat(now).tzinfo is not None
    assert abs(datetime.fromisoformat(now) - datetime.now(UTC)) < timedelta(seconds=5)


def test_timestamp_refuses_naive_datetime():
    with pytest.raises(ValueError):
        timestamp(datetime(2015, 3, 16, 23, 1, 32))
