"""Prometheus metrics on every service, after real work went through them: the numbers
move, the label sets stay bounded, and `promtool check metrics` accepts each exposition."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory, origin: HlsOrigin) -> Iterator[Stack]:
    """A stack that recorded a few seconds and answered a few errors."""
    with (
        Stack(tmp_path_factory.mktemp("metrics")) as stack,
        httpx.Client(base_url=stack.base_url, timeout=30) as client,
    ):
        origin.add_stream("metered", window=6)
        session = client.post("/api/start", json={"target": origin.url("metered")}).json()
        sid = session["session_id"]
        end = time.monotonic() + 20
        while client.get(f"/api/sessions/{sid}").json()["media_seconds"] < 4:
            assert time.monotonic() < end
            time.sleep(0.2)
        client.post(f"/api/stop/{sid}")
        client.get("/api/sessions/nope0000")
        client.post("/api/start", json={"target": "file:///etc/passwd"})
        client.post("/api/cleanup")
        yield stack


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (any labels)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"{name} not exposed"
    return total


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make test` installs Debian's prometheus package"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_recorder_metrics_count_the_session_and_pass_promtool(worked: Stack) -> None:
    text = scrape(f"http://127.0.0.1:{worked.recorder_metrics_port}/metrics")
    assert value(text, "streamrec_sessions_started_total") >= 1
    assert value(text, "streamrec_sessions_ended_total") >= 1
    assert value(text, "streamrec_recorded_bytes_total") > 100_000
    assert value(text, "streamrec_recorded_media_seconds_total") >= 4
    assert value(text, "streamrec_disk_free_bytes") > 0
    assert 'streamrec_sessions{state="recording"}' in text
    assert "streamrec_grpc_server_handling_seconds_bucket" in text
    assert 'grpc_method="StartRecording"' in text and 'grpc_code="INVALID_ARGUMENT"' in text
    assert value(text, "streamrec_autorecord_cycles_total") >= 1
    # No channel, person or file name in any label.
    assert "metered" not in text
    promtool_check(text)


def test_resolver_metrics_count_calls_and_upstream_requests(worked: Stack) -> None:
    text = scrape(f"http://127.0.0.1:{worked.resolver_metrics_port}/metrics")
    assert 'streamrec_resolver_calls_total{call="resolve",outcome="ok",source="hls"}' in text
    assert value(text, "streamrec_upstream_requests_total") >= 1
    assert "streamrec_budget_wait_seconds_bucket" in text
    assert "metered" not in text
    promtool_check(text)


def test_gateway_metrics_use_route_templates(worked: Stack) -> None:
    text = scrape(f"{worked.base_url}/metrics")
    assert 'route="/api/sessions/{session_id}"' in text and 'status="404"' in text
    assert 'route="/api/start"' in text
    assert "nope0000" not in text
    promtool_check(text)
