"""Paths, HTTP verbs, parameter merging, authentication and customer isolation over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from voxsim.catalog import CUSTOMERS
from voxsim.tests.hapi import Hapi, parse, sign


def _device_ids(root: Any) -> list[int]:
    return [int(d.get("id")) for d in root.iter("device")]


@pytest.mark.parametrize("path", ["/", "", "/version/1.0/", "/version/1.0", "/version/1.5/", "/version/1.5"])
@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_api_answers_on_every_path_and_verb(acme, path, verb):
    root = acme.ok("voxel.hapi.version", path=path or "", verb=verb)
    assert root.findtext("version/number") == ("1.5" if "1.5" in path else "1.0")


def test_api_post_with_all_params_in_query_string(sim, acme):
    # FOG sends a POST with an empty body and everything in the query string.
    response = requests.post(sim.api_url, params=acme.params("voxel.devices.list", verbosity="compact"), timeout=5)
    assert parse(response.content).get("stat") == "ok"


def test_api_merges_split_query_and_body_params(sim, acme):
    # The JS client puts method/key/timestamp/api_sig in the URL and method params in the body, all signed.
    signed = acme.params("voxel.devices.list", device_id="200001", verbosity="compact")
    body = {k: signed.pop(k) for k in ("device_id", "verbosity")}
    response = requests.post(sim.api_url, params=signed, data=body, timeout=5)
    root = parse(response.content)
    assert root.get("stat") == "ok"
    assert _device_ids(root) == [200001]


def test_api_accepts_unsigned_empty_param(sim, acme):
    # PYH and LC leave empty values out of the signature but still send them.
    params = acme.params("voxel.devices.list", verbosity="compact")
    params["device_id"] = ""
    response = requests.get(sim.api_url, params=params, timeout=5)
    assert parse(response.content).get("stat") == "ok"


def test_api_bad_signature_is_code_1(sim, acme):
    params = acme.params("voxel.devices.list")
    params["api_sig"] = "0" * 32
    root = parse(requests.get(sim.api_url, params=params, timeout=5).content)
    assert root.get("stat") == "fail"
    assert root.find("err").get("code") == "1"
    assert root.find("err").get("msg") == "Invalid login or password"
    assert root.findtext("method") == "voxel.devices.list"


def test_api_tampered_param_is_code_1(sim, acme):
    params = acme.params("voxel.devices.list", device_id="200001")
    params["device_id"] = "200002"
    assert parse(requests.get(sim.api_url, params=params, timeout=5).content).find("err").get("code") == "1"


def test_api_unknown_key_is_code_1(sim):
    assert Hapi(sim.url, "nobody", "nothing").call("voxel.devices.list").code == 1


@pytest.mark.parametrize("offset", [timedelta(minutes=-16), timedelta(minutes=16), None])
def test_api_stale_or_missing_timestamp_is_code_1(sim, acme, offset):
    params = {"method": "voxel.devices.list", "key": "acme-key"}
    if offset is not None:
        params["timestamp"] = (datetime.now(UTC) + offset).isoformat()
    params["api_sig"] = sign("acme-secret", params)
    err = parse(requests.get(sim.api_url, params=params, timeout=5).content).find("err")
    assert err.get("code") == "1"
    assert "skew" in err.get("msg")


def test_api_skew_is_configurable(sim, acme):
    sim.configure(skew_seconds=3600)
    params = {"method": "voxel.hapi.version", "key": "acme-key"}
    params["timestamp"] = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    params["api_sig"] = sign("acme-secret", params)
    assert parse(requests.get(sim.api_url, params=params, timeout=5).content).get("stat") == "ok"


def test_api_unknown_method_fails_clearly(acme):
    rsp = acme.call("voxel.test.echo")
    assert rsp.stat == "fail"
    assert rsp.code == 301
    assert rsp.msg == "Unknown method: voxel.test.echo"


def test_api_authkeys_read_needs_ssl(acme):
    rsp = acme.call("voxel.hapi.authkeys.read")
    assert (rsp.code, rsp.msg) == (500, "Method must be accessed via an SSL endpoint")


def test_api_customer_sees_only_own_devices(sim, acme):
    ids = _device_ids(acme.ok("voxel.devices.list", verbosity="compact"))
    owners = {sim.sim.world.devices[i].customer_id for i in ids}
    assert owners == {1001}
    assert len(ids) == len(sim.sim.world.by_customer[1001])


def test_api_other_customer_id_is_code_9(acme):
    assert acme.call("voxel.devices.list", customer_id=1002).code == 9
    assert acme.ok("voxel.devices.list", customer_id=1001, verbosity="compact") is not None


def test_api_other_customers_device_is_code_100(sim, acme):
    foreign = sim.sim.world.by_customer[1002][0]
    rsp = acme.call("voxel.devices.list", device_id=foreign)
    assert (rsp.code, rsp.msg) == (100, "The device_id passed in can't be matched to a valid device.")


def test_api_staff_key_acts_for_any_customer(sim, staff):
    for customer in CUSTOMERS:
        ids = _device_ids(staff.ok("voxel.devices.list", customer_id=customer.customer_id, verbosity="compact"))
        assert {sim.sim.world.devices[i].customer_id for i in ids} == {customer.customer_id}
    default = _device_ids(staff.ok("voxel.devices.list", verbosity="compact"))
    assert {sim.sim.world.devices[i].customer_id for i in default} == {CUSTOMERS[0].customer_id}


def test_api_staff_unknown_customer_is_invalid_param(staff):
    assert staff.call("voxel.devices.list", customer_id=999).code == 300


def test_api_every_customer_key_works(sim):
    for customer in CUSTOMERS:
        assert Hapi(sim.url, customer.key, customer.secret).ok("voxel.hapi.version") is not None


def test_api_unknown_path_is_404(sim, acme):
    response = requests.get(sim.url + "/version/2.0/", params=acme.params("voxel.hapi.version"), timeout=5)
    assert response.status_code == 404
