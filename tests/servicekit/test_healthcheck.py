"""``python -m servicekit.healthcheck`` as Docker runs it: a subprocess against a real
grpc.aio server with health checking (built like the services build theirs) and a tiny HTTP
server, both on 127.0.0.1. Exit 0 healthy, 1 not (with one line on stderr), 2 bad usage."""

from __future__ import annotations

import asyncio
import http.server
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from grpc import aio

from servicekit.grpc_server import GrpcApp, build_server

SERVICE = "streamrec.v1.TestService"
TIMEOUT = 0.5  # what the slow cases pass as --timeout, to keep them fast


@dataclass
class Outcome:
    code: int
    stderr: str
    seconds: float


async def healthcheck(*args: str) -> Outcome:
    """Run the module in a child process (the event loop keeps serving meanwhile)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "servicekit.healthcheck",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert stdout == b"", "the check writes nothing to stdout"
    assert proc.returncode is not None
    return Outcome(proc.returncode, stderr.decode(), time.monotonic() - started)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def grpc_app() -> AsyncIterator[GrpcApp]:
    def register(server: aio.Server) -> None:
        """Health and reflection only: build_server adds both."""

    app = build_server(register, [SERVICE], host="127.0.0.1", port=0)
    await app.server.start()
    await app.set_serving(True)
    try:
        yield app
    finally:
        await app.server.stop(None)


# --- gRPC -------------------------------------------------------------------------------------


async def test_grpc_serving_server_exits_0(grpc_app: GrpcApp) -> None:
    result = await healthcheck("grpc", f"127.0.0.1:{grpc_app.port}")
    assert (result.code, result.stderr) == (0, "")


async def test_grpc_serving_named_service_exits_0(grpc_app: GrpcApp) -> None:
    result = await healthcheck("grpc", f"127.0.0.1:{grpc_app.port}", SERVICE)
    assert (result.code, result.stderr) == (0, "")


async def test_grpc_not_serving_while_draining_exits_1(grpc_app: GrpcApp) -> None:
    await grpc_app.set_serving(False)
    for args in ((), (SERVICE,)):
        result = await healthcheck("grpc", f"127.0.0.1:{grpc_app.port}", *args)
        assert result.code == 1
        assert "NOT_SERVING" in result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")


async def test_grpc_unknown_service_exits_1(grpc_app: GrpcApp) -> None:
    result = await healthcheck("grpc", f"127.0.0.1:{grpc_app.port}", "no.such.Service")
    assert result.code == 1
    assert "NOT_FOUND" in result.stderr


async def test_grpc_nothing_listening_exits_1_quickly() -> None:
    result = await healthcheck("grpc", f"127.0.0.1:{free_port()}")
    assert result.code == 1
    assert "UNAVAILABLE" in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.seconds < 10


async def test_grpc_silent_peer_times_out_and_exits_1() -> None:
    """A listener that never speaks HTTP/2: the check gives up after --timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = await healthcheck("--timeout", str(TIMEOUT), "grpc", f"127.0.0.1:{port}")
    assert result.code == 1
    assert "DEADLINE_EXCEEDED" in result.stderr or "UNAVAILABLE" in result.stderr
    assert result.seconds < 10


# --- HTTP -------------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """/ok 200, /redirect 302 to /ok, /slow sleeps, anything else 503."""

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(TIMEOUT * 4)
        status = 200 if self.path in ("/ok", "/slow") else 503
        body = b'{"status": "ok"}' if status == 200 else b'{"status": "down"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_2xx_exits_0(http_base: str) -> None:
    result = await healthcheck("http", f"{http_base}/ok")
    assert (result.code, result.stderr) == (0, "")


async def test_http_redirect_to_2xx_exits_0(http_base: str) -> None:
    assert (await healthcheck("http", f"{http_base}/redirect")).code == 0


async def test_http_5xx_exits_1(http_base: str) -> None:
    result = await healthcheck("http", f"{http_base}/readyz")
    assert result.code == 1
    assert "HTTP 503" in result.stderr
    assert result.stderr.count("\n") == 1


async def test_http_slow_answer_times_out_and_exits_1(http_base: str) -> None:
    result = await healthcheck("--timeout", str(TIMEOUT), "http", f"{http_base}/slow")
    assert result.code == 1
    assert "timed out" in result.stderr
    assert result.seconds < TIMEOUT * 4 + 5


async def test_http_nothing_listening_exits_1() -> None:
    result = await healthcheck("http", f"http://127.0.0.1:{free_port()}/healthz")
    assert result.code == 1
    assert "refused" in result.stderr.lower()


async def test_http_ignores_proxy_settings(http_base: str, monkeypatch) -> None:
    """A proxy in the container's environment must not capture the loopback check."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    assert (await healthcheck("http", f"{http_base}/ok")).code == 0


async def test_non_http_url_exits_1() -> None:
    result = await healthcheck("http", "file:///etc/passwd")
    assert result.code == 1
    assert "not an http(s) URL" in result.stderr


async def test_bad_usage_exits_2() -> None:
    assert (await healthcheck()).code == 2
    assert (await healthcheck("ping", "127.0.0.1:1")).code == 2
