"""The Stripchat source against the fake site (and a fake CDN): status per model and in bulk,
renames, 418 and 429, the page fallback, the id cache, TLD rotation and resolving."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.quality import QualityPreference
from resolver_service.relay import PlaylistRelay
from resolver_service.settings import ResolverSettings
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError
from servicekit.settings import SettingsError
from simlab.fakes.stripchat_cdn import StripchatCdn
from simlab.fakes.stripchat_site import FakeStripchat

from .sites import FREE, QUICK_RETRY

A = Availability
UA = "Mozilla/5.0 streamrec-test"


def stripchat_env(site: FakeStripchat, cdn: StripchatCdn, **options: object) -> dict[str, str]:
    """``STRIPCHAT_*`` for the fake site (ids on the same host) and its fake CDN (the key found
    in its player script); options become variables."""
    env = {
        "STRIPCHAT_BASE_URL": site.base_url,
        "STRIPCHAT_IDS_BASE_URL": site.base_url,
        "STRIPCHAT_IMAGE_BASE_URL": site.base_url,
        "STRIPCHAT_MASTER_URL_TEMPLATE": cdn.master_template,
        "STRIPCHAT_PLAYER_URL": cdn.player_url,
        "STRIPCHAT_USER_AGENT": UA,
    }
    for key, value in options.items():
        env[f"STRIPCHAT_{key.upper()}"] = str(value)
    return env


RELAY_PREFIX = "http://127.0.0.1:"


@pytest.fixture
def site() -> Iterator[FakeStripchat]:
    with FakeStripchat() as running:
        running.add_room("Alice", id=501, viewers=42, topic="hello")
        yield running


@pytest.fixture
def cdn(site: FakeStripchat) -> Iterator[StripchatCdn]:
    with StripchatCdn(site=site.base_url) as running:
        yield running


@pytest.fixture
async def relay() -> AsyncIterator[PlaylistRelay]:
    async with PlaylistRelay() as running:
        yield running


@pytest.fixture
async def make(
    site: FakeStripchat, cdn: StripchatCdn, relay: PlaylistRelay
) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(**options: object) -> Resolver:
        settings = ResolverSettings(
            http_timeout=5.0,
            status_cache_ttl=0.0,
            budget=FREE,
            retry=QUICK_RETRY,
            env=stripchat_env(site, cdn, **options),
        )
        client = http_client(settings)
        clients.append(client)
        return build_resolver(settings, client, relay)

    yield build
    for client in clients:
        await client.aclose()


async def status(resolver: Resolver, name: str) -> Any:
    return await resolver.channel_status(f"stripchat:{name}", None)


async def test_a_public_model_is_online_with_its_details(make, site) -> None:
    answer = await status(make(), "ALICE")
    assert answer.availability is A.ONLINE and answer.target == "alice"
    assert answer.viewers == 42 and answer.title == "hello" and answer.room_status == "public"
    assert answer.thumbnail_url == f"{site.base_url}/thumbs/1764900000/501"
    request = site.requests("cam")[0]
    assert request.path == "/api/front/v2/models/username/alice/cam"
    assert request.headers["user-agent"] == UA
    assert request.headers["referer"] == f"{site.base_url}/"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "private"}, A.PRIVATE),
        ({"status": "p2p"}, A.PRIVATE),
        ({"status": "virtualPrivate"}, A.PRIVATE),
        ({"status": "p2pVoice"}, A.PRIVATE),
        ({"status": "groupShow"}, A.GROUP_SHOW),
        ({"status": "off"}, A.OFFLINE),
        ({"status": "idle"}, A.OFFLINE),
        ({"cam_active": False}, A.AWAY),
        ({"cam_available": False}, A.AWAY),
        ({"deleted": True}, A.NOT_FOUND),
        ({"geo_banned": True}, A.GEO_RESTRICTED),
    ],
)
async def test_every_model_state_is_told_apart(
    make, site, fields: dict[str, Any], expected: Availability
) -> None:
    site.set_room("alice", **fields)
    assert (await status(make(), "alice")).availability is expected


async def test_an_unknown_model_is_not_found(make, site) -> None:
    answer = await status(make(), "nobody")
    assert answer.availability is A.NOT_FOUND and site.request_count("cam") == 1


async def test_a_renamed_model_is_followed_and_the_status_says_so(make, site, caplog) -> None:
    site.rename("alice", "alice_new")
    with caplog.at_level("INFO", logger="resolver_service.sources.stripchat"):
        answer = await status(make(), "alice")
    assert answer.availability is A.ONLINE and answer.target == "alice"
    assert "renamed to alice_new" in answer.message
    assert [r.path.split("/")[-2] for r in site.requests("cam")] == ["alice", "alice_new"]
    assert any("renamed to alice_new" in r.getMessage() for r in caplog.records)


async def test_a_418_is_blocked_never_offline(make, site) -> None:
    site.set_options(teapot="all")
    answer = await status(make(), "alice")
    assert answer.availability is A.BLOCKED and answer.reason == "BLOCKED_HTTP_418"
    assert "418" in answer.message
    with pytest.raises(DomainError) as info:
        await make().resolve("stripchat:alice", None, QualityPreference())
    assert info.value.reason == "BLOCKED_BY_SITE"


async def test_when_only_the_api_is_blocked_the_profile_page_answers(make, site) -> None:
    site.set_room("alice", status="groupShow")
    site.set_options(teapot="api")
    answer = await status(make(), "alice")
    assert answer.availability is A.GROUP_SHOW and answer.method == "page"
    assert [r.kind for r in site.requests()] == ["cam", "page"]
    site.set_room("alice", status="public")
    assert (await status(make(methods="api"), "alice")).availability is A.BLOCKED


async def test_a_429_is_rate_limited_with_its_retry_after(make, site) -> None:
    site.set_fault("rate_limit", retry_after=30)
    answer = await status(make(), "alice")
    assert answer.availability is A.RATE_LIMITED and answer.retry_after == 30
    assert site.request_count("page") == 0  # a rate limit is an answer: no fallback


async def test_a_batch_learns_ids_once_then_asks_in_bulk(make, site) -> None:
    for name, state in (("bea", "private"), ("cleo", "off"), ("dora", "groupShow")):
        site.add_room(name, status=state)
    resolver = make()
    names = ["stripchat:alice", "stripchat:bea", "stripchat:cleo", "stripchat:dora"]
    first = await resolver.batch_channel_status(names, None)
    assert [s.availability for s in first] == [A.ONLINE, A.PRIVATE, A.OFFLINE, A.GROUP_SHOW]
    assert site.request_count("ids") == 4 and site.request_count("bulk") == 1
    assert site.request_count("cam") == 0
    site.reset_log()
    site.set_room("cleo", status="public")
    second = await resolver.batch_channel_status(names, None)
    assert second[2].availability is A.ONLINE
    assert [r.kind for r in site.requests()] == ["bulk"]


async def test_a_batch_of_250_asks_three_bulk_pages(make, site) -> None:
    names = [f"m{i}" for i in range(250)]
    for name in names:
        site.add_room(name, status="off")
    resolver = make()
    await resolver.batch_channel_status([f"stripchat:{n}" for n in names], None)
    site.reset_log()
    answers = await resolver.batch_channel_status([f"stripchat:{n}" for n in names], None)
    assert all(a.availability is A.OFFLINE for a in answers)
    assert [r.path.count("modelIds") for r in site.requests()] == [100, 100, 50]


async def test_a_batch_asks_renamed_unknown_and_deleted_models_alone(make, site) -> None:
    site.add_room("bea")
    site.add_room("gone")
    resolver = make()
    await resolver.batch_channel_status(["stripchat:bea", "stripchat:gone"], None)
    site.rename("bea", "bea2")
    site.set_room("gone", deleted=True)
    site.reset_log()
    targets = ["stripchat:bea", "stripchat:gone", "stripchat:nobody"]
    answers = await resolver.batch_channel_status(targets, None)
    assert [a.availability for a in answers] == [A.ONLINE, A.NOT_FOUND, A.NOT_FOUND]
    assert "renamed to bea2" in answers[0].message
    assert site.request_count("bulk") == 1 and site.request_count("ids") == 1


async def test_a_rate_limited_bulk_list_is_not_asked_again_model_by_model(make, site) -> None:
    site.add_room("bea")
    resolver = make()
    await resolver.batch_channel_status(["stripchat:alice", "stripchat:bea"], None)
    site.reset_log()
    site.set_fault("rate_limit", target="bulk", retry_after=20)
    answers = await resolver.batch_channel_status(["stripchat:alice", "stripchat:bea"], None)
    assert {a.availability for a in answers} == {A.RATE_LIMITED}
    assert [r.kind for r in site.requests()] == ["bulk"]


async def test_a_broken_bulk_list_falls_back_to_one_call_per_model(make, site) -> None:
    site.add_room("bea", status="private")
    resolver = make()
    await resolver.batch_channel_status(["stripchat:alice", "stripchat:bea"], None)
    site.reset_log()
    site.set_fault("non_json", target="bulk")
    answers = await resolver.batch_channel_status(["stripchat:alice", "stripchat:bea"], None)
    assert [a.availability for a in answers] == [A.ONLINE, A.PRIVATE]
    assert sorted(r.kind for r in site.requests()) == ["bulk", "cam", "cam"]


async def test_a_public_model_resolves_to_decoded_playlists_on_the_relay(
    make, site, cdn: StripchatCdn
) -> None:
    cdn.add_room(501, psch="v2", segment_duration=0.5, window=3)
    resolver = make()
    resolved = await resolver.resolve("stripchat:alice", None, QualityPreference())
    r = resolved.resolution
    assert r.source == "stripchat" and r.username == "Alice" and r.is_live
    assert r.media_url.startswith(RELAY_PREFIX) and r.audio_url is not None
    assert r.http_headers["Referer"] == f"{site.base_url}/"
    assert r.http_headers["Origin"] == site.base_url
    async with httpx.AsyncClient() as http:
        text = (await http.get(r.media_url)).text
    assert "#EXT-X-MOUFLON" not in text and "media.mp4" not in text
    assert f"{cdn.base_url}/media-hls.doppiocdn.com/" in text  # segments: the CDN's own
    assert cdn.count("advert") == 0


async def test_the_master_is_found_on_the_tld_that_serves_it_and_remembered(
    make, site, cdn: StripchatCdn
) -> None:
    cdn.add_room(501, psch="v1", segment_duration=0.5, window=3)
    cdn.down = {"com"}
    resolver = make(cdn_tlds="com,net,org")
    first = await resolver.resolve("stripchat:alice", None, QualityPreference())
    async with httpx.AsyncClient() as http:
        assert "doppiocdn.net/" in (await http.get(first.resolution.media_url)).text
    masters = [r.path.split("/")[1] for r in cdn.log if r.kind == "master"]
    assert masters == ["edge-hls.doppiocdn.com", "edge-hls.doppiocdn.net"]
    cdn.log.clear()
    cdn.down = {"net"}  # the next resolve starts with .net, then moves on to .org
    await resolver.resolve("stripchat:alice", None, QualityPreference())
    masters = [r.path.split("/")[1] for r in cdn.log if r.kind == "master"]
    assert masters == ["edge-hls.doppiocdn.net", "edge-hls.doppiocdn.org"]


async def test_an_advert_fails_the_resolve_with_its_reason(make, site, cdn: StripchatCdn) -> None:
    cdn.add_room(501, psch="v2", segment_duration=0.5, window=3)
    cdn.set_advert(501)
    with pytest.raises(DomainError) as info:
        await make().resolve("stripchat:alice", None, QualityPreference())
    assert info.value.reason == "STRIPCHAT_ADVERT"


async def test_resolving_a_model_that_is_not_public_says_why(make, site) -> None:
    site.set_room("alice", status="private")
    with pytest.raises(DomainError) as info:
        await make().resolve("stripchat:alice", None, QualityPreference())
    assert info.value.reason == "CHANNEL_PRIVATE"


async def test_no_cdn_host_serving_is_an_upstream_error_naming_each(
    make, site, cdn: StripchatCdn
) -> None:
    cdn.add_room(501, psch="v2", segment_duration=0.5, window=3)
    cdn.down = {"com", "net"}
    with pytest.raises(DomainError) as info:
        await make(cdn_tlds="com,net").resolve("stripchat:alice", None, QualityPreference())
    assert info.value.reason == "CDN_UNREACHABLE"
    assert "com: " in info.value.message and "net: " in info.value.message


async def test_the_room_image_is_the_thumbnail(make, site) -> None:
    image = await make().room_image("stripchat:alice", None)
    assert image.data[:2] == b"\xff\xd8"
    assert site.requests("thumb")[0].path == "/thumbs/1764900000/501"


@pytest.mark.parametrize(
    "options",
    [
        {"master_url_template": "https://cdn.example/{tld}/master.m3u8"},
        {"master_url_template": "file:///{id}"},
        {"cdn_tlds": "com,ne t"},
        {"methods": "api,ajax"},
        {"base_url": "ftp://stripchat.com"},
    ],
)
def test_bad_settings_are_refused(make, options: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        make(**options)


async def test_the_id_cache_is_bounded(make, site) -> None:
    for name in ("bea", "cleo"):
        site.add_room(name, status="off")
    resolver = make(id_cache_size=2)
    names = ["stripchat:alice", "stripchat:bea", "stripchat:cleo"]
    await resolver.batch_channel_status(names, None)
    site.reset_log()
    answers = await resolver.batch_channel_status(names, None)
    assert [a.availability for a in answers] == [A.ONLINE, A.OFFLINE, A.OFFLINE]
    assert site.request_count("ids") == 1  # the oldest name was forgotten, asked again
