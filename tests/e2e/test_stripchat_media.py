"""Stripchat's media side end to end: the real resolver (its playlist relay, key discovery)
and recorder record from the fake Stripchat CDN through a test-only source
(``tests/plugins/mouflon_cdn.py``) that hands the master to ``relay_resolution`` as the
Stripchat source does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.stripchat_cdn import StripchatCdn
from simlab.harness import Stack, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cdn() -> Iterator[StripchatCdn]:
    with StripchatCdn() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, cdn: StripchatCdn) -> Iterator[Stack]:
    env = {
        "RESOLVER_PLUGINS": "tests.plugins.mouflon_cdn",
        "MOUFLONTEST_MASTER_TEMPLATE": cdn.master_template,
        "MOUFLONTEST_PLAYER_URL": cdn.player_url,
        "MOUFLONTEST_KEY_RETRY_SECONDS": "1",
        "STATUS_CACHE_TTL": "0",
    }
    with Stack(tmp_path_factory.mktemp("mouflon"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def session(client: httpx.Client, sid: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/sessions/{sid}").json()
    return body


def test_a_key_rotation_mid_show_costs_a_gap_in_the_ledger_and_the_show_goes_on(
    client: httpx.Client, cdn: StripchatCdn, stack: Stack
) -> None:
    cdn.add_room(301, psch="v2", window=3)
    started = client.post("/api/start", json={"target": "mouflontest:room301"})
    assert started.status_code == 201, started.text
    sid = started.json()["session_id"]
    wait_for("media", lambda: session(client, sid)["media_seconds"] >= 4)
    # The CDN moves to a new key; the player script names it only 10 s later, longer than the
    # playlist's window (3 x 2 s): the reloads in between fail, ffmpeg restarts, the relay
    # finds the key once the player has it, and what went by meanwhile is a gap.
    cdn.rotate_key(player_lag=10)
    wait_for("a restart", lambda: session(client, sid)["restarts"] >= 1, timeout=40)
    media_then = session(client, sid)["media_seconds"]
    wait_for("media again", lambda: session(client, sid)["media_seconds"] >= media_then + 4)
    assert session(client, sid)["state"] == "RECORDING"
    stopped = client.post(f"/api/stop/{sid}").json()
    assert cdn.count("advert") == 0
    recordings = client.get("/api/recordings/mouflontest-room301").json()
    files = [r for r in recordings if r["sessionId"] == sid]
    assert files, recordings
    gaps = [g for r in files for g in r["gaps"]]
    assert gaps and all(g["duration"] > 0 for g in gaps), [(r["file"], r["gaps"]) for r in files]
    lost = sum(g["duration"] for g in gaps)
    assert lost <= 10 + 3 * 2 + 6, gaps  # the lag, the window, a reload or two: no more
    for r in files:
        path = stack.output_dir / r["path"]
        assert decode(path).ok and stream_kinds(path) == ["video", "audio"]
    assert stopped["record_path"]


def test_an_advert_is_a_start_that_fails_with_its_reason_and_records_nothing(
    client: httpx.Client, cdn: StripchatCdn, stack: Stack
) -> None:
    cdn.add_room(302, psch="v1")
    cdn.set_advert(302)
    response = client.post("/api/start", json={"target": "mouflontest:room302"})
    assert response.status_code >= 400
    body = response.json()
    assert body["code"] == "STRIPCHAT_ADVERT" and cdn.pkey in str(body), body
    assert cdn.count("advert") == 0
    assert not (stack.output_dir / "mouflontest-room302").exists() or not any(
        (stack.output_dir / "mouflontest-room302").iterdir()
    )


def test_a_key_nobody_can_find_is_a_start_that_fails_naming_the_pkey(
    client: httpx.Client, cdn: StripchatCdn
) -> None:
    cdn.add_room(303, psch="v2")
    new_pkey, _ = cdn.rotate_key(player_lag=3600)  # the player never learns it
    response = client.post("/api/start", json={"target": "mouflontest:room303"})
    body = response.json()
    assert response.status_code >= 400 and body["code"] == "STRIPCHAT_KEY_MISSING", body
    assert new_pkey in str(body)
    assert cdn.count("advert") == 0
