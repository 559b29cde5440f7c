"""End to end with a username: gateway -> recorder -> resolver -> fake chaturbate.com -> fake
CDN -> ffmpeg, and the seed's GET /api/model/{username}/status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {
        "CHATURBATE_BASE_URL": site.base_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{site.base_url}/ri",
        "STATUS_CACHE_TTL": "0",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
        "SITE_BACKOFF": "0.05",
        "SITE_MAX_RETRY_AFTER": "1",
    }
    with Stack(tmp_path_factory.mktemp("cb"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack, site: FakeChaturbate) -> Iterator[httpx.Client]:
    site.clear_faults()
    site.set_options(ajax_csrf_required=False)
    site.reset_log()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def cmdline(pid: int) -> str:
    """A process's command line ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def wait_recording(client: httpx.Client, sid: str, timeout: float = 20) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        session: dict[str, Any] = client.get(f"/api/sessions/{sid}").json()
        if session["state"] == "RECORDING" and session["bytes_written"] > 0:
            return session
        assert session["state"] in ("STARTING", "RECORDING"), session
        time.sleep(0.2)
    raise AssertionError("never started recording")


@pytest.mark.parametrize("cdn_format", ["ts", "cmaf", "llhls"])
def test_a_username_is_recorded_from_the_cdn_with_sound(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin, stack: Stack, cdn_format: str
) -> None:
    """Legacy TS, CMAF with a separate audio rendition, and LL-HLS: video and audio."""
    name = f"dana_{cdn_format}"
    origin.add_stream(name, token="t0k", window=6, format=cdn_format)
    site.add_room(name, hls_url=origin.url(name), viewers=5, cmaf_edge=cdn_format != "ts")
    response = client.post("/api/start", json={"target": name.upper()})
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["person"] == name
    wait_recording(client, session["session_id"])
    time.sleep(4)
    stopped = client.post(f"/api/stop/{session['session_id']}").json()
    path = stack.output_dir / stopped["record_path"]
    result = decode(path)
    assert result.ok, result.errors
    assert result.seconds >= 3
    assert stream_kinds(path) == ["video", "audio"]
    assert site.request_count("ajax") == 1


def test_model_status_answers_with_the_seed_fields(client: httpx.Client, site) -> None:
    site.add_room("erin", hls_url="http://127.0.0.1:9/x.m3u8", viewers=12, title="hello")
    response = client.get("/api/model/Erin/status", headers={"X-Request-ID": "status-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "erin" and body["isOnline"] is True
    assert body["viewers"] == 12 and body["roomStatus"] == "public"
    assert body["thumbnail"] == f"{site.base_url}/ri/erin.jpg"
    assert body["availability"] == "ONLINE" and body["title"] == "hello"
    assert response.headers["x-request-id"] == "status-1"
    site.set_room("erin", room_status="private")
    body = client.get("/api/model/erin/status").json()
    assert body["isOnline"] is False and body["roomStatus"] == "private"
    assert body["availability"] == "PRIVATE"


def test_status_failures_are_errors_not_offline(client: httpx.Client, site) -> None:
    missing = client.get("/api/model/nobody_here/status")
    assert missing.status_code == 404
    assert missing.json()["code"] == "CHANNEL_NOT_FOUND" and missing.json()["correlation_id"]
    site.add_room("fay")
    site.reset_log()
    site.set_fault("rate_limit", retry_after=3)
    limited = client.get("/api/model/fay/status")
    assert limited.status_code == 503 and limited.json()["code"] == "RATE_LIMITED"
    assert limited.headers["retry-after"] == "3"
    site.clear_faults()
    # The site asked for 3 s of quiet: the resolver holds it, without asking again.
    again = client.get("/api/model/fay/status")
    assert again.status_code == 503 and site.request_count() == 1
    time.sleep(3.2)
    site.set_fault("challenge")
    blocked = client.get("/api/model/fay/status")
    assert blocked.status_code == 502 and blocked.json()["code"] == "BLOCKED_BY_CHALLENGE"


def test_starting_a_channel_that_cannot_be_recorded_says_why(client: httpx.Client, site) -> None:
    site.add_room("gus", room_status="offline")
    offline = client.post("/api/start", json={"target": "gus"})
    assert offline.status_code == 409 and offline.json()["code"] == "CHANNEL_OFFLINE"
    site.set_room("gus", room_status="public", geo_blocked=True, hls_url="http://127.0.0.1:9/")
    geo = client.post("/api/start", json={"target": "gus"})
    assert geo.status_code == 409 and geo.json()["code"] == "CHANNEL_GEO_RESTRICTED"
    missing = client.post("/api/start", json={"target": "nobody_at_all"})
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/model/..%2Fx/status", 404),  # no such route once the path is decoded
        ("/api/model/%2E%2E/status", 400),
        (f"/api/model/{'a' * 65}/status", 400),
        ("/api/model/%C3%BCnicode/status", 400),
        ("/api/model/a%20b/status", 400),
        ("/api/model/a%00b/status", 400),
    ],
)
def test_bad_usernames_get_a_client_error_and_no_site_call(
    client: httpx.Client, site: FakeChaturbate, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] in ("INVALID_ARGUMENT", "NOT_FOUND") and body["correlation_id"]
    assert site.request_count() == 0


