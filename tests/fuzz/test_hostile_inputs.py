"""Hostile input through the REST API, case by case: path traversal in every path parameter,
protocol and header injection in targets and names, oversized and deeply nested bodies.

Each case gets its own 4xx with the ``{"detail", "code", "correlation_id"}`` body, starts no
ffmpeg, serves or deletes nothing outside OUTPUT_DIR/records (planted secrets stay put and
never show up in a response) and creates nothing under OUTPUT_DIR outside records/ and
sessions/. Cases tests/e2e/test_bad_input.py already covers are not repeated here.

Targets point at a closed local port, or at a local listener that records the raw requests
it gets and answers 404 (to show what would reach an origin); nothing reaches the internet."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from simlab.harness import Stack
from tests.fuzz.support import (
    SECRET,
    created_outside_media,
    ffmpegs,
    is_error_body,
    offline_env,
    plant,
    secrets,
    tree,
    wait_no_ffmpeg,
)

pytestmark = pytest.mark.e2e

RECORDING = "ivy_20260101_000000_0123456789ab.ts"
BAD_REQUEST_CODES = {
    "INVALID_ARGUMENT",
    "INVALID_USERNAME",
    "INVALID_PERSON",
    "INVALID_FILE_NAME",
    "INVALID_PATH",
    "INVALID_CHANNEL",
    "INVALID_NAME",
    "INVALID_URL",
    "BAD_URL",
    "UNSUPPORTED_PROTOCOL",
    "CONTROL_CHARACTER",
    "BODY_TOO_LARGE",
}
NOT_FOUND_CODES = {
    "NOT_FOUND",
    "SESSION_NOT_FOUND",
    "CHANNEL_NOT_FOUND",
    "RECORDING_NOT_FOUND",
    "FILE_NOT_FOUND",
    "STREAM_NOT_FOUND",
}


# -- a listener standing in for an origin ---------------------------------------------------


@dataclass
class CaptureOrigin:
    """Accepts HTTP connections on loopback, keeps each raw request head, answers 404."""

    server: socket.socket = field(default_factory=socket.socket)
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    self.requests.append(head)
                    conn.sendall(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    pass

    def __enter__(self) -> CaptureOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@pytest.fixture(scope="module")
def origin() -> Iterator[CaptureOrigin]:
    with CaptureOrigin() as running:
        yield running


# -- fixtures and checks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The offline stack, started over planted files (the recorder indexes them at start)."""
    workdir = tmp_path_factory.mktemp("hostile")
    plant(workdir, "ivy", RECORDING)
    with Stack(workdir, env_extra=offline_env()) as running:
        yield running


@pytest.fixture(scope="module")
def planted(stack: Stack) -> list[Path]:
    return secrets(stack.workdir)


@pytest.fixture(scope="module")
def baseline(stack: Stack, planted: list[Path]) -> set[str]:
    return tree(stack.output_dir)


@pytest.fixture(autouse=True)
def nothing_started_nothing_touched(
    stack: Stack, planted: list[Path], baseline: set[str]
) -> Iterator[None]:
    yield
    assert wait_no_ffmpeg(stack, within=2) == [], "ffmpeg started"
    for path in planted:
        assert path.read_bytes() == SECRET, f"{path} changed or went away"
    assert created_outside_media(baseline, tree(stack.output_dir)) == set()
    dead = [n for n, s in stack.services.items() if s.proc.poll() is not None]
    assert not dead, f"services exited: {dead}"


def assert_error(response: httpx.Response, statuses: set[int], codes: set[str]) -> str:
    """One of ``statuses``, the error body with one of ``codes``, the request id; no secret."""
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert SECRET not in response.content
    body = response.json()
    assert is_error_body(body), body
    assert body["correlation_id"] == response.headers["x-request-id"]
    assert body["code"] in codes, body
    code: str = body["code"]
    return code


def raw_request(stack: Stack, method: str, path: str, body: bytes | None = None) -> httpx.Response:
    """Send ``path`` exactly as written (no client-side normalization of ``..`` or ``%2e``)."""
    headers = {"content-type": "application/json"} if body is not None else {}
    with httpx.Client(base_url=stack.base_url, timeout=30) as c:
        request = c.build_request(method, "/", content=body, headers=headers)
        request.url = request.url.copy_with(raw_path=path.encode("ascii"))
        return c.send(request)


