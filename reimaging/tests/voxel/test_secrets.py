"""Keys, secrets, signatures and passwords never show in a repr, an error, a CallRecord or the log."""

import logging
import pickle
import re

import pytest

from reimaging.voxel import AuthError, Client, TransientError, mask_params

from .conftest import TIMEOUT, voxserver_id, wait_until_done

SECRET = "acme-secret"
KEY = "acme-key"
ADMIN_PASSWORD = "Adm1n-Pa55word-XYZ"
CONSOLE_PASSWORD = "C0nsole-Pa55word-XYZ"
SIG = re.compile(r"\b[0-9a-f]{32}\b")


def _assert_clean(text, *extra):
    for secret in (SECRET, KEY, ADMIN_PASSWORD, CONSOLE_PASSWORD, *extra):
        assert secret not in text
    assert not SIG.search(text), "an api_sig-like value leaked"


def test_client_repr_hides_key_and_secret(sim):
    client = Client(sim.api_url, KEY, SECRET, customer_id=1001)
    _assert_clean(repr(client))
    _assert_clean(str(client))
    assert "1001" in repr(client)


def test_auth_error_carries_no_secret(sim):
    with Client(sim.api_url, KEY, "wrong-secret", timeout=TIMEOUT) as client, pytest.raises(AuthError) as info:
        client.devices_list()
    error = info.value
    for text in (str(error), repr(error), repr(error.args), str(vars(error))):
        _assert_clean(text, "wrong-secret")


def test_transient_error_and_its_cause_carry_no_secret(sim, client):
    sim.add_fault(kind="drop")
    with pytest.raises(TransientError) as info:
        client.voxservers_reimage(1, "web01.acme.example", 139, admin_password=ADMIN_PASSWORD)
    chain = []
    error = info.value
    while error is not None:
        chain.append(f"{error!s} {error!r}")
        error = error.__cause__ or error.__context__
    _assert_clean(" ".join(chain))


def test_call_record_masks_params_and_redacts_body(sim, client, records):
    device_id = voxserver_id(client)
    client.voxservers_reimage(
        device_id, "web01.acme.example", 139, admin_password=ADMIN_PASSWORD, console_password=CONSOLE_PASSWORD
    )
    assert wait_until_done(client, device_id) == "SUCCEEDED"
    (device,) = client.devices_list(device_id=device_id)
    # The API reads the passwords back; the client returns them but never records them.
    assert {a.password for a in device.access_methods} >= {ADMIN_PASSWORD, CONSOLE_PASSWORD}
    reimage, listing = records[1], records[-1]
    assert reimage.params["admin_password"] == "***"
    assert reimage.params["console_password"] == "***"
    assert reimage.params["key"] == "***"
    assert reimage.params["api_sig"] == "***"
    assert "<password>***</password>" in listing.response_body
    for record in records:
        _assert_clean(repr(record))
        _assert_clean(str(pickle.dumps(record)))


def test_call_record_of_auth_failure_hides_echoed_params(sim, records):
    with (
        Client(sim.api_url, KEY, "wrong-secret", timeout=TIMEOUT, on_call=records.append) as client,
        pytest.raises(AuthError),
    ):
        client.devices_list()
    (record,) = records
    assert record.stat == "fail"
    assert record.error_code == 1
    assert "<parameters>" in record.response_body
    _assert_clean(repr(record), "wrong-secret")


def test_call_record_caps_postinstall_script(sim, client, records):
    script = "#!/bin/sh\n" + "echo configuring\n" * 500
    client.voxservers_reimage(voxserver_id(client), "web01.acme.example", 139, postinstall_script=script)
    recorded = records[-1].params["postinstall_script"]
    assert recorded.startswith("#!/bin/sh\necho configuring")
    assert len(recorded) < 260
    assert f"[{len(script)} chars]" in recorded


def test_log_shows_calls_without_secrets(sim, client, caplog):
    caplog.set_level(logging.DEBUG, logger="reimaging.voxel")
    device_id = voxserver_id(client)
    client.voxservers_reimage(device_id, "web01.acme.example", 139, admin_password=ADMIN_PASSWORD)
    with pytest.raises(TransientError):
        sim.add_fault(kind="http", status=503)
        client.voxservers_status(device_id=device_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "reimaging.voxel"]
    assert any("voxel.voxservers.reimage" in line and "web01.acme.example" in line for line in lines)
    assert any("TransientError" in line for line in lines)
    _assert_clean("\n".join(lines))


def test_mask_params_masks_every_password_and_credential():
    masked = mask_params(
        {"key": "k", "api_sig": "s", "ssh_password": "p", "admin_password": "a", "hostname": "h", "secret": "x"}
    )
    assert masked == {
        "key": "***",
        "api_sig": "***",
        "ssh_password": "***",
        "admin_password": "***",
        "hostname": "h",
        "secret": "***",
    }
