"""HTTP front of voxsim: the hAPI paths, the /_sim/ control endpoints, and start() for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from voxsim import faults, render
from voxsim.core import Answer, Simulator

log = logging.getLogger("voxsim")

# Normalised path (trailing slash stripped) -> API version it answers as.
API_PATHS = {"": "1.0", "/version/1.0": "1.0", "/version/1.5": "1.5"}
MALFORMED_BODY = '<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok"><devices><device id=200001 label=<oops></rsp'
IDLE_TIMEOUT = 120.0  # seconds an idle keep-alive connection may hold a handler thread


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a connection held by a "hang" fault
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        super().__init__(address, _Handler)
        self.sim = sim
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "voxsim/1.0"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would delay the second 40 ms

    @property
    def httpd(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        with self.httpd.connections_lock:
            self.httpd.connections.add(self.connection)

    def finish(self) -> None:
        with self.httpd.connections_lock:
            self.httpd.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default line carries the query string, i.e. api_sig and passwords."""

    def do_GET(self) -> None:
        """Route a GET."""
        self._route("GET")

    def do_POST(self) -> None:
        """Route a POST."""
        self._route("POST")

    def do_DELETE(self) -> None:
        """Route a DELETE (only /_sim/faults has one)."""
        self._route("DELETE")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _route(self, verb: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/_sim/"):
            self._control(verb, url.path, url.query, body)
            return
        version = API_PATHS.get(url.path.rstrip("/"))
        if version is None or verb == "DELETE":
            self._send(404, "text/plain; charset=utf-8", "Not Found\n")
            return
        # Query and form params are merged before signing is checked (the JS client splits them, §1).
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        content_type = self.headers.get("Content-Type", "application/x-www-form-urlencoded")
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self._api(version, params)

    def _api(self, version: str, params: dict[str, str]) -> None:
        sim, started = self.httpd.sim, time.monotonic()
        fault = sim.take_fault(params.get("method", ""))
        kind = fault.kind if fault else None
        if fault is not None and fault.kind == faults.LATENCY:
            self.httpd.stopping.wait(fault.seconds)
        answer: Answer | None = None
        if fault is None or kind in (faults.LATENCY, faults.MALFORMED, faults.TRUNCATED) or fault.phase == "after":
            answer = sim.answer(params, version)
        elif fault.kind == faults.ERROR:
            answer = Answer(render.fail(fault.code, fault.msg), "fail", fault.code, sim.claimed_customer(params))
        entry = sim.record(params, answer, kind)
        log.info(
            "%s %s method=%s customer=%s device=%s stat=%s code=%s fault=%s %.1fms",
            self.client_address[0],
            self.command,
            entry["method"] or "-",
            entry["customer_id"] or "-",
            params.get("device_id") or "-",
            entry["stat"] or "-",
            entry["code"] or "-",
            kind or "-",
            1000 * (time.monotonic() - started),
        )
        if fault is None or kind in (faults.LATENCY, faults.ERROR):
            assert answer is not None
            self._send(200, "text/xml; charset=utf-8", answer.body)
        elif fault.kind == faults.HTTP:
            self._send(fault.status, "text/plain; charset=utf-8", fault.body)
        elif fault.kind == faults.MALFORMED:
            self._send(200, "text/xml; charset=utf-8", MALFORMED_BODY)
        elif fault.kind == faults.TRUNCATED:
            assert answer is not None
            self._send(200, "text/xml; charset=utf-8", answer.body[: len(answer.body) // 2])
        else:
            if fault.kind == faults.HANG:
                self.httpd.stopping.wait(fault.seconds)
            # Leave without writing a byte; the server then closes the socket and the client sees EOF.
            self.close_connection = True

    def _control(self, verb: str, path: str, query: str, body: bytes) -> None:
        sim = self.httpd.sim
        try:
            data: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            self._json(400, {"error": "body is not JSON"})
            return
        args = dict(parse_qsl(query))
        route = (verb, path.rstrip("/"))
        try:
            if route == ("GET", "/_sim/health"):
                self._json(200, {"ok": True})
            elif route == ("GET", "/_sim/faults"):
                self._json(200, sim.list_faults())
            elif route == ("POST", "/_sim/faults"):
                self._json(201, sim.add_fault(_object(data)))
            elif route == ("DELETE", "/_sim/faults"):
                self._json(200, {"cleared": sim.clear_faults()})
            elif route == ("GET", "/_sim/calls"):
                self._json(200, sim.calls(args.get("method"), int(args.get("since", "0"))))
            elif route == ("GET", "/_sim/config"):
                self._json(200, sim.get_config())
            elif route == ("POST", "/_sim/config"):
                self._json(200, sim.configure(**_object(data)))
            elif route == ("POST", "/_sim/reset"):
                sim.reset()
                self._json(200, {"ok": True})
            elif route[1].startswith("/_sim/devices/") and verb in ("GET", "POST"):
                device_id = int(route[1].removeprefix("/_sim/devices/"))
                result = sim.set_device(device_id, _object(data)) if verb == "POST" else sim.device_json(device_id)
                self._json(200, result)
            else:
                self._json(404, {"error": f"no control endpoint {verb} {path}"})
        except KeyError:
            self._json(404, {"error": "no such device"})
        except (ValueError, TypeError) as error:
            self._json(400, {"error": str(error)})
        log.info("control %s %s", verb, path)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, "application/json", json.dumps(data))

    def _send(self, status: int, content_type: str, body: str) -> None:
        raw = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


class SimServer:
    """A running voxsim in a daemon thread, with the control operations as plain methods."""

    def __init__(self, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self.sim = httpd.sim
        self.host = str(httpd.server_address[0])
        self.port = int(httpd.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self.api_url = f"{self.url}/version/1.0/"

    def stop(self) -> None:
        """Stop serving, cut open connections (including hung ones) and wait for the serving thread."""
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._httpd.connections_lock:
            for connection in list(self._httpd.connections):
                with contextlib.suppress(OSError):  # already closed by its client
                    connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Restore the seeded world and start-up config; clear faults and the call log."""
        self.sim.reset()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """The call log, as GET /_sim/calls returns it."""
        return self.sim.calls(method)

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """Add a fault, as POST /_sim/faults does; ValueError if the spec is bad."""
        return self.sim.add_fault(fault)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.sim.clear_faults()

    def configure(self, **config: Any) -> dict[str, Any]:
        """Change runtime config, as POST /_sim/config does."""
        return self.sim.configure(**config)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    devices: int = 40,
    seed: int = 1,
    reimage_seconds: float = 60.0,
    fail_rate: float = 0.0,
    skew_seconds: float = 900,
    state_file: str | os.PathLike[str] | None = None,
    hostile: bool = False,
    staff_key: str = "staff-key",
    staff_secret: str = "staff-secret",  # noqa: S107 - the simulator's published demo credential
) -> SimServer:
    """Start voxsim on host:port (0 picks a free port) in a daemon thread."""
    sim = Simulator(
        devices=devices,
        seed=seed,
        reimage_seconds=reimage_seconds,
        fail_rate=fail_rate,
        skew_seconds=skew_seconds,
        state_file=Path(state_file) if state_file is not None else None,
        hostile=hostile,
        staff_key=staff_key,
        staff_secret=staff_secret,
    )
    httpd = _HTTPServer((host, port), sim)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="voxsim")
    thread.start()
    return SimServer(httpd, thread)


__all__ = ["SimServer", "start"]