# -- path traversal -------------------------------------------------------------------------

#: Path segments, as sent on the wire.
SEGMENTS = {
    "dotdot": "..",
    "dotdot-encoded": "%2e%2e",
    "dotdot-slash-encoded": "%2e%2e%2f",
    "dotdot-backslash": "..%5c",
    "backslash-traversal": "..%5c..%5cwindows%5cwin.ini",
    "absolute": "%2fetc%2fpasswd",
    "absolute-db": "%2e%2e%2f%2e%2e%2fstreamrec.db",
    "nul": "%00",
    "nul-suffix": "ivy%00",
    "nul-before-ext": "secret%00.ts",
    "dotdot-nul": "..%00",
    "double-encoded": "..%252f..%252fsecret.ts",
    "overlong-utf8": "%c0%ae%c0%ae%c0%af",
    "overlong-65": "a" * 65,
    "overlong-5000": "a" * 5000,
}
#: (method, route with {} where the hostile segment goes, body)
PIN = json.dumps({"pinned": True}).encode()
ROUTES = [
    ("GET", "/api/models/{}", None),
    ("PUT", "/api/models/{}", json.dumps({"name": "x"}).encode()),
    ("DELETE", "/api/models/{}", None),
    ("GET", "/api/recordings/{}", None),
    ("GET", "/api/recordings/{}/" + RECORDING, None),
    ("GET", "/api/recordings/ivy/{}", None),
    ("PUT", "/api/recordings/ivy/{}", PIN),
    ("DELETE", "/api/recordings/{}/" + RECORDING, None),
    ("DELETE", "/api/recordings/ivy/{}", None),
    ("GET", "/streams/records/{}/" + RECORDING, None),
    ("GET", "/streams/records/ivy/{}", None),
    ("HEAD", "/streams/records/ivy/{}", None),
    ("GET", "/streams/sessions/{}/stream.m3u8", None),
    ("GET", "/streams/sessions/0123456789ab/{}", None),
    ("POST", "/api/stop/{}", None),
    ("GET", "/api/sessions/{}", None),
]


def _traversal_cases() -> Iterator[object]:
    for method, route, body in ROUTES:
        for name, segment in SEGMENTS.items():
            yield pytest.param(method, route.format(segment), body, id=f"{method} {route}-{name}")


@pytest.mark.parametrize(("method", "path", "body"), list(_traversal_cases()))
def test_path_traversal_is_refused(
    stack: Stack, method: str, path: str, body: bytes | None
) -> None:
    response = raw_request(stack, method, path, body)
    if method == "HEAD":
        assert response.status_code in (400, 404), response.status_code
        return
    assert_error(response, {400, 404}, BAD_REQUEST_CODES | NOT_FOUND_CODES)


def test_the_planted_recording_is_reachable_so_the_refusals_mean_something(
    client: httpx.Client,
) -> None:
    assert client.get(f"/api/recordings/ivy/{RECORDING}").status_code == 200
    assert client.get(f"/streams/records/ivy/{RECORDING}").status_code == 200


# -- protocol injection ---------------------------------------------------------------------

#: Targets no source may take: each is a 400 before anything is fetched or spawned.
REFUSED_TARGETS = [
    "file:/etc/passwd",
    "FILE:///etc/passwd",
    "subfile:,,start,0,end,0,,:/etc/passwd",
    "pipe:0",
    "fd:0",
    "tcp://127.0.0.1:9",
    "udp://127.0.0.1:9",
    "rtmp://127.0.0.1/live/x",
    "rtsp://127.0.0.1/x",
    "ftp://127.0.0.1/x.m3u8",
    "gopher://127.0.0.1/x",
    "unix:/tmp/x.sock",
    "hls+http://127.0.0.1:9/x.m3u8",
    "hls+file:///etc/passwd",
    "crypto+file:///etc/passwd",
    "cache:file:/etc/passwd",
    "async:file:/etc/passwd",
    "javascript:alert(1)",
    " file:/etc/passwd",
    "\tfile:/etc/passwd",
    "./x.m3u8",
    "C:\\x.m3u8",
    "\\\\server\\share\\x.m3u8",
    "http:///etc/passwd",
    "http:/etc/passwd",
    "https://",
    "http://[::1/x.m3u8",
    "{origin}/a.m3u8\r\nX-Injected: 1",
    "{origin}/a.m3u8\nX-Injected: 1",
    "http://127.0.0.1:9\r\nHost: evil.example/x.m3u8",
    "alice\nbob",
    "alice\x00",
]
#: Not repeated for /api/start: test_bad_input has them.
MODELS_ONLY = ["concat:/etc/passwd|/etc/hosts", "data:application/x-mpegurl;base64,I0VYVE0zVQ=="]


