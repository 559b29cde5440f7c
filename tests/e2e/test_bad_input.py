"""Bad input through the whole stack: a clear 4xx, nothing started, nothing crashed."""

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as c:
        yield c


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"detail", "code", "correlation_id"}
    assert body["detail"] and body["correlation_id"] == response.headers["x-request-id"]
    if code:
        assert body["code"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"target": ""}, "EMPTY_TARGET"),
        ({"target": "   "}, "EMPTY_TARGET"),
        ({"target": "file:///etc/passwd"}, "UNSUPPORTED_PROTOCOL"),
        ({"target": "concat:/etc/passwd|/etc/hosts"}, "UNSUPPORTED_PROTOCOL"),
        ({"target": "data:application/x-mpegurl;base64,I0VYVE0zVQ=="}, "UNSUPPORTED_PROTOCOL"),
        ({"target": "not a url nor a username!"}, "INVALID_USERNAME"),
        ({"target": "../etc/passwd"}, None),
        ({"target": "http://127.0.0.1:9/x.m3u8", "person": "../escape"}, "INVALID_PERSON"),
        ({"target": "alice", "source_type": "rtmp"}, "INVALID_ARGUMENT"),
        ({}, "INVALID_ARGUMENT"),
        ({"target": "x" * 5000}, "INVALID_ARGUMENT"),
    ],
)
def test_bad_start_requests_get_a_clear_400_and_start_nothing(client, stack, body, code):
    assert_error(client.post("/api/start", json=body), 400, code)
    assert client.get("/api/status").json() == []
    assert stack.services["recorder_service"].children() == []


def test_malformed_json_is_a_400(client):
    response = client.post(
        "/api/start", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400)


def test_oversized_body_is_refused(client):
    response = client.post("/api/start", json={"target": "a", "name": "x" * 100_000})
    assert_error(response, 413, "BODY_TOO_LARGE")


@pytest.mark.parametrize(
    "path", ["/api/stop/deadbeef0000", "/api/stop/..%2F..", "/api/sessions/nope"]
)
def test_unknown_session_is_a_404(client, path):
    method = client.post if "stop" in path else client.get
    assert_error(method(path), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/streams/sessions/abc/..%2F..%2Fetc%2Fpasswd",
        "/streams/sessions/abc/stream.m3u8",
        "/streams/sessions/..%2Frecords/x.ts",
    ],
)
def test_preview_files_cannot_escape_and_missing_is_404(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert response.json()["correlation_id"]


@pytest.mark.parametrize(
    "header",
    [b"x" * 2048, "caf\xe9\xff".encode("latin-1"), b"<script>alert(1)</script>", b"a b c"],
)
def test_bad_request_id_header_is_replaced_not_logged_raw(client, stack, header):
    response = client.get("/api/status", headers=[(b"X-Request-ID", header)])
    assert response.status_code == 200
    new_id = response.headers["x-request-id"]
    assert new_id.encode() != header and 0 < len(new_id) <= 128
    logs = stack.services["gateway"].log_path.read_bytes()
    assert header not in logs


def test_good_request_id_is_echoed_and_correlation_header_accepted(client):
    assert (
        client.get("/api/status", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"]
        == "abc-1"
    )
    response = client.get("/api/status", headers={"X-Correlation-ID": "corr-2"})
    assert response.headers["x-request-id"] == "corr-2"


def test_bad_last_event_id_is_a_400(client):
    assert_error(client.get("/api/events", headers={"Last-Event-ID": "abc"}), 400, "BAD_EVENT_ID")


def test_ops_routes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    version = client.get("/api/version").json()
    assert set(version) == {"version", "commit", "build_time"}
    assert client.get("/docs").status_code == 200
    assert "/api/start" in client.get("/openapi.json").json()["paths"]


def test_the_watch_list_refuses_duplicates_and_unknown_names_with_clear_errors(client):
    assert (
        client.post("/api/models", json={"username": "ivy", "autoRecord": False}).status_code == 201
    )
    assert_error(client.post("/api/models", json={"username": "IVY"}), 409, "CHANNEL_EXISTS")
    assert_error(
        client.put("/api/models/nobody", json={"retentionDays": 3}), 404, "CHANNEL_NOT_FOUND"
    )
    assert_error(client.delete("/api/models/nobody"), 404, "CHANNEL_NOT_FOUND")
    assert_error(client.post("/api/models", json={"username": "../x"}), 400)
    assert_error(
        client.post("/api/models", json={"username": "jo", "target": "file:///etc/passwd"}),
        400,
        "UNSUPPORTED_PROTOCOL",
    )
    assert_error(client.put("/api/models/ivy", json={"retentionDays": -1}), 400)
    assert [m["username"] for m in client.get("/api/models").json()] == ["ivy"]
    assert client.delete("/api/models/ivy").json() == {
        "username": "ivy",
        "key": "ivy",
        "deleted": True,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/recordings/ivy/..%2F..%2Fstreamrec.db",
        "/api/recordings/ivy/streamrec.db",
        "/api/recordings/..%2F..",
        "/streams/records/ivy/..%2F..%2Fstreamrec.db",
        "/streams/records/..%2F../streamrec.db",
    ],
)
def test_no_recording_name_reaches_outside_the_records_folder(client, path):
    for method in ("GET", "DELETE"):
        response = client.request(method, path)
        assert response.status_code in (400, 404, 405), (method, path, response.status_code)
        assert b"SQLite" not in response.content


def test_an_unknown_recording_is_404(client):
    assert_error(client.get("/api/recordings/ivy/ivy_20260101_000000_0123456789ab.ts"), 404)
    assert_error(client.delete("/api/recordings/ivy/nothing.mp4"), 404, "RECORDING_NOT_FOUND")
    assert client.get("/api/recordings/ivy").json() == []
