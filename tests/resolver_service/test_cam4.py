"""The CAM4 source: its pure rules as tables, then the source against the fake site and the
fake CDN origin (resolve, every state, a new cdnURL after a break, failures never offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.quality import QualityPreference
from resolver_service.settings import ResolverSettings
from resolver_service.sources import _cam4_site as cam4
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, InvalidArgument
from servicekit.settings import SettingsError
from simlab.fakes.cam4_site import FakeCam4
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.media import VariantSpec

from .sites import FREE, QUICK_RETRY

TINY = {
    "variants": (VariantSpec(320, 180, 20, 200),),
    "segment_duration": 0.5,
    "segment_count": 8,
    "window": 3,
}
UA = "Mozilla/5.0 streamrec-test"

# -- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "data", "availability", "reason"),
    [
        (200, {"online": True}, Availability.ONLINE, ""),
        (200, {"online": False}, Availability.OFFLINE, ""),
        (200, {"online": "yes"}, Availability.UPSTREAM_ERROR, "NO_ONLINE_FLAG"),
        (200, {}, Availability.UPSTREAM_ERROR, "NO_ONLINE_FLAG"),
        (200, None, Availability.UPSTREAM_ERROR, "NOT_JSON"),
        (403, None, Availability.GEO_RESTRICTED, ""),
        (401, None, Availability.UPSTREAM_ERROR, "LOGIN_REQUIRED"),
        (404, None, Availability.NOT_FOUND, ""),
        (410, None, Availability.NOT_FOUND, ""),
        (302, None, Availability.NOT_FOUND, ""),
    ],
)
def test_info_answers(status: int, data: Any, availability: Availability, reason: str) -> None:
    verdict = cam4.read_info(status, data)
    assert verdict.availability is availability and verdict.reason == reason


@pytest.mark.parametrize(
    ("status", "data", "availability", "reason"),
    [
        (200, {"privateStream": True}, Availability.PRIVATE, ""),
        (200, {"privateStream": False}, Availability.ONLINE, ""),
        (200, {}, Availability.ONLINE, ""),
        (200, {"privateStream": "true"}, Availability.UPSTREAM_ERROR, "BAD_ANSWER"),
        (200, None, Availability.UPSTREAM_ERROR, "NOT_JSON"),
        (404, None, Availability.UPSTREAM_ERROR, "UPSTREAM_HTTP_404"),
    ],
)
def test_private_check_answers(
    status: int, data: Any, availability: Availability, reason: str
) -> None:
    verdict = cam4.read_access(status, data)
    assert verdict.availability is availability and verdict.reason == reason


@pytest.mark.parametrize(
    ("status", "data", "availability", "reason", "url"),
    [
        (200, {"cdnURL": "https://cdn.example/m.m3u8"}, "ONLINE", "", "https://cdn.example/m.m3u8"),
        (204, None, "OFFLINE", "", ""),
        (403, None, "GEO_RESTRICTED", "", ""),
        (400, None, "UPSTREAM_ERROR", "UPSTREAM_HTTP_400", ""),
        (200, {}, "UPSTREAM_ERROR", "NO_CDN_URL", ""),
        (200, {"cdnURL": 5}, "UPSTREAM_ERROR", "NO_CDN_URL", ""),
        (200, {"cdnURL": "file:///etc/passwd"}, "UPSTREAM_ERROR", "UNSAFE_MEDIA_URL", ""),
        (200, {"cdnURL": "concat:a|b"}, "UPSTREAM_ERROR", "UNSAFE_MEDIA_URL", ""),
        (200, {"cdnURL": "https://u:p@cdn.example/"}, "UPSTREAM_ERROR", "UNSAFE_MEDIA_URL", ""),
        (200, None, "UPSTREAM_ERROR", "NOT_JSON", ""),
    ],
)
def test_stream_info_answers(
    status: int, data: Any, availability: str, reason: str, url: str
) -> None:
    verdict, cdn_url = cam4.read_stream_info(status, data)
    assert verdict.availability.value == availability and verdict.reason == reason
    assert cdn_url == url


def test_the_urls() -> None:
    assert cam4.info_url("https://hu.cam4.com/", "al") == (
        "https://hu.cam4.com/rest/v1.0/profile/al/info"
    )
    assert cam4.stream_url("https://hu.cam4.com", "al").endswith("/profile/al/streamInfo")
    assert cam4.access_url("https://webchat.cam4.com", "al") == (
        "https://webchat.cam4.com/requestAccess?roomname=al"
    )


# -- the source against the fakes -------------------------------------------------------------


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as running:
        running.add_stream("carol", token="one", **TINY)  # type: ignore[arg-type]
        running.add_stream("carol2", token="two", format="cmaf", **TINY)  # type: ignore[arg-type]
        yield running


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeCam4]:
    with FakeCam4() as running:
        running.add_room("carol", cdn_url=origin.url("carol"))
        yield running


@pytest.fixture
async def make(site: FakeCam4) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(**env: str) -> Resolver:
        settings = ResolverSettings(
            http_timeout=5.0,
            status_cache_ttl=0.0,
            budget=FREE,
            retry=QUICK_RETRY,
            env={
                "CAM4_BASE_URL": site.base_url,
                "CAM4_WEBCHAT_URL": site.base_url,
                "CAM4_USER_AGENT": UA,
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


async def test_an_online_room_resolves_to_its_cdn_url(make, site, origin) -> None:
    resolved = await make().resolve("cam4:Carol", None, QualityPreference())
    r = resolved.resolution
    assert r.source == "cam4" and r.target == "carol" and r.username == "carol"
    assert r.media_url == origin.media_url("carol") and r.is_live
    assert r.http_headers == {
        "Referer": "https://www.cam4.com/",
        "Origin": "https://www.cam4.com",
        "User-Agent": UA,
    }
    assert resolved.person_hint == "cam4-carol"
    assert [q.kind for q in site.requests()] == ["info", "access", "streamInfo"]
    assert site.requests("access")[0].path == "/requestAccess?roomname=carol"


async def test_a_room_url_means_the_room(make) -> None:
    resolved = await make().resolve("https://www.cam4.com/carol", None, QualityPreference())
    assert resolved.resolution.source == "cam4" and resolved.resolution.target == "carol"


async def test_a_new_cdn_url_is_picked_up_after_a_break(make, site, origin) -> None:
    """The cdnURL changes each time the room comes back: every resolve asks for it afresh."""
    resolver = make()
    first = await resolver.resolve("cam4:carol", None, QualityPreference())
    site.set_room("carol", online=False)
    assert (await resolve_error(resolver, "cam4:carol")).reason == "CHANNEL_OFFLINE"
    site.go_live("carol", origin.url("carol2"))
    again = await resolver.resolve("cam4:carol", None, QualityPreference())
    assert first.resolution.media_url == origin.media_url("carol")
    assert again.resolution.media_url == origin.media_url("carol2")
    assert again.resolution.audio_url == origin.audio_url("carol2")
    assert site.request_count("streamInfo") == 2


@pytest.mark.parametrize(
    ("room", "availability", "reason", "asked"),
    [
        ({"online": False}, "OFFLINE", "CHANNEL_OFFLINE", ["info"]),
        ({"private": True}, "PRIVATE", "CHANNEL_PRIVATE", ["info", "access"]),
        ({"geo_blocked": True}, "GEO_RESTRICTED", "CHANNEL_GEO_RESTRICTED", ["info"]),
    ],
)
async def test_every_state_is_told_apart(make, site, room, availability, reason, asked) -> None:
    site.set_room("carol", **room)
    resolver = make()
    status = await resolver.channel_status("cam4:carol", None)
    assert status.availability.value == availability
    assert [q.kind for q in site.requests()] == asked
    assert (await resolve_error(resolver, "cam4:carol")).reason == reason


async def test_online_without_a_stream_is_offline_at_resolve(make, site) -> None:
    site.set_room("carol", cdn_url="")
    resolver = make()
    assert (await resolver.channel_status("cam4:carol", None)).is_online
    error = await resolve_error(resolver, "cam4:carol")
    assert error.reason == "CHANNEL_OFFLINE" and "204" in error.message


async def test_an_unknown_user_is_not_found(make) -> None:
    resolver = make()
    assert (await resolver.channel_status("cam4:nobody", None)).availability.value == "NOT_FOUND"
    assert (await resolve_error(resolver, "cam4:nobody")).reason == "CHANNEL_NOT_FOUND"


async def test_a_login_wall_is_not_a_missing_user(make, site) -> None:
    site.set_options(login_wall=True)
    status = await make().channel_status("cam4:carol", None)
    assert status.availability is Availability.UPSTREAM_ERROR
    assert status.reason == "LOGIN_REQUIRED"


@pytest.mark.parametrize(
    ("fault", "target", "options", "availability", "reason"),
    [
        ("rate_limit", "info", {"retry_after": 30}, "RATE_LIMITED", "RATE_LIMITED"),
        ("rate_limit", "access", {"retry_after": 30}, "RATE_LIMITED", "RATE_LIMITED"),
        ("challenge", "info", {}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ("challenge", "access", {"status": 503}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ("error", "info", {"status": 502}, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        ("error", "access", {"status": 500}, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        ("non_json", "info", {}, "UPSTREAM_ERROR", "NOT_JSON"),
        ("non_json", "access", {}, "UPSTREAM_ERROR", "NOT_JSON"),
    ],
)
async def test_site_failures_are_never_offline(
    make, site, fault, target, options, availability, reason
) -> None:
    site.set_fault(fault, target=target, **options)
    status = await make().channel_status("cam4:carol", None)
    assert status.availability.value == availability and status.reason == reason


async def test_stream_info_failures_are_never_offline(make, site) -> None:
    site.set_fault("rate_limit", target="streamInfo", retry_after=30)
    error = await resolve_error(make(), "cam4:carol")
    assert error.reason == "RATE_LIMITED" and error.metadata["retry_after_seconds"] == "30"
    site.clear_faults()
    site.set_fault("challenge", target="streamInfo")
    assert (await resolve_error(make(), "cam4:carol")).reason == "BLOCKED_BY_CHALLENGE"


async def test_a_hostile_cdn_url_never_reaches_a_request(make, site, origin) -> None:
    site.set_room("carol", cdn_url="file:///etc/passwd")
    assert (await resolve_error(make(), "cam4:carol")).reason == "UNSAFE_MEDIA_URL"
    before = origin.request_count("carol")
    site.set_room("carol", cdn_url="http://127.0.0.1:1/x.m3u8")
    assert (await resolve_error(make(), "cam4:carol")).reason == "UPSTREAM_UNREACHABLE"
    assert origin.request_count("carol") == before


async def test_the_cookie_goes_to_the_site_and_never_to_the_cdn(make, site) -> None:
    site.set_options(required_cookie="cf_clearance=abc")
    assert (await make().channel_status("cam4:carol", None)).availability is Availability.BLOCKED
    resolved = await make(CAM4_COOKIE="cf_clearance=abc").resolve(
        "cam4:carol", None, QualityPreference()
    )
    assert "Cookie" not in resolved.resolution.http_headers


@pytest.mark.parametrize("bad", ["cam4:", "cam4:a b", "cam4:../x", f"cam4:{'a' * 65}", "cam4:ü"])
async def test_bad_names_are_refused_before_any_request(make, site, bad) -> None:
    resolver = make()
    with pytest.raises(InvalidArgument):
        await resolver.resolve(bad, None, QualityPreference())
    with pytest.raises(InvalidArgument):
        await resolver.channel_status(bad, None)
    assert site.request_count() == 0


@pytest.mark.parametrize(
    "env",
    [
        {"CAM4_WEBCHAT_URL": "ftp://x"},
        {"CAM4_BASE_URL": "/etc"},
        {"CAM4_CDN_REFERER": "javascript:x"},
    ],
)
async def test_bad_settings_are_refused(make, env) -> None:
    with pytest.raises(SettingsError):
        make(**env)


async def test_batch_status_answers_each_in_order(make, site) -> None:
    site.add_room("dan", online=False)
    site.add_room("eva", private=True)
    statuses = await make().batch_channel_status(["carol", "nobody", "dan", "eva"], "cam4")
    assert [s.availability.value for s in statuses] == [
        "ONLINE",
        "NOT_FOUND",
        "OFFLINE",
        "PRIVATE",
    ]
    assert site.request_count("streamInfo") == 0
