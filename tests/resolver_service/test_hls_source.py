"""The direct-HLS source against an in-memory CDN (httpx.MockTransport), and the source registry."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import httpx
import pytest

from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.sources import Resolution, Source, get_source, register, registered
from resolver_service.sources.hls import HlsSource, StreamForbidden
from resolver_service.targets import Target, TargetKind, classify_target
from servicekit.errors import ErrorKind, InvalidArgument, NotFound, Unavailable, UpstreamError

from .sites import site_client
from .test_playlist import CMAF_MASTER, LEGACY_MASTER, LLHLS_MEDIA

HOST = "https://cdn.example"
MEDIA = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\ns7.ts\n"
VOD = MEDIA + "#EXT-X-ENDLIST\n"
Route = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeCdn:
    """Serves fixed answers by path and remembers every request."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404, text="no such path")
        return route(request) if callable(route) else route

    def source(self, **kwargs: object) -> HlsSource:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self))
        return HlsSource(site_client(client), **kwargs)  # type: ignore[arg-type]


def playlist(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "application/vnd.apple.mpegurl"})


def redirect(location: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"location": location})


async def resolve(cdn: FakeCdn, url: str, **pref: object) -> Resolution:
    target = classify_target(url, "m3u8")
    return await cdn.source().resolve(target, QualityPreference(**pref))  # type: ignore[arg-type]


async def resolve_error(cdn: FakeCdn, url: str, **pref: object) -> Exception:
    with pytest.raises(Exception) as info:
        await resolve(cdn, url, **pref)
    return info.value


async def test_legacy_master_with_token_resolves_to_the_best_variant() -> None:
    base = "/live-hls/amlst:alice-sd-0123abcd_trns_h264/"
    cdn = FakeCdn(
        {
            base + "playlist.m3u8": playlist(LEGACY_MASTER),
            base + "chunklist_w111_b5128000_t64RlBTOjMwLjA=.m3u8": playlist(MEDIA),
        }
    )
    res = await resolve(cdn, f"{HOST}{base}playlist.m3u8?token=SECRET")
    assert res.source == "hls" and res.is_live
    assert res.media_url == f"{HOST}{base}chunklist_w111_b5128000_t64RlBTOjMwLjA=.m3u8?token=SECRET"
    assert res.chosen is not None and res.chosen.height == 1080
    assert len(res.variants) == 3 and res.audio_url is None and res.http_headers == {}
    # The chosen media playlist was fetched, with the token, to prove it plays.
    assert [r.url.params.get("token") for r in cdn.requests] == ["SECRET", "SECRET"]


async def test_quality_preference_reaches_the_variant_choice() -> None:
    base = "/live-hls/amlst:alice-sd-0123abcd_trns_h264/"
    cdn = FakeCdn(
        {
            base + "playlist.m3u8": playlist(LEGACY_MASTER),
            base + "chunklist_w111_b2628000_t64RlBTOjYwLjA=.m3u8": playlist(MEDIA),
        }
    )
    res = await resolve(cdn, f"{HOST}{base}playlist.m3u8", height=700, policy=QualityPolicy.CLOSEST)
    assert res.chosen is not None and (res.chosen.height, res.chosen.frame_rate) == (720, 60.0)


async def test_cmaf_master_returns_the_default_audio_rendition() -> None:
    base = "/v1/live/origin.bob.42/"
    cdn = FakeCdn(
        {base + "master.m3u8": playlist(CMAF_MASTER), base + "video/1080p60.m3u8": playlist(MEDIA)}
    )
    res = await resolve(cdn, f"{HOST}{base}master.m3u8?token=T1")
    assert res.media_url == f"{HOST}{base}video/1080p60.m3u8?token=T1"
    assert res.audio_url == f"{HOST}{base}audio/main.m3u8?sig=own"


async def test_llhls_master_and_media_with_part_tags() -> None:
    base = "/v1/edge/streams/origin.carol.99/"
    master = (
        "#EXTM3U\n#EXT-X-VERSION:9\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720\n"
        "chunklist_0_video_7_llhls.m3u8?session=5b1f\n"
    )
    cdn = FakeCdn(
        {
            base + "llhls.m3u8": playlist(master),
            base + "chunklist_0_video_7_llhls.m3u8": playlist(LLHLS_MEDIA),
        }
    )
    res = await resolve(cdn, f"{HOST}{base}llhls.m3u8?token=LL")
    assert res.media_url == f"{HOST}{base}chunklist_0_video_7_llhls.m3u8?session=5b1f"
    assert res.is_live


async def test_media_playlist_is_returned_as_is() -> None:
    cdn = FakeCdn({"/vod/index.m3u8": playlist(VOD)})
    res = await resolve(cdn, f"{HOST}/vod/index.m3u8?t=1")
    assert res == Resolution(
        source="hls",
        target=f"{HOST}/vod/index.m3u8?t=1",
        media_url=f"{HOST}/vod/index.m3u8?t=1",
        audio_url=None,
        chosen=None,
        variants=(),
        http_headers={},
        is_live=False,
    )
    assert len(cdn.requests) == 1


