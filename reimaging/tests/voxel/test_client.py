"""Every client method against voxsim over real HTTP on loopback."""

import pytest
import requests

from reimaging.voxel import (
    ApiError,
    AuthError,
    Client,
    DeviceNotFoundError,
    ResourceUnavailableError,
    WrongDeviceTypeError,
)
from voxsim.catalog import HOSTILE
from voxsim.server import start

from .conftest import ACME_ID, BLUEFERN_ID, TIMEOUT, voxcloud_id, voxserver_id, wait_until_done


class RecordingSession(requests.Session):
    """A real Session that remembers how each request was sent."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        return super().request(method, url, **kwargs)


def _owned_ids(sim, customer_id):
    return {d.id for d in sim.sim.world.customer_devices(customer_id)}


def test_devices_list_returns_the_customers_devices(sim, client):
    devices = client.devices_list()
    assert {d.id for d in devices} == _owned_ids(sim, ACME_ID)
    server = next(d for d in devices if not d.is_voxcloud)
    assert server.type_id == 1
    assert server.facility_code in {"lga7", "ams2", "sin1", "ldj1"}
    assert {ip.type for ip in server.ip_assignments} <= {"frontend", "backend"}
    assert server.disk_gb > 0
    assert server.cores and server.memory_mb
    assert isinstance(devices, tuple)
    assert any(d.is_voxcloud for d in devices)


def test_devices_list_one_device(client):
    device_id = voxserver_id(client)
    (device,) = client.devices_list(device_id=device_id, verbosity="extended")
    assert device.id == device_id


def test_devices_list_compact_leaves_details_none(client):
    device = client.devices_list(verbosity="compact")[0]
    assert device.description is None
    assert device.ip_assignments == ()
    assert device.facility_code is not None


def test_devices_list_unknown_device_is_not_found(client):
    with pytest.raises(DeviceNotFoundError) as info:
        client.devices_list(device_id=1)
    assert (info.value.code, info.value.method) == (100, "voxel.devices.list")


def test_devices_list_other_customers_device_is_not_found(sim, client):
    other = min(_owned_ids(sim, BLUEFERN_ID))
    with pytest.raises(DeviceNotFoundError):
        client.devices_list(device_id=other)


def test_devices_list_rejects_unknown_verbosity_before_sending(sim, client):
    with pytest.raises(ValueError):
        client.devices_list(verbosity="loud")
    assert sim.calls() == []


def test_images_list_extended_carries_versions(client):
    images = client.images_list()
    assert {i.id for i in images} >= {1, 3, 55, 139}
    image = next(i for i in images if i.id == 139)
    assert image.product_family == "Ubuntu"
    assert image.architecture == 64
    assert image.versions
    assert sum(v.is_default for v in image.versions) == 1


def test_images_list_one_image(client):
    (image,) = client.images_list(image_id=3, verbosity="compact")
    assert (image.id, image.summary, image.versions) == (3, "CentOS 5, 32-bit, base install", ())


def test_images_list_unknown_image_is_api_error(client):
    with pytest.raises(ApiError) as info:
        client.images_list(image_id=99999)
    assert type(info.value) is ApiError
    assert info.value.code == 300


def test_ips_list_filters_by_facility_and_type(client):
    vlans = client.ips_list()
    assert {v.type for v in vlans} == {"frontend", "backend"}
    backend = client.ips_list(facility="lga7", ip_address_type="backend")
    assert backend
    assert all(v.facility == "lga7" and v.type == "backend" for v in backend)
    assert all(s.network and s.gateway for v in backend for s in v.subnets)


def test_voxservers_reimage_runs_to_succeeded(sim, client):
    device_id = voxserver_id(client)
    accepted = client.voxservers_reimage(device_id, "web01.acme.example", 139, admin_password="Adm1nPassw0rd")
    assert (accepted.device_id, accepted.status) == (device_id, "IN_PROGRESS")
    assert accepted.last_update > 0
    (running,) = client.voxservers_status(device_id=device_id)
    assert running.status == "IN_PROGRESS"
    assert running.extended_status
    assert wait_until_done(client, device_id) == "SUCCEEDED"
    (device,) = client.devices_list(device_id=device_id)
    assert device.label == "web01.acme.example"
    admin = next(a for a in device.access_methods if a.type == "admin")
    assert admin.password == "Adm1nPassw0rd"


def test_voxservers_reimage_sends_only_given_params(sim, client):
    device_id = voxserver_id(client)
    client.voxservers_reimage(
        device_id,
        "web01.acme.example",
        139,
        swap_space=2,
        voxel_access=True,
        ssh_username="deploy",
        ssh_password="Ssh-Secret-42",
        postinstall_script="#!/bin/sh\necho hi\n",
    )
    (call,) = sim.calls("voxel.voxservers.reimage")
    assert call["stat"] == "ok"
    params = call["params"]
    assert params["voxel_access"] == "true"
    assert params["swap_space"] == "2"
    assert params["ssh_password"] == "***"
    assert "customer_id" not in params
    assert "admin_password" not in params
    assert "backend_ip" not in params
    assert "image_version_id" not in params


def test_voxservers_reimage_voxel_access_false_is_spelled_false(sim, client):
    client.voxservers_reimage(voxserver_id(client), "web01.acme.example", 139, voxel_access=False)
    assert sim.calls("voxel.voxservers.reimage")[0]["params"]["voxel_access"] == "false"


def test_voxservers_reimage_cloud_vm_is_wrong_device_type(client):
    with pytest.raises(WrongDeviceTypeError) as info:
        client.voxservers_reimage(voxcloud_id(client), "vm.acme.example", 139)
    assert info.value.code == 110


def test_voxservers_reimage_unknown_device_is_not_found(client):
    with pytest.raises(DeviceNotFoundError):
        client.voxservers_reimage(1, "web01.acme.example", 139)


def test_voxservers_reimage_invalid_param_is_api_error(client):
    with pytest.raises(ApiError) as info:
        client.voxservers_reimage(voxserver_id(client), "-bad-", 139)
    assert type(info.value) is ApiError
    assert info.value.code == 300
    assert "hostname" in info.value.msg
    assert info.value.method == "voxel.voxservers.reimage"


def test_voxservers_reimage_resource_fault_is_resource_unavailable(sim, client):
    sim.add_fault(kind="error", code=206, method="voxel.voxservers.reimage")
    with pytest.raises(ResourceUnavailableError) as info:
        client.voxservers_reimage(voxserver_id(client), "web01.acme.example", 139)
    assert info.value.code == 206
    assert info.value.maybe_delivered is False


def test_voxservers_status_all_lists_only_voxservers(sim, client):
    statuses = client.voxservers_status()
    servers = {d.id for d in client.devices_list() if not d.is_voxcloud}
    assert {s.device_id for s in statuses} == servers
    assert all(s.status == "SUCCEEDED" for s in statuses)


def test_voxservers_status_compact_has_no_extended_status(client):
    (state,) = client.voxservers_status(device_id=voxserver_id(client), verbosity="compact")
    assert state.extended_status is None


def test_voxservers_status_cloud_vm_is_wrong_device_type(client):
    with pytest.raises(WrongDeviceTypeError):
        client.voxservers_status(device_id=voxcloud_id(client))


def test_hapi_version_lists_methods(client):
    version = client.hapi_version()
    assert version.version == "1.0"
    assert "voxel.voxservers.reimage" in version.methods


def test_client_wrong_secret_is_auth_error(sim):
    with (
        Client(sim.api_url, "acme-key", "not-the-secret", timeout=TIMEOUT) as client,
        pytest.raises(AuthError) as info,
    ):
        client.hapi_version()
    assert info.value.code == 1


def test_client_other_customer_is_permission_error(sim):
    with (
        Client(sim.api_url, "acme-key", "acme-secret", customer_id=BLUEFERN_ID, timeout=TIMEOUT) as client,
        pytest.raises(AuthError) as info,
    ):
        client.devices_list()
    assert info.value.code == 9


def test_client_sends_customer_id_with_every_call(sim, staff):
    devices = staff.devices_list()
    staff.voxservers_status()
    staff.ips_list()
    assert {d.id for d in devices} == _owned_ids(sim, BLUEFERN_ID)
    calls = sim.calls()
    assert len(calls) == 3
    assert all(c["customer_id"] == BLUEFERN_ID and c["params"]["customer_id"] == "1002" for c in calls)


def test_client_posts_a_form_body_with_a_timeout(sim):
    session = RecordingSession()
    with Client(sim.api_url, "acme-key", "acme-secret", timeout=(2.0, 3.0), session=session) as client:
        client.hapi_version()
        client.devices_list(verbosity="compact")
    assert len(session.sent) == 2
    for verb, url, kwargs in session.sent:
        assert verb == "POST"
        assert url == sim.api_url
        assert kwargs["timeout"] == (2.0, 3.0)
        assert "method" in kwargs["data"]
        assert kwargs.get("params") is None


def test_client_reuses_one_connection(sim):
    session = requests.Session()
    with Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, session=session) as client:
        for _ in range(3):
            client.hapi_version()
    pools = session.get_adapter(sim.api_url).poolmanager.pools
    keys = pools.keys()  # urllib3's pool container is not iterable itself
    assert [pools[key].num_connections for key in keys] == [1]


def test_client_supplied_session_is_not_closed(sim):
    session = requests.Session()
    with Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, session=session) as client:
        client.hapi_version()
    assert session.adapters


@pytest.mark.parametrize("url", ["ftp://example.test/", "not a url", "http://user:pw@example.test/"])
def test_client_refuses_bad_base_url(url):
    with pytest.raises(ValueError):
        Client(url, "k", "s")


def test_client_records_every_call(sim, client, records):
    client.hapi_version()
    with pytest.raises(DeviceNotFoundError):
        client.devices_list(device_id=1)
    ok, fail = records
    assert (ok.method, ok.stat, ok.http_status, ok.error_code, ok.error_class) == (
        "voxel.hapi.version",
        "ok",
        200,
        None,
        None,
    )
    assert ok.duration > 0
    assert ok.response_body.startswith("<?xml")
    assert (fail.stat, fail.error_code, fail.error_class) == ("fail", 100, "DeviceNotFoundError")
    assert fail.error_message == "The device_id passed in can't be matched to a valid device."
    assert fail.params["device_id"] == "1"
    assert fail.params["method"] == "voxel.devices.list"


def test_client_caps_recorded_body(sim, client, records):
    client.devices_list()
    assert len(records[0].response_body) == 4096


def test_client_failing_hook_does_not_change_the_outcome(sim, caplog):
    def hook(record):
        raise RuntimeError("database down")

    with Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, on_call=hook) as client:
        assert client.hapi_version().version == "1.0"
    assert "on_call hook failed" in caplog.text


def test_devices_list_hostile_strings_arrive_verbatim():
    hostile = start(devices=12, seed=1, hostile=True)
    try:
        with Client(hostile.api_url, "acme-key", "acme-secret", timeout=TIMEOUT) as client:
            devices = client.devices_list()
    finally:
        hostile.stop()
    pairs = {(d.label, d.description) for d in devices}
    assert HOSTILE[0] in pairs
