"""The fake stripchat.com itself: its answers, the 418 modes, renames and /_control."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simlab.fakes.stripchat_site import FakeStripchat


@pytest.fixture
def site() -> Iterator[FakeStripchat]:
    with FakeStripchat() as running:
        yield running


def test_the_cam_answer_has_every_documented_field(site: FakeStripchat) -> None:
    model = site.add_room("Alice", viewers=4, country="de", topic="hi")
    body = httpx.get(f"{site.base_url}/api/front/v2/models/username/ALICE/cam").json()
    user = body["user"]["user"]
    assert set(user) == {
        "id", "username", "status", "isOnline", "isLive", "isDeleted", "viewersCount",
        "previewUrlThumbBig", "snapshotTimestamp", "country", "broadcastGender",
    }  # fmt: skip
    assert (
        user["id"] == model.id and user["username"] == "Alice" and not body["user"]["isGeoBanned"]
    )
    assert set(body["cam"]) == {"streamName", "isCamActive", "isCamAvailable", "topic",
                                "viewServers"}  # fmt: skip
    by_id = httpx.get(f"{site.base_url}/api/front/v2/models/{model.id}/cam").json()
    assert by_id == body


def test_teapot_modes_and_the_browser_exemption(site: FakeStripchat) -> None:
    model = site.add_room("bob")
    cam = f"{site.base_url}/api/front/v2/models/username/bob/cam"
    site.set_options(teapot="api")
    assert httpx.get(cam).status_code == 418
    assert httpx.get(f"{site.base_url}/api/front/v2/models/{model.id}/cam").status_code == 403
    assert httpx.get(f"{site.base_url}/bob").status_code == 200
    site.set_options(teapot="all", teapot_exempt_user_agent="Firefox/")
    assert httpx.get(f"{site.base_url}/bob").status_code == 418
    assert httpx.get(cam, headers={"User-Agent": "Mozilla/5.0 Firefox/140.0"}).status_code == 200
    assert [r.status for r in site.requests("cam")] == [418, 200]
    with pytest.raises(ValueError):
        site.set_options(teapot="sometimes")


def test_bulk_ids_and_renames(site: FakeStripchat) -> None:
    a = site.add_room("amy", status="private")
    site.add_room("bea", deleted=True)
    bulk = f"{site.base_url}/api/front/models/list"
    listed = httpx.get(bulk, params=[("modelIds[]", str(a.id)), ("modelIds[]", "9")]).json()
    assert [(m["id"], m["status"]) for m in listed["models"]] == [(a.id, "private")]
    too_many = "&".join(f"modelIds[]={i}" for i in range(1, 102))
    assert httpx.get(f"{bulk}?{too_many}").status_code == 400
    assert httpx.get(f"{site.base_url}/api/front/users/user-ids/amy").json() == {"id": a.id}
    assert httpx.get(f"{site.base_url}/api/front/users/user-ids/bea").status_code == 404
    reply = httpx.post(f"{site.base_url}/_control/rename", json={"old": "amy", "new": "amy2"})
    assert reply.json()["renamed"] == {"amy": "amy2"}
    old = httpx.get(f"{site.base_url}/api/front/v2/models/username/amy/cam")
    assert old.status_code == 404
    assert old.json() == {"error": "Model not found", "data": {"newUsername": "amy2"}}
    gone = httpx.get(f"{site.base_url}/api/front/v2/models/username/zed/cam")
    assert gone.json() == {"error": "Not Found"}


def test_the_page_embeds_the_preloaded_state(site: FakeStripchat) -> None:
    site.add_room("cleo", topic="</script><b>")
    page = httpx.get(f"{site.base_url}/cleo").text
    assert "window.__PRELOADED_STATE__ = {" in page and "</script><b>" not in page
    assert httpx.get(f"{site.base_url}/nobody").status_code == 404