@pytest.mark.parametrize("target", REFUSED_TARGETS)
def test_start_refuses_an_injected_target(
    client: httpx.Client, origin: CaptureOrigin, target: str
) -> None:
    seen = len(origin.requests)
    body = {"target": target.replace("{origin}", origin.url), "person": "inject"}
    assert_error(client.post("/api/start", json=body), {400}, BAD_REQUEST_CODES)
    assert len(origin.requests) == seen, "the origin was asked"


@pytest.mark.parametrize("target", REFUSED_TARGETS + MODELS_ONLY)
def test_the_watch_list_refuses_an_injected_target(
    client: httpx.Client, origin: CaptureOrigin, target: str
) -> None:
    body: dict[str, object] = {
        "username": "inject",
        "target": target.replace("{origin}", origin.url),
        "autoRecord": False,
    }
    assert_error(client.post("/api/models", json=body), {400}, BAD_REQUEST_CODES)
    assert client.get("/api/models/inject").status_code == 404
    # Changing a channel's target is checked the same way.
    created = client.post("/api/models", json={"username": "inject2", "autoRecord": False})
    assert created.status_code == 201, created.text
    try:
        changed = client.put("/api/models/inject2", json={"target": body["target"]})
        assert_error(changed, {400}, BAD_REQUEST_CODES)
        assert client.get("/api/models/inject2").json()["target"] == ""
    finally:
        client.delete("/api/models/inject2")


#: Valid http URLs with something odd in the path, query or fragment: ffmpeg would read each
#: as one http URL (the "|" of concat: means nothing outside concat:). They must stay plain
#: http requests to the origin: one request line, no header of the caller's making.
ODD_HTTP_TARGETS = [
    "{origin}/a.m3u8|file:/etc/passwd",
    "{origin}/a.m3u8%0d%0aX-Injected:%201",
    "{origin}/a.m3u8?x=%0d%0aX-Injected:%201",
    "{origin}/a.m3u8?u=file:/etc/passwd",
    "{origin}/a.m3u8#concat:/etc/passwd",
]


@pytest.mark.parametrize("target", ODD_HTTP_TARGETS)
def test_an_odd_http_target_stays_one_plain_request(
    client: httpx.Client, origin: CaptureOrigin, target: str
) -> None:
    seen = len(origin.requests)
    url = target.replace("{origin}", origin.url)
    response = client.post("/api/start", json={"target": url, "person": "odd"})
    # The listener has no such playlist: a 4xx, like any stream that is not there.
    assert_error(response, {400, 404}, BAD_REQUEST_CODES | NOT_FOUND_CODES)
    assert len(origin.requests) > seen, "the resolver never asked the origin"
    for head in origin.requests[seen:]:
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"GET /a.m3u8") and lines[0].endswith(b" HTTP/1.1"), lines[0]
        assert b"\n" not in lines[0] and b"\r" not in lines[0]
        assert not any(line.lower().startswith(b"x-injected") for line in lines), head
    # The watch list keeps such a target as it was sent, for the resolver to check at start.
    created = client.post(
        "/api/models", json={"username": "odd", "target": url, "autoRecord": False}
    )
    assert created.status_code == 201, created.text
    assert created.json()["target"] == url
    assert client.delete("/api/models/odd").status_code == 200


