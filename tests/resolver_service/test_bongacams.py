"""The BongaCams source: its pure rules as tables, then the source against the fake site, its
video server and the fake CDN origin (resolve, every state, failures never offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.settings import ResolverSettings
from resolver_service.sources import _bongacams_site as bonga
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, InvalidArgument
from servicekit.settings import SettingsError
from simlab.fakes.bongacams_site import FakeBongaCams
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.media import VariantSpec

from .sites import FREE, QUICK_RETRY

TINY = {
    "variants": (VariantSpec(320, 180, 20, 200), VariantSpec(160, 90, 20, 100)),
    "segment_duration": 0.5,
    "segment_count": 8,
    "window": 3,
}
UA = "Mozilla/5.0 streamrec-test"

# -- the pure rules ---------------------------------------------------------------------------


def answer(show: str = "public", server: object = "//edge1.bcvcdn.com", **performer: Any) -> Any:
    local = {} if server is None else {"videoServerUrl": server}
    return {
        "status": "success",
        "performerData": {"username": "Alice_X", "showType": show, **performer},
        "localData": local,
    }


@pytest.mark.parametrize(
    ("data", "availability", "reason"),
    [
        (answer(), Availability.ONLINE, ""),
        (answer(show=""), Availability.ONLINE, ""),
        (answer(server=None), Availability.OFFLINE, ""),
        (answer(server=""), Availability.OFFLINE, ""),
        (answer(show="private"), Availability.PRIVATE, ""),
        (answer(show="exclusive"), Availability.PRIVATE, ""),
        (answer(show="group"), Availability.GROUP_SHOW, ""),
        (answer(show="Ticket"), Availability.GROUP_SHOW, ""),
        (answer(show="private", server=None), Availability.PRIVATE, ""),
        (answer(show="vr-show"), Availability.UPSTREAM_ERROR, "UNKNOWN_SHOW"),
        ({"status": "error"}, Availability.NOT_FOUND, ""),
        ({"status": "success"}, Availability.UPSTREAM_ERROR, "NO_PERFORMER_DATA"),
        (None, Availability.UPSTREAM_ERROR, "NOT_JSON"),
        (answer(username="../x"), Availability.UPSTREAM_ERROR, "BAD_USERNAME"),
        (answer(username="mallory"), Availability.UPSTREAM_ERROR, "WRONG_ROOM"),
        (answer(server="https://evil.example"), Availability.UPSTREAM_ERROR, "UNSAFE_MEDIA_URL"),
        (answer(server="//a@evil.example"), Availability.UPSTREAM_ERROR, "UNSAFE_MEDIA_URL"),
        (answer(server="//h.example/x?y"), Availability.UPSTREAM_ERROR, "UNSAFE_MEDIA_URL"),
        (answer(server=["//h"]), Availability.UPSTREAM_ERROR, "UNSAFE_MEDIA_URL"),
    ],
)
def test_amf_answers_map_to_availabilities(
    data: Any, availability: Availability, reason: str
) -> None:
    room = bonga.parse_room_data(data, "alice_x")
    assert room.verdict.availability is availability
    assert room.verdict.reason == reason
    assert (room.video_server != "") is (availability is Availability.ONLINE)


def test_the_canonical_spelling_comes_from_the_answer() -> None:
    room = bonga.parse_room_data(answer(displayName="Alice"), "alice_x")
    assert room.username == "Alice_X" and room.display_name == "Alice"
    assert room.video_server == "edge1.bcvcdn.com"


@pytest.mark.parametrize(
    ("value", "server"),
    [
        ("//edge1.bcvcdn.com", "edge1.bcvcdn.com"),
        ("//EDGE1.bcvcdn.com/", "edge1.bcvcdn.com"),
        ("//127.0.0.1:8080", "127.0.0.1:8080"),
        ("//h:0", None),
        ("//h:70000", None),
        ("//-bad.example", None),
        ("//h.example:80/concat:x", None),
        ("//h.example#x", None),
        ("file:///etc/passwd", None),
        ("///h", None),
        ("//h ex", None),
        (7, None),
    ],
)
def test_video_servers_are_only_hosts(value: object, server: str | None) -> None:
    assert bonga.video_server(value) == server


def test_the_playlist_url_and_its_offline_answers() -> None:
    url = bonga.playlist_url("https", "edge1.bcvcdn.com", "Alice_X")
    assert url == "https://edge1.bcvcdn.com/hls/stream_Alice_X/playlist.m3u8"
    with pytest.raises(InvalidArgument):
        bonga.playlist_url("file", "h", "a")
    assert bonga.playlist_is_offline(404, b"")
    assert bonga.playlist_is_offline(200, b"x" * 25)
    assert not bonga.playlist_is_offline(200, b"#EXTM3U\n" * 4)
    assert not bonga.playlist_is_offline(503, b"x" * 25)


def test_the_amf_request_is_the_sites_own() -> None:
    headers = bonga.amf_headers("https://de.bongacams.net/", "alice")
    assert headers["X-Requested-With"] == "XMLHttpRequest"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Referer"] == "https://de.bongacams.net/alice"
    body = httpx.Request("POST", "http://x/", data=bonga.amf_form("alice")).content.decode()
    assert parse_qs(body) == {"method": ["getRoomData"], "args[]": ["alice", "false"]}


# -- the source against the fakes -------------------------------------------------------------


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as running:
        running.add_stream("alice", token="tok", **TINY)  # type: ignore[arg-type]
        yield running


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeBongaCams]:
    with FakeBongaCams() as running:
        running.add_room("Alice_X", stream_url=origin.url("alice"), display_name="Alice")
        yield running


@pytest.fixture
async def make(site: FakeBongaCams) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(**env: str) -> Resolver:
        settings = ResolverSettings(
            http_timeout=5.0,
            status_cache_ttl=0.0,
            budget=FREE,
            retry=QUICK_RETRY,
            env={
                "BONGACAMS_BASE_URL": site.base_url,
                "BONGACAMS_CDN_SCHEME": "http",
                "BONGACAMS_USER_AGENT": UA,
                **env,
            },
        )
        client = http_client(settings)
        clients.append(client)
        return build_resolver(settings, client)

    yield build
    for client in clients:
        await client.aclose()


async def resolve_error(resolver: Resolver, target: str) -> DomainError:
    with pytest.raises(DomainError) as info:
        await resolver.resolve(target, None, QualityPreference())
    return info.value


async def test_a_public_room_resolves_through_its_video_server(make, site, origin) -> None:
    pref = QualityPreference(height=90, policy=QualityPolicy.EXACT)
    resolved = await make().resolve("bongacams:alice_x", None, pref)
    r = resolved.resolution
    assert r.source == "bongacams" and r.target == "alice_x" and r.username == "Alice_X"
    assert r.media_url == origin.media_url("alice", 1) and r.is_live
    assert r.http_headers == {
        "Referer": "https://bongacams.com/",
        "Origin": "https://bongacams.com",
        "User-Agent": UA,
    }
    assert resolved.person_hint == "bongacams-alice_x"
    amf = site.requests("amf")
    assert len(amf) == 1 and amf[0].method == "POST"
    assert parse_qs(amf[0].body) == {"method": ["getRoomData"], "args[]": ["alice_x", "false"]}
    assert amf[0].headers["x-requested-with"] == "XMLHttpRequest"
    assert amf[0].headers["referer"] == f"{site.base_url}/alice_x"
    playlist = site.requests("playlist")
    assert [p.path for p in playlist] == ["/hls/stream_Alice_X/playlist.m3u8"] * 2


async def test_a_room_url_means_the_room(make) -> None:
    resolved = await make().resolve("https://de.bongacams.com/Alice_X", None, QualityPreference())
    assert resolved.resolution.source == "bongacams"
    assert resolved.resolution.target == "alice_x"


@pytest.mark.parametrize(
    ("room", "availability", "reason"),
    [
        ({"online": False}, "OFFLINE", "CHANNEL_OFFLINE"),
        ({"show_type": "private"}, "PRIVATE", "CHANNEL_PRIVATE"),
        ({"show_type": "exclusive"}, "PRIVATE", "CHANNEL_PRIVATE"),
        ({"show_type": "group"}, "GROUP_SHOW", "CHANNEL_GROUP_SHOW"),
        ({"show_type": "ticket"}, "GROUP_SHOW", "CHANNEL_GROUP_SHOW"),
    ],
)
async def test_every_state_is_told_apart(make, site, room, availability, reason) -> None:
    site.set_room("alice_x", **room)
    resolver = make()
    status = await resolver.channel_status("bongacams:alice_x", None)
    assert status.availability.value == availability and status.method == "amf"
    assert (await resolve_error(resolver, "bongacams:alice_x")).reason == reason
    assert site.request_count("playlist") == 0


async def test_an_unknown_performer_is_not_found(make) -> None:
    resolver = make()
    status = await resolver.channel_status("bongacams:nobody", None)
    assert status.availability is Availability.NOT_FOUND
    assert (await resolve_error(resolver, "bongacams:nobody")).reason == "CHANNEL_NOT_FOUND"


@pytest.mark.parametrize("cdn_offline", ["404", "short"])
async def test_the_cdns_offline_answers_are_offline(make, site, cdn_offline) -> None:
    """amf still names a video server, but the CDN has no stream: 404 or the 25-byte body."""
    site.set_room("alice_x", stream_url="", cdn_offline=cdn_offline)
    error = await resolve_error(make(), "bongacams:alice_x")
    assert error.reason == "CHANNEL_OFFLINE" and "CDN has no stream" in error.message
    assert site.request_count("playlist") == 1


@pytest.mark.parametrize(
    ("fault", "options", "availability", "reason"),
    [
        ("rate_limit", {"retry_after": 30}, "RATE_LIMITED", "RATE_LIMITED"),
        ("challenge", {}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ("challenge", {"status": 503}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ("error", {"status": 502}, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        ("error", {"status": 400}, "UPSTREAM_ERROR", "UPSTREAM_HTTP_400"),
        ("non_json", {}, "UPSTREAM_ERROR", "NOT_JSON"),
    ],
)
async def test_site_failures_are_never_offline(
    make, site, fault, options, availability, reason
) -> None:
    site.set_fault(fault, target="amf", **options)
    status = await make().channel_status("bongacams:alice_x", None)
    assert status.availability.value == availability and status.reason == reason
    if fault == "rate_limit":
        assert status.retry_after == 30


async def test_cdn_failures_are_never_offline(make, site) -> None:
    site.set_fault("rate_limit", target="playlist", retry_after=30)
    assert (await resolve_error(make(), "bongacams:alice_x")).reason == "RATE_LIMITED"
    site.clear_faults()
    site.set_fault("error", target="playlist", status=503)
    assert (await resolve_error(make(), "bongacams:alice_x")).reason == "UPSTREAM_5XX"


async def test_the_cdn_wants_its_referer(make, site) -> None:
    site.set_options(cdn_referer="https://bongacams.example/")
    assert (await resolve_error(make(), "bongacams:alice_x")).reason == "STREAM_FORBIDDEN"
    resolved = await make(BONGACAMS_CDN_REFERER="https://bongacams.example/").resolve(
        "bongacams:alice_x", None, QualityPreference()
    )
    assert resolved.resolution.http_headers["Origin"] == "https://bongacams.example"


@pytest.mark.parametrize(
    "server", ["https://127.0.0.1:1", "//user@127.0.0.1:1", "//127.0.0.1:1/file:x", "//a b"]
)
async def test_a_hostile_video_server_is_refused_before_any_cdn_request(make, site, server) -> None:
    site.set_room("alice_x", video_server_url=server)
    error = await resolve_error(make(), "bongacams:alice_x")
    assert error.reason == "UNSAFE_MEDIA_URL"
    assert site.request_count("playlist") == 0


async def test_an_answer_about_someone_else_is_refused(make, site) -> None:
    site.set_room("alice_x", answer_username="mallory")
    assert (await resolve_error(make(), "bongacams:alice_x")).reason == "WRONG_ROOM"


async def test_the_cookie_goes_to_the_site_and_never_to_the_cdn(make, site) -> None:
    site.set_options(required_cookie="cf_clearance=abc")
    blocked = await make().channel_status("bongacams:alice_x", None)
    assert blocked.availability is Availability.BLOCKED
    resolved = await make(BONGACAMS_COOKIE="cf_clearance=abc").resolve(
        "bongacams:alice_x", None, QualityPreference()
    )
    assert "Cookie" not in resolved.resolution.http_headers
    assert site.requests("amf")[-1].headers["cookie"] == "cf_clearance=abc"


@pytest.mark.parametrize(
    "bad", ["bongacams:", "bongacams:a b", "bongacams:../x", f"bongacams:{'a' * 65}", "bongacams:ü"]
)
async def test_bad_names_are_refused_before_any_request(make, site, bad) -> None:
    resolver = make()
    with pytest.raises(InvalidArgument):
        await resolver.resolve(bad, None, QualityPreference())
    with pytest.raises(InvalidArgument):
        await resolver.channel_status(bad, None)
    assert site.request_count() == 0


@pytest.mark.parametrize(
    "env", [{"BONGACAMS_CDN_SCHEME": "ftp"}, {"BONGACAMS_BASE_URL": "file:///etc"}]
)
async def test_bad_settings_are_refused(make, env) -> None:
    with pytest.raises(SettingsError):
        make(**env)


async def test_batch_status_answers_each_in_order_under_the_site_budget(make, site) -> None:
    site.add_room("bob", online=False)
    site.add_room("cat", show_type="group")
    statuses = await make().batch_channel_status(["alice_x", "nobody", "bob", "cat"], "bongacams")
    assert [s.availability.value for s in statuses] == [
        "ONLINE",
        "NOT_FOUND",
        "OFFLINE",
        "GROUP_SHOW",
    ]
    assert [s.target for s in statuses] == ["alice_x", "nobody", "bob", "cat"]
    assert site.request_count("amf") == 4 and site.request_count("playlist") == 0