async def test_relative_variants_resolve_against_the_redirected_url() -> None:
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow/index.m3u8\n"
    cdn = FakeCdn(
        {
            "/start.m3u8": redirect("https://edge2.example/real/master.m3u8?token=R", 301),
            "/real/master.m3u8": playlist(master),
            "/real/low/index.m3u8": playlist(MEDIA),
        }
    )
    res = await resolve(cdn, f"{HOST}/start.m3u8")
    assert res.media_url == "https://edge2.example/real/low/index.m3u8?token=R"


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "concat:a|b",
        "data:text/plain,x",
        "subfile:,start,0,end,1,,:/x",
        "ftp://x/y",
        "https://u:p@h/",
    ],
)
async def test_redirect_to_a_refused_location_is_rejected(location: str) -> None:
    cdn = FakeCdn({"/m.m3u8": redirect(location)})
    error = await resolve_error(cdn, f"{HOST}/m.m3u8")
    assert isinstance(error, UpstreamError) and error.reason == "UNSAFE_REDIRECT"
    assert len(cdn.requests) == 1


async def test_five_redirects_are_followed_and_six_are_too_many() -> None:
    routes: dict[str, Route] = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(6)}
    routes["/r5"] = playlist(MEDIA)
    assert (await resolve(FakeCdn(routes), f"{HOST}/r0")).media_url == f"{HOST}/r0"
    routes["/r5"] = redirect("/r6")
    routes["/r6"] = playlist(MEDIA)
    error = await resolve_error(FakeCdn(routes), f"{HOST}/r0")
    assert isinstance(error, UpstreamError) and error.reason == "TOO_MANY_REDIRECTS"


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (404, NotFound, "STREAM_NOT_FOUND"),
        (410, NotFound, "STREAM_NOT_FOUND"),
        (401, StreamForbidden, "STREAM_FORBIDDEN"),
        (403, StreamForbidden, "STREAM_FORBIDDEN"),
        (429, Unavailable, "RATE_LIMITED"),
        (500, UpstreamError, "UPSTREAM_5XX"),
        (502, UpstreamError, "UPSTREAM_5XX"),
        (503, UpstreamError, "UPSTREAM_5XX"),
        (400, UpstreamError, "UPSTREAM_HTTP_ERROR"),
        (304, UpstreamError, "UPSTREAM_HTTP_ERROR"),
    ],
)
async def test_http_errors_are_mapped(
    status: int, error_type: type[Exception], reason: str
) -> None:
    cdn = FakeCdn({"/m.m3u8": httpx.Response(status, headers={"retry-after": "30"})})
    error = await resolve_error(cdn, f"{HOST}/m.m3u8?token=SECRET")
    assert type(error) is error_type
    assert isinstance(error, StreamForbidden | NotFound | Unavailable | UpstreamError)
    assert error.reason == reason and error.metadata["http_status"] == str(status)
    assert "SECRET" not in error.message


def test_forbidden_maps_to_permission_denied() -> None:
    assert StreamForbidden("x").kind is ErrorKind.PERMISSION_DENIED


async def test_rate_limit_carries_retry_after() -> None:
    cdn = FakeCdn({"/m.m3u8": httpx.Response(429, headers={"retry-after": "30"})})
    error = await resolve_error(cdn, f"{HOST}/m.m3u8")
    assert isinstance(error, Unavailable) and error.metadata["retry_after_seconds"] == "30"


async def test_expired_token_on_the_variant_is_forbidden() -> None:
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"
    cdn = FakeCdn({"/m.m3u8": playlist(master), "/v.m3u8": httpx.Response(403)})
    error = await resolve_error(cdn, f"{HOST}/m.m3u8?token=OLD")
    assert isinstance(error, StreamForbidden)


