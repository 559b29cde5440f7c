"""The CamSoda source: the react API's rules and the playlist URL as tables, then the source
against the fake site (react API and LL-HLS edge) and the fake origin, through the real
resolver wiring: quality choice and separate audio on the multitrack playlist included."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.playlist import MasterPlaylist, parse_playlist
from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import SiteResponse
from resolver_service.sources._camsoda_site import (
    Stream,
    classify_react,
    playlist_url,
    validate_stream,
)
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, InvalidArgument
from servicekit.logs import EcsJsonFormatter
from servicekit.settings import SettingsError
from simlab.fakes.camsoda_site import FakeCamSoda
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


def react(status: int, body: Any, ctype: str = "application/json", **headers: str) -> SiteResponse:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return SiteResponse(status, httpx.Headers({"content-type": ctype, **headers}), raw, "http://x")


def stream(**fields: Any) -> dict[str, Any]:
    return {"stream": {"edge_servers": [], "private_servers": [], "token": "t", **fields}}


PUBLIC = stream(edge_servers=["edge3-fra.camsoda.com"], stream_name="alice-enc1")


# -- pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "availability", "reason"),
    [
        (react(200, PUBLIC), "ONLINE", ""),
        (react(200, stream(private_servers=["p1"], stream_name="s")), "PRIVATE", ""),
        # A private show is never taken for a public one, edges or not.
        (react(200, stream(private_servers=["p1"], edge_servers=["e"])), "PRIVATE", ""),
        (react(200, stream()), "OFFLINE", ""),
        (react(200, {"error": "No username found."}), "NOT_FOUND", ""),
        (react(404, {"error": "No username found."}), "NOT_FOUND", ""),
        (react(403, "<h1>Forbidden</h1>", "text/html"), "RATE_LIMITED", "RATE_LIMITED"),
        (react(403, {"error": "slow"}), "RATE_LIMITED", "RATE_LIMITED"),
        (react(429, "", **{"retry-after": "9"}), "RATE_LIMITED", "RATE_LIMITED"),
        (
            react(403, "<title>Just a moment...</title>", "text/html"),
            "BLOCKED",
            "BLOCKED_BY_CHALLENGE",
        ),
        (react(200, "{}", **{"cf-mitigated": "challenge"}), "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        (react(503, "down", "text/plain"), "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        (react(404, "<h1>nope</h1>", "text/html"), "UPSTREAM_ERROR", "UPSTREAM_HTTP_404"),
        (react(200, "<html>maintenance</html>", "text/html"), "UPSTREAM_ERROR", "NOT_JSON"),
        (react(200, [1, 2]), "UPSTREAM_ERROR", "NOT_JSON"),
        (react(200, {"user": {}}), "UPSTREAM_ERROR", "NO_STREAM"),
        (react(200, {"error": "Something else"}), "UPSTREAM_ERROR", "NO_STREAM"),
        (react(200, {"stream": {"edge_servers": []}}), "UPSTREAM_ERROR", "NO_STREAM"),
        (react(200, stream(token="")), "UPSTREAM_ERROR", "NO_STREAM"),
        (
            react(200, stream(edge_servers=["evil.example/x?"], stream_name="s")),
            "UPSTREAM_ERROR",
            "BAD_STREAM_DATA",
        ),
        (
            react(200, stream(edge_servers=["e.example"], stream_name="../../etc")),
            "UPSTREAM_ERROR",
            "BAD_STREAM_DATA",
        ),
    ],
)
def test_react_answers_map_to_availabilities(
    response: SiteResponse, availability: str, reason: str
) -> None:
    answer = classify_react(response)
    assert (answer.verdict.availability.value, answer.verdict.reason) == (availability, reason)
    assert (answer.stream is not None) == (availability == "ONLINE")


@pytest.mark.parametrize(
    ("edge", "name", "token"),
    [
        ("edge.example/path", "s", "t"),
        ("user@edge.example", "s", "t"),
        ("edge.example:99999", "s", "t"),
        ("-edge.example", "s", "t"),
        ("", "s", "t"),
        (["edge.example"], "s", "t"),
        ("edge.example", "a/b", "t"),
        ("edge.example", "", "t"),
        ("edge.example", "s?x=1", "t"),
        ("edge.example", "s", ""),
        ("edge.example", "s", "a b"),
        ("edge.example", "s", "x\r\nHost: evil"),
        ("edge.example", "s", None),
        ("edge.example", "s", "t" * 5000),
    ],
)
def test_values_from_the_site_are_validated(edge: Any, name: Any, token: Any) -> None:
    with pytest.raises(ValueError):
        validate_stream(edge, name, token)


def test_the_playlist_url_percent_encodes_the_token() -> None:
    found = validate_stream("Edge3-FRA.camsoda.com:8443", "alice-enc1", "a+b/c=&d%")
    assert found == Stream("edge3-fra.camsoda.com:8443", "alice-enc1", "a+b/c=&d%")
    assert "a+b" not in repr(found)  # the token stays out of logs
    url = playlist_url("https", found)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "edge3-fra.camsoda.com:8443")
    assert parts.path == "/alice-enc1_v1/index.ll.m3u8"
    assert parse_qs(parts.query) == {
        "filter": ["tracks:v4v3v2v1a1a2"],
        "multitrack": ["true"],
        "token": ["a+b/c=&d%"],
    }


# -- against the fake site ------------------------------------------------------------------


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as running:
        running.add_stream("cs_alice", token="otok", format="llhls", **TINY)  # type: ignore[arg-type]
        yield running


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeCamSoda]:
    with FakeCamSoda() as running:
        running.add_room("alice", hls_url=origin.url("cs_alice"), token="tok+en/with=chars")
        yield running


@pytest.fixture
async def make(site: FakeCamSoda) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(timeout: float = 5.0, **extra: str) -> Resolver:
        env = {
            "CAMSODA_BASE_URL": site.base_url,
            "CAMSODA_EDGE_SCHEME": "http",
            "CAMSODA_USER_AGENT": UA,
            **extra,
        }
        settings = ResolverSettings(
            http_timeout=timeout, status_cache_ttl=0.0, budget=FREE, retry=QUICK_RETRY, env=env
        )
        client = http_client(settings)
        clients.append(client)
        return build_resolver(settings, client)

    yield build
    for client in clients:
        await client.aclose()


async def test_a_public_room_resolves_to_video_and_its_default_audio(make, site, origin) -> None:
    pref = QualityPreference(height=90, policy=QualityPolicy.EXACT)
    resolved = await make().resolve("camsoda:Alice", None, pref)
    r = resolved.resolution
    assert (r.source, r.target, r.username) == ("camsoda", "alice", "alice")
    assert r.chosen is not None and r.chosen.height == 90 and len(r.variants) == 2
    assert r.media_url == origin.media_url("cs_alice", 1)
    # Two audio tracks on the multitrack playlist: the DEFAULT one is recorded.
    assert r.audio_url == origin.audio_url("cs_alice")
    assert r.http_headers == {"User-Agent": UA, "Referer": f"{site.base_url}/"}
    assert [q.kind for q in site.requests()] == ["react", "edge"]
    edge = site.requests("edge")[0]
    assert parse_qs(urlsplit(edge.path).query)["token"] == ["tok+en/with=chars"]
    assert resolved.person_hint == "camsoda-alice"


async def test_the_edge_playlist_really_lists_several_audio_tracks(make, site) -> None:
    await make().resolve("camsoda:alice", None, QualityPreference())
    url = site.base_url + site.requests("edge")[0].path
    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    master = parse_playlist(text, url)
    assert isinstance(master, MasterPlaylist)
    assert [a.name for a in master.audio] == ["audio", "a2"]


async def test_the_best_quality_is_chosen_by_default(make, site, origin) -> None:
    r = (
        await make().resolve("https://www.camsoda.com/alice", None, QualityPreference())
    ).resolution
    assert r.chosen is not None and r.chosen.height == 180
    assert r.media_url == origin.media_url("cs_alice", 0)


@pytest.mark.parametrize(
    ("show", "availability", "reason"),
    [
        ("offline", "OFFLINE", "CHANNEL_OFFLINE"),
        ("private", "PRIVATE", "CHANNEL_PRIVATE"),
        (None, "NOT_FOUND", "CHANNEL_NOT_FOUND"),
    ],
)
async def test_every_state_is_told_apart(make, site, show, availability, reason) -> None:
    if show is None:
        site.remove_room("alice")
    else:
        site.set_room("alice", show=show)
    resolver = make()
    status = await resolver.channel_status("camsoda:alice", None)
    assert status.availability.value == availability and status.source == "camsoda"
    with pytest.raises(DomainError) as info:
        await resolver.resolve("camsoda:alice", None, QualityPreference())
    assert info.value.reason == reason
    assert site.request_count("edge") == 0


@pytest.mark.parametrize(
    ("fault", "availability", "reason"),
    [
        ({"kind": "rate_limit"}, "RATE_LIMITED", "RATE_LIMITED"),
        ({"kind": "challenge"}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ({"kind": "challenge", "status": 503}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ({"kind": "error", "status": 502}, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        ({"kind": "non_json"}, "UPSTREAM_ERROR", "NOT_JSON"),
    ],
)
async def test_site_failures_are_never_offline(make, site, fault, availability, reason) -> None:
    site.set_fault(fault.pop("kind"), target="react", **fault)
    resolver = make()
    status = await resolver.channel_status("camsoda:alice", None)
    assert (status.availability.value, status.reason) == (availability, reason)
    with pytest.raises(DomainError) as info:
        await resolver.resolve("camsoda:alice", None, QualityPreference())
    assert info.value.reason == reason
    assert site.request_count("edge") == 0


async def test_a_403_rate_limit_is_not_retried(make, site) -> None:
    site.set_fault("rate_limit", target="react")
    await make().channel_status("camsoda:alice", None)
    assert site.request_count("react") == 1


async def test_a_hostile_edge_never_gets_a_request(make, site) -> None:
    for edge in ("127.0.0.1:1/x#", "evil.example@127.0.0.1", "127.0.0.1 :80"):
        site.set_room("alice", edge=edge)
        status = await make().channel_status("camsoda:alice", None)
        assert status.reason == "BAD_STREAM_DATA", edge
    site.set_room("alice", edge="", stream_name="../../_control")
    with pytest.raises(DomainError) as info:
        await make().resolve("camsoda:alice", None, QualityPreference())
    assert info.value.reason == "BAD_STREAM_DATA"
    assert site.request_count("edge") == 0 and site.request_count("other") == 0


async def test_an_edge_refusing_the_token_is_a_forbidden_stream(make, site) -> None:
    site.set_room("alice", edge_token="rotated")  # the API hands out a stale token
    with pytest.raises(DomainError) as info:
        await make().resolve("camsoda:alice", None, QualityPreference())
    assert info.value.reason == "STREAM_FORBIDDEN"
    assert [q.status for q in site.requests("edge")] == [403]


async def test_the_cookie_goes_to_the_api_only(make, site, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    resolved = await make(CAMSODA_COOKIE="sess=s3cr3t").resolve(
        "camsoda:alice", None, QualityPreference()
    )
    api, edge = site.requests()
    assert api.headers["cookie"] == "sess=s3cr3t" and "cookie" not in edge.headers
    assert api.headers["user-agent"] == UA
    assert "Cookie" not in resolved.resolution.http_headers
    # What the services write: every record through their formatter (which redacts what
    # libraries such as httpx put in their own lines).
    formatter = EcsJsonFormatter("resolver")
    ours = [
        r for r in caplog.records if not r.name.startswith(("tests.", "simlab."))
    ]  # not the fakes'
    logged = "\n".join(formatter.format(r) for r in ours)
    assert "camsoda.resolve" in logged and "resolve.hls" in logged  # the lines are there
    assert "s3cr3t" not in logged and "tok+en" not in logged and "tok%2Ben" not in logged


async def test_status_answers_unchanged_batches(make, site) -> None:
    site.add_room("bob", show="offline")
    statuses = await make().batch_channel_status(["alice", "bob", "nobody"], "camsoda")
    assert [s.availability for s in statuses] == [
        Availability.ONLINE,
        Availability.OFFLINE,
        Availability.NOT_FOUND,
    ]


@pytest.mark.parametrize(
    "bad",
    ["camsoda:../x", "camsoda:", "camsoda:al ice", "camsoda:" + "a" * 80, "camsoda:x;rm",
     "https://www.camsoda.com/a/b", "https://camsoda.com/", "camsoda:ünï"],
)  # fmt: skip
async def test_bad_input_is_refused_before_any_request(make, site, bad: str) -> None:
    resolver = make()
    with pytest.raises(InvalidArgument):
        await resolver.resolve(bad, None, QualityPreference())
    with pytest.raises(InvalidArgument):
        await resolver.channel_status(bad, None)
    assert site.request_count() == 0


@pytest.mark.parametrize(
    "env",
    [
        {"CAMSODA_EDGE_SCHEME": "ftp"},
        {"CAMSODA_BASE_URL": "file:///etc"},
        {"CAMSODA_TRACK_FILTER": "a b"},
    ],
)
def test_bad_settings_are_refused_at_start(env: dict[str, str]) -> None:
    settings = ResolverSettings(env=env)
    with pytest.raises(SettingsError):
        build_resolver(settings, httpx.AsyncClient())
