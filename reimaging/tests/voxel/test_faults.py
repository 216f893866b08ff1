"""Each voxsim fault, and each transport failure, maps to the right error and says whether it may have been sent."""

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from reimaging.voxel import (
    ApiError,
    Client,
    MalformedResponseError,
    ResourceUnavailableError,
    TransientError,
)

from .conftest import TIMEOUT, voxserver_id

REIMAGE = "voxel.voxservers.reimage"


def _reimage(client: Client, device_id: int):
    return client.voxservers_reimage(device_id, "web01.acme.example", 139)


@pytest.fixture
def device_id(client) -> int:
    return voxserver_id(client)


def test_fault_error_resource_is_transient_not_delivered(sim, client, device_id):
    sim.add_fault(kind="error", code=206, method=REIMAGE)
    with pytest.raises(ResourceUnavailableError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is False
    assert info.value.method == REIMAGE


def test_fault_error_other_code_is_api_error(sim, client):
    sim.add_fault(kind="error", code=201, msg="Device action failed (power supply)")
    with pytest.raises(ApiError) as info:
        client.hapi_version()
    assert (info.value.code, info.value.msg) == (201, "Device action failed (power supply)")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fault_http_5xx_is_transient_maybe_delivered(sim, client, records, device_id, status):
    sim.add_fault(kind="http", status=status, method=REIMAGE)
    with pytest.raises(TransientError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is True
    assert (records[-1].http_status, records[-1].stat, records[-1].maybe_delivered) == (status, None, True)


def test_fault_http_404_is_api_error(sim, client):
    sim.add_fault(kind="http", status=404)
    with pytest.raises(ApiError) as info:
        client.hapi_version()
    assert info.value.code is None
    assert "404" in str(info.value)


def test_fault_latency_within_timeout_succeeds(sim, client):
    sim.add_fault(kind="latency", seconds=0.1)
    assert client.hapi_version().version == "1.0"


def test_fault_latency_beyond_read_timeout_is_transient_maybe_delivered(sim, client, device_id):
    sim.add_fault(kind="latency", seconds=TIMEOUT[1] + 0.3, method=REIMAGE)
    with pytest.raises(TransientError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is True
    assert "timeout" in str(info.value)


@pytest.mark.parametrize("phase", ["before", "after"])
def test_fault_hang_is_transient_maybe_delivered(sim, client, records, device_id, phase):
    sim.add_fault(kind="hang", seconds=TIMEOUT[1] + 0.5, phase=phase, method=REIMAGE)
    with pytest.raises(TransientError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is True
    assert records[-1].http_status is None
    # "after" means the reimage really started: exactly why the caller must not repeat it blindly.
    assert sim.calls(REIMAGE)[0]["stat"] == ("ok" if phase == "after" else None)


@pytest.mark.parametrize("phase", ["before", "after"])
def test_fault_drop_is_transient_maybe_delivered(sim, client, device_id, phase):
    sim.add_fault(kind="drop", phase=phase, method=REIMAGE)
    with pytest.raises(TransientError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is True


def test_fault_drop_then_next_call_succeeds(sim, client):
    sim.add_fault(kind="drop")
    with pytest.raises(TransientError):
        client.hapi_version()
    assert client.hapi_version().version == "1.0"


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_fault_bad_xml_is_malformed_maybe_delivered(sim, client, records, device_id, kind):
    sim.add_fault(kind=kind, method=REIMAGE)
    with pytest.raises(MalformedResponseError) as info:
        _reimage(client, device_id)
    assert info.value.maybe_delivered is True
    assert (records[-1].http_status, records[-1].error_class) == (200, "MalformedResponseError")


def test_fault_truncated_large_list_is_malformed(sim, client):
    sim.add_fault(kind="truncated", method="voxel.devices.list")
    with pytest.raises(MalformedResponseError):
        client.devices_list()


def test_fault_rate_applies_only_to_its_method(sim, client):
    sim.add_fault(kind="http", status=503, rate=1.0, method=REIMAGE)
    assert client.devices_list()
    assert client.hapi_version()


def test_transport_connection_refused_is_not_delivered():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    with (
        Client(f"http://127.0.0.1:{port}/version/1.0/", "acme-key", "acme-secret", timeout=TIMEOUT) as client,
        pytest.raises(TransientError) as info,
    ):
        client.hapi_version()
    assert info.value.maybe_delivered is False
    assert info.value.method == "voxel.hapi.version"


def test_transport_dns_failure_is_not_delivered():
    with (
        Client("http://voxsim.invalid/version/1.0/", "acme-key", "acme-secret", timeout=TIMEOUT) as client,
        pytest.raises(TransientError) as info,
    ):
        client.hapi_version()
    assert info.value.maybe_delivered is False


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection is never completed (a connect timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def test_transport_connect_timeout_is_not_delivered(full_backlog):
    url = f"http://127.0.0.1:{full_backlog}/version/1.0/"
    with (
        Client(url, "acme-key", "acme-secret", timeout=(0.3, 0.3)) as client,
        pytest.raises(TransientError) as info,
    ):
        client.hapi_version()
    assert info.value.maybe_delivered is False
    assert "connect timeout" in str(info.value)


def test_transport_errors_keep_requests_out_of_the_type(sim, client):
    sim.add_fault(kind="drop")
    with pytest.raises(TransientError) as info:
        client.hapi_version()
    assert type(info.value).__module__.startswith("reimaging.voxel")


def test_transport_reply_over_size_cap_is_transient(sim):
    with Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, max_body_bytes=1000) as client:
        assert client.hapi_version()
        with pytest.raises(TransientError) as info:
            client.devices_list()
    assert info.value.maybe_delivered is True
    assert "larger than 1000 bytes" in str(info.value)


def test_transport_reply_past_deadline_is_transient(sim):
    with (
        Client(sim.api_url, "acme-key", "acme-secret", timeout=TIMEOUT, deadline=0.0) as client,
        pytest.raises(TransientError) as info,
    ):
        client.devices_list()
    assert info.value.maybe_delivered is True


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    """A real HTTP server on loopback that answers every POST with a redirect."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/version/1.0/"
    server.shutdown()
    server.server_close()


def test_transport_redirect_is_not_followed(redirecting_server):
    with (
        Client(redirecting_server, "acme-key", "acme-secret", timeout=TIMEOUT) as client,
        pytest.raises(ApiError) as info,
    ):
        client.hapi_version()
    assert "302" in str(info.value)