@pytest.mark.parametrize(
    ("exception", "reason"),
    [
        (httpx.ConnectTimeout, "UPSTREAM_TIMEOUT"),
        (httpx.ReadTimeout, "UPSTREAM_TIMEOUT"),
        (httpx.PoolTimeout, "UPSTREAM_TIMEOUT"),
        (httpx.ConnectError, "UPSTREAM_UNREACHABLE"),
        (httpx.ReadError, "UPSTREAM_UNREACHABLE"),
        (httpx.RemoteProtocolError, "UPSTREAM_PROTOCOL_ERROR"),
    ],
)
async def test_transport_failures_are_upstream_errors(
    exception: type[httpx.TransportError], reason: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exception("boom https://cdn.example/m.m3u8?token=SECRET", request=request)

    error = await resolve_error(FakeCdn({"/m.m3u8": fail}), f"{HOST}/m.m3u8?token=SECRET")
    assert isinstance(error, UpstreamError) and error.reason == reason
    assert "SECRET" not in error.message


async def test_oversized_body_with_content_length_is_refused() -> None:
    big = "#EXTM3U\n" + "#EXTINF:2,\ns.ts\n" * 200
    cdn = FakeCdn({"/m.m3u8": playlist(big)})
    with pytest.raises(UpstreamError) as info:
        await cdn.source(max_body_bytes=1024).resolve(
            classify_target(f"{HOST}/m.m3u8", None), QualityPreference()
        )
    assert info.value.reason == "PLAYLIST_TOO_LARGE"
    assert info.value.metadata["limit_bytes"] == "1024"


async def test_oversized_streamed_body_without_length_is_refused_early() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b"#EXTM3U\n"
        while True:
            sent += 1
            yield b"#EXTINF:2,\nsegment.ts\n" * 1000

    cdn = FakeCdn({"/m.m3u8": lambda request: httpx.Response(200, content=endless())})
    error = await resolve_error(cdn, f"{HOST}/m.m3u8")
    assert isinstance(error, UpstreamError) and error.reason == "PLAYLIST_TOO_LARGE"
    assert sent < 200  # stopped a little past 2 MiB, not at the end of the stream


@pytest.mark.parametrize(
    ("routes", "reason"),
    [
        (
            {"/m.m3u8": httpx.Response(200, text="<html><title>Just a moment...</title>")},
            "NOT_A_PLAYLIST",
        ),
        (
            {"/m.m3u8": playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n")},
            "EMPTY_MASTER_PLAYLIST",
        ),
        (
            {
                "/m.m3u8": playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"),
                "/v.m3u8": playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nw.m3u8\n"),
            },
            "NOT_A_MEDIA_PLAYLIST",
        ),
        (
            {"/m.m3u8": playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nfile:///etc/passwd\n")},
            "UNSAFE_MEDIA_URL",
        ),
        (
            {"/m.m3u8": playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nconcat:a|b\n")},
            "UNSAFE_MEDIA_URL",
        ),
        (
            {
                "/m.m3u8": playlist(
                    '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="data:,x"\n'
                    '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n'
                ),
                "/v.m3u8": playlist(MEDIA),
            },
            "UNSAFE_MEDIA_URL",
        ),
    ],
)
async def test_unusable_playlists_are_upstream_errors(
    routes: dict[str, Route], reason: str
) -> None:
    error = await resolve_error(FakeCdn(routes), f"{HOST}/m.m3u8")
    assert isinstance(error, UpstreamError) and error.reason == reason


async def test_no_matching_variant_without_fallback() -> None:
    cdn = FakeCdn({"/m.m3u8": playlist(LEGACY_MASTER)})
    error = await resolve_error(
        cdn, f"{HOST}/m.m3u8", height=1440, policy=QualityPolicy.EXACT, fallback=False
    )
    assert isinstance(error, NotFound) and error.reason == "NO_MATCHING_VARIANT"


async def test_configured_headers_are_sent_and_returned_for_ffmpeg() -> None:
    cdn = FakeCdn({"/m.m3u8": playlist(MEDIA)})
    headers = {"User-Agent": "Mozilla/5.0 test", "Referer": "https://site.example/"}
    source = cdn.source(http_headers=headers)
    res = await source.resolve(classify_target(f"{HOST}/m.m3u8", None), QualityPreference())
    assert res.http_headers == headers
    assert cdn.requests[0].headers["user-agent"] == "Mozilla/5.0 test"
    assert cdn.requests[0].headers["referer"] == "https://site.example/"


async def test_username_targets_are_refused() -> None:
    source = FakeCdn({}).source()
    with pytest.raises(InvalidArgument):
        await source.resolve(
            Target("chaturbate", TargetKind.USERNAME, "alice"), QualityPreference()
        )


async def test_logs_are_structured_and_never_carry_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cdn = FakeCdn(
        {"/live/a/m.m3u8": playlist(CMAF_MASTER), "/live/a/video/1080p60.m3u8": playlist(MEDIA)}
    )
    caplog.set_level(logging.DEBUG, logger="resolver_service")
    await resolve(cdn, f"{HOST}/live/a/m.m3u8?token=SECRET")
    await resolve_error(cdn, f"{HOST}/gone.m3u8?token=SECRET")
    records = [r for r in caplog.records if r.name == "resolver_service.sources.hls"]
    assert [getattr(r, "event.outcome") for r in records] == ["success", "failure"]
    assert all(getattr(r, "event.action") == "resolve.hls" for r in records)
    assert getattr(records[0], "url.original") == f"{HOST}/live/a/m.m3u8"
    assert getattr(records[1], "error.type") == "STREAM_NOT_FOUND"
    for record in caplog.records:  # the site client's request lines too
        assert "SECRET" not in record.getMessage()
        assert not any("SECRET" in str(value) for value in vars(record).values())


def test_registry_finds_the_hls_source() -> None:
    assert get_source("hls") is HlsSource
    assert "hls" in registered()


def test_unknown_source_name() -> None:
    with pytest.raises(InvalidArgument) as info:
        get_source("nope")
    assert info.value.reason == "UNKNOWN_SOURCE_TYPE"


def test_register_refuses_a_taken_or_missing_name() -> None:
    class Impostor(Source):
        name: ClassVar[str] = "hls"

        async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
            raise NotImplementedError

    class Nameless(Source):
        async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    with pytest.raises(ValueError, match="lower-case letters and digits"):
        register(Nameless)
    assert get_source("hls") is HlsSource
