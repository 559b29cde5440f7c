"""End to end on Stripchat: gateway -> recorder -> resolver -> fake stripchat.com -> fake CDN
-> ffmpeg; the states told apart through the gateway's status route; the watch list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.stripchat_cdn import StripchatCdn
from simlab.fakes.stripchat_site import FakeStripchat
from simlab.harness import Stack, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[FakeStripchat]:
    with FakeStripchat() as running:
        yield running


@pytest.fixture(scope="module")
def cdn(site: FakeStripchat) -> Iterator[StripchatCdn]:
    with StripchatCdn(site=site.base_url) as running:
        running.down = {"com"}  # .com is down, .net serves: the source must move on
        yield running


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, site: FakeStripchat, cdn: StripchatCdn
) -> Iterator[Stack]:
    env = {
        "STRIPCHAT_BASE_URL": site.base_url,
        "STRIPCHAT_IDS_BASE_URL": site.base_url,
        "STRIPCHAT_IMAGE_BASE_URL": site.base_url,
        "STRIPCHAT_MASTER_URL_TEMPLATE": cdn.master_template,
        "STRIPCHAT_PLAYER_URL": cdn.player_url,  # no key table: the key is discovered
        "STRIPCHAT_CDN_TLDS": "com,net",
        # Nothing may reach the real Chaturbate (the default site) from these tests.
        "CHATURBATE_BASE_URL": "http://127.0.0.1:9",
        "CHATURBATE_THUMBNAIL_BASE_URL": "http://127.0.0.1:9/ri",
        "STATUS_CACHE_TTL": "0",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
        "SITE_BACKOFF": "0.05",
        "SITE_MAX_RETRY_AFTER": "1",
        "AUTORECORD_INTERVAL": "1",
        "AUTORECORD_JITTER": "0",
    }
    with Stack(tmp_path_factory.mktemp("sc"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack, site: FakeStripchat) -> Iterator[httpx.Client]:
    site.clear_faults()
    site.set_options(teapot="off")
    site.reset_log()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def live_model(site: FakeStripchat, cdn: StripchatCdn, name: str, **fields: Any) -> int:
    """A public model whose stream the CDN serves, mouflon v2; returns its id."""
    model = site.add_room(name, viewers=3, **fields)
    cdn.add_room(model.id, psch="v2", window=6, segment_duration=1.0)
    return model.id


def wait_recording(client: httpx.Client, sid: str, timeout: float = 20) -> dict[str, Any]:
    def recording() -> dict[str, Any] | None:
        session: dict[str, Any] = client.get(f"/api/sessions/{sid}").json()
        assert session["state"] in ("STARTING", "RECORDING"), session
        return session if session["state"] == "RECORDING" and session["bytes_written"] else None

    result: dict[str, Any] = wait_for("the session to record", recording, timeout, 0.2)
    return result


def test_a_stripchat_username_is_recorded_with_sound(
    client: httpx.Client, site: FakeStripchat, cdn: StripchatCdn, stack: Stack
) -> None:
    ident = live_model(site, cdn, "Alice")
    response = client.post("/api/start", json={"target": "stripchat:alice"})
    assert response.status_code == 201, response.text
    session = response.json()
    wait_recording(client, session["session_id"])
    time.sleep(3)
    stopped = client.post(f"/api/stop/{session['session_id']}").json()
    assert stopped["record_path"].startswith("records/stripchat-alice/"), stopped
    path = stack.output_dir / stopped["record_path"]
    result = decode(path)
    assert result.ok, result.errors
    assert result.seconds >= 2
    assert stream_kinds(path) == ["video", "audio"]
    # .com was tried first and failed; .net served the master; no advert byte was fetched.
    masters = [r.path.split("/")[1] for r in cdn.log if r.kind == "master" and str(ident) in r.path]
    assert masters == ["edge-hls.doppiocdn.com", "edge-hls.doppiocdn.net"]
    assert cdn.count("advert") == 0 and cdn.count("segment") > 0
    assert site.request_count("cam") == 1


def status_of(client: httpx.Client, name: str) -> httpx.Response:
    return client.get(f"/api/model/stripchat:{name}/status")


def test_the_states_are_told_apart(client: httpx.Client, site: FakeStripchat) -> None:
    site.add_room("olga", status="off")
    site.add_room("pia", status="p2p")
    site.add_room("gina", status="groupShow")
    site.add_room("rae", geo_banned=True)
    expected = {"olga": "OFFLINE", "pia": "PRIVATE", "gina": "GROUP_SHOW", "rae": "GEO_RESTRICTED"}
    for name, availability in expected.items():
        response = status_of(client, name)
        assert response.status_code == 200, response.text
        assert response.json()["availability"] == availability
    missing = status_of(client, "nobody_here")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    started = client.post("/api/start", json={"target": "stripchat:pia"})
    assert started.status_code == 409 and started.json()["code"] == "CHANNEL_PRIVATE"


def test_a_renamed_model_is_followed(client: httpx.Client, site: FakeStripchat) -> None:
    site.add_room("vera", status="off")
    site.rename("vera", "vera_new")
    body = status_of(client, "vera").json()
    assert body["availability"] == "OFFLINE" and "renamed to vera_new" in body["message"]


def test_a_418_is_blocked_not_offline(client: httpx.Client, site: FakeStripchat) -> None:
    site.add_room("bella", status="off")
    site.set_options(teapot="all")
    blocked = status_of(client, "bella")
    assert blocked.status_code == 502, blocked.text
    assert "418" in blocked.json()["detail"]
    assert blocked.json()["code"] in ("BLOCKED_HTTP_418", "BLOCKED_HTTP_403")
    started = client.post("/api/start", json={"target": "stripchat:bella"})
    assert started.status_code == 503 and started.json()["code"] == "BLOCKED_BY_SITE"
    assert "418" in started.json()["detail"]
    # Only the API blocked: the profile page still tells.
    site.set_options(teapot="api")
    assert status_of(client, "bella").json()["availability"] == "OFFLINE"


def test_a_rate_limit_is_not_offline(client: httpx.Client, site: FakeStripchat) -> None:
    site.add_room("rita", status="off")
    site.set_fault("rate_limit", retry_after=1)
    limited = status_of(client, "rita")
    assert limited.status_code == 503 and limited.json()["code"] == "RATE_LIMITED"
    site.clear_faults()
    time.sleep(1.2)
    assert status_of(client, "rita").json()["availability"] == "OFFLINE"


@pytest.mark.parametrize(
    "key",
    ["stripchat:a%20b", f"stripchat:{'a' * 65}", "stripchat:%C3%BCnicode", "stripchat:",
     "stripchat:a.b", "nosuchsite:alice"],
)  # fmt: skip
def test_bad_names_get_a_400_and_never_reach_the_site(
    client: httpx.Client, site: FakeStripchat, key: str
) -> None:
    response = client.get(f"/api/model/{key}/status")
    assert response.status_code == 400, response.text
    started = client.post("/api/start", json={"target": key.replace("%20", " ")})
    assert started.status_code in (400, 422), started.text
    assert site.request_count() == 0


def test_the_watch_list_starts_a_model_that_goes_online(
    client: httpx.Client, site: FakeStripchat, cdn: StripchatCdn
) -> None:
    """Watched as ``stripchat:wanda``: a channel of its own, recorded into its own folder."""
    site.add_room("wanda", status="off")
    added = client.post("/api/models", json={"username": "stripchat:wanda", "autoRecord": True})
    assert added.status_code == 201, added.text
    assert added.json()["site"] == "stripchat" and added.json()["key"] == "stripchat:wanda"
    time.sleep(1.5)
    assert not [s for s in client.get("/api/status").json() if "wanda" in str(s)]
    assert site.request_count() > 0  # the watch list asks the fake site, and nothing else
    model = site.get("wanda")
    assert model is not None
    cdn.add_room(model.id, psch="v2", window=6, segment_duration=1.0)
    site.set_room("wanda", status="public")

    def started() -> list[dict[str, Any]]:
        sessions: list[dict[str, Any]] = client.get("/api/status").json()
        return [s for s in sessions if s.get("state") == "RECORDING" and "wanda" in str(s)]

    session = wait_for("the watch list to record wanda", started, 20, 0.3)[0]
    assert session["person"] == "stripchat-wanda", session
    client.post(f"/api/stop/{session['session_id']}")