CONTROL_NAMES = [
    "a\r\nX-Injected: 1",
    "a\nb",
    "a\rb",
    "a\x00b",
    "\x1b[2J\x1b]0;pwned\x07",
    "\u202eevil",
]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_control_characters_in_names_are_refused(client: httpx.Client, name: str) -> None:
    # A username target and a dead site: only the name can make this a 400.
    started = client.post("/api/start", json={"target": "alice", "name": name})
    assert assert_error(started, {400}, BAD_REQUEST_CODES) == "INVALID_NAME"
    person = client.post("/api/start", json={"target": "alice", "person": name})
    assert_error(person, {400}, BAD_REQUEST_CODES)
    model = {"username": "named", "name": name, "autoRecord": False}
    assert_error(client.post("/api/models", json=model), {400}, BAD_REQUEST_CODES)
    assert client.post("/api/models", json={"username": "named", "autoRecord": False}).is_success
    try:
        changed = client.put("/api/models/named", json={"name": name})
        assert_error(changed, {400}, BAD_REQUEST_CODES)
    finally:
        client.delete("/api/models/named")


@pytest.mark.parametrize(
    "value", ["abc%0d%0aX-Injected:%201", "abc\\r\\nX-Injected: 1", "abc:X-Injected"]
)
def test_header_values_are_not_reflected_as_headers(client: httpx.Client, value: str) -> None:
    response = client.get("/api/status", headers={"X-Request-ID": value, "Idempotency-Key": value})
    assert response.status_code == 200
    assert "x-injected" not in response.headers
    started = client.post(
        "/api/start", json={"target": "file:/etc/passwd"}, headers={"Idempotency-Key": value}
    )
    assert_error(started, {400}, BAD_REQUEST_CODES)
    assert "x-injected" not in started.headers


# -- oversized and deep bodies --------------------------------------------------------------

BODY_ROUTES = [
    ("POST", "/api/start"),
    ("POST", "/api/models"),
    ("PUT", "/api/models/ivy"),
    ("PUT", f"/api/recordings/ivy/{RECORDING}"),
    ("POST", "/api/cleanup"),
]
BODIES = {
    "1MB-json": json.dumps({"target": "alice", "name": "x" * 1_000_000}).encode(),
    "1MB-string": json.dumps("x" * 1_000_000).encode(),
    "100k-array": b"[" + b"0," * 99_999 + b"0]",
    "100k-array-in-target": b'{"target":[' + b"0," * 99_999 + b"0]}",
    "20k-array-under-cap": b"[" + b"0," * 19_999 + b"0]",
    "nested-arrays-20k": b"[" * 20_000 + b"]" * 20_000,
    "nested-objects-8k": b'{"target":' + b'{"a":' * 8_000 + b"1" + b"}" * 8_001,
    "nested-quality-15k": b'{"target":"alice","quality":' + b"[" * 15_000 + b"]" * 15_000 + b"}",
    "many-keys": json.dumps({f"k{i}": i for i in range(5_000)}).encode(),
}


@pytest.mark.parametrize("body_name", list(BODIES))
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_oversized_and_deep_bodies_are_refused(
    client: httpx.Client, method: str, path: str, body_name: str
) -> None:
    response = client.request(
        method, path, content=BODIES[body_name], headers={"content-type": "application/json"}
    )
    code = assert_error(response, {400, 413}, BAD_REQUEST_CODES | {"HTTP_ERROR"})
    if len(BODIES[body_name]) > 64 * 1024:
        assert (response.status_code, code) == (413, "BODY_TOO_LARGE")


def test_a_chunked_body_over_the_cap_is_refused(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"target":"alice","name":"'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    response = client.post(
        "/api/start", content=chunks(), headers={"content-type": "application/json"}
    )
    # No Content-Length to refuse up front: the cap trips while FastAPI reads the body, and
    # FastAPI turns any error while reading into its own 400.
    assert_error(response, {400, 413}, {"BODY_TOO_LARGE", "HTTP_ERROR"})


def test_after_all_of_it_the_stack_is_fine(stack: Stack, client: httpx.Client) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/status", params={"all": "true"}).json() == []
    assert ffmpegs(stack) == []