@pytest.mark.parametrize("target", ["../x", "a" * 200, "ünicode", "", "x y"])
def test_bad_usernames_never_start_anything(client: httpx.Client, site, target: str) -> None:
    response = client.post("/api/start", json={"target": target, "source_type": "chaturbate"})
    assert response.status_code in (400, 422), response.text
    assert site.request_count() == 0


def test_a_cdn_that_keeps_refusing_ends_the_session_as_failed_with_the_reason(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin, stack: Stack
) -> None:
    """A 403 that a fresh token does not cure (the CDN refuses this viewer): the restart's
    re-resolve hears the refusal, so the session fails at once with the reason instead of
    restarting until its budget is spent, and what was recorded is kept and plays."""
    name = "hana_refused"
    origin.add_stream(name, token="t0k", window=6)
    site.add_room(name, hls_url=origin.url(name), viewers=5)
    session = client.post("/api/start", json={"target": name}).json()
    sid = session["session_id"]
    wait_recording(client, sid)
    time.sleep(2)
    origin.stream(name).set_fault("http_error", status=403, target="all")
    end = time.monotonic() + 30
    while (current := client.get(f"/api/sessions/{sid}").json())["state"] not in (
        "FAILED",
        "STOPPED",
    ):
        assert time.monotonic() < end, current
        time.sleep(0.3)
    assert current["state"] == "FAILED", current
    assert "403" in current["end_reason"] and "refused" in current["end_reason"], current
    assert "t0k" not in current["end_reason"]  # the CDN token never reaches the API
    assert current["restarts"] == 0, current
    assert site.request_count("ajax") == 2  # the start, and the one re-resolve
    path = stack.output_dir / current["record_path"]
    result = decode(path)
    assert result.ok, result.errors
    assert result.seconds >= 2
    # No ffmpeg of that stream stays (the finished file's poster may be made for a moment).
    wait_for(
        "no ffmpeg of the stream left",
        lambda: (
            not [p for p in stack.services["recorder_service"].descendants() if name in cmdline(p)]
        ),
        15,
    )


def test_model_status_takes_a_site_key_and_refuses_unknown_sites_before_any_request(
    client: httpx.Client, site: FakeChaturbate
) -> None:
    site.add_room("hana", hls_url="http://127.0.0.1:9/x.m3u8", viewers=3)
    for path in (
        "/api/model/chaturbate:hana/status",
        "/api/model/hana/status?site=chaturbate",
        "/api/model/chaturbate:hana/status?site=chaturbate",
    ):
        body = client.get(path).json()
        assert body["availability"] == "ONLINE" and body["site"] == "chaturbate", path
    site.reset_log()
    unknown = client.get("/api/model/nosuchsite:hana/status")
    assert unknown.status_code == 400 and unknown.json()["code"] == "UNKNOWN_SOURCE_TYPE"
    assert unknown.json()["correlation_id"]
    both = client.get("/api/model/chaturbate:hana/status?site=stripchat")
    assert both.status_code == 400 and both.json()["code"] == "SITE_MISMATCH"
    for bad in ("/api/model/Bad:hana/status", "/api/model/hana/status?site=NO!"):
        answer = client.get(bad)
        assert answer.status_code == 400 and answer.json()["code"] == "INVALID_SITE", bad
    assert site.request_count() == 0
