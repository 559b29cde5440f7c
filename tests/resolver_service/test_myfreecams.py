"""The MyFreeCams source: the share page's rules as tables, then the source against the fake
site (share pages and preview CDN) and the fake origin, through the real resolver wiring."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import SiteResponse
from resolver_service.sources._myfreecams_site import (
    Preview,
    classify_preview,
    classify_share,
    parse_share_page,
    preview_playlist_url,
    validate_preview,
)
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, InvalidArgument
from servicekit.logs import EcsJsonFormatter
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.media import VariantSpec
from simlab.fakes.myfreecams_site import FakeMyFreeCams, share_page

from .sites import FREE, QUICK_RETRY

TINY = {
    "variants": (VariantSpec(320, 180, 20, 200), VariantSpec(160, 90, 20, 100)),
    "segment_duration": 0.5,
    "segment_count": 8,
    "window": 3,
}
UA = "Mozilla/5.0 streamrec-test"
CARD = (
    '<div class="x campreview" data-cam-preview-server-id-value="{s}" '
    'data-cam-preview-model-id-value="{m}" data-cam-preview-is-wzobs-value="{w}"></div>'
)
TRACKING = '<a href="https://www.myfreecams.com/php/tracking.php?model_id=77&amp;x=1">j</a>'


def answer(status: int, body: str = "", ctype: str = "text/html", **headers: str) -> SiteResponse:
    return SiteResponse(
        status, httpx.Headers({"content-type": ctype, **headers}), body.encode(), "http://x/"
    )


# -- pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "availability", "reason"),
    [
        (answer(200, TRACKING + CARD.format(s=1544, m=77, w="false")), "ONLINE", ""),
        (answer(200, TRACKING), "OFFLINE", ""),
        (answer(404, "<h1>Not Found</h1>"), "NOT_FOUND", ""),
        (answer(429, "slow down", **{"retry-after": "7"}), "RATE_LIMITED", "RATE_LIMITED"),
        (answer(503, "<title>Just a moment...</title>"), "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        (answer(403, "x", **{"cf-mitigated": "challenge"}), "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        (answer(502, "bad gateway"), "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        (answer(403, "<h1>Forbidden</h1>"), "UPSTREAM_ERROR", "UPSTREAM_HTTP_403"),
        # A page that is not a model's (maintenance, a redesign): never "offline".
        (answer(200, "<h1>Down for maintenance</h1>"), "UPSTREAM_ERROR", "NOT_A_SHARE_PAGE"),
        (answer(200, CARD.format(s="1x", m=77, w="true")), "UPSTREAM_ERROR", "BAD_PREVIEW_DATA"),
        (answer(200, CARD.format(s=1, m="-5", w="true")), "UPSTREAM_ERROR", "BAD_PREVIEW_DATA"),
        (answer(200, CARD.format(s=1, m=0, w="true")), "UPSTREAM_ERROR", "BAD_PREVIEW_DATA"),
        (answer(200, CARD.format(s=1, m=7, w="maybe")), "UPSTREAM_ERROR", "BAD_PREVIEW_DATA"),
        (
            answer(200, CARD.format(s="1/../../x", m=7, w="true")),
            "UPSTREAM_ERROR",
            "BAD_PREVIEW_DATA",
        ),
    ],
)
def test_share_page_answers_map_to_availabilities(
    response: SiteResponse, availability: str, reason: str
) -> None:
    lookup = classify_share(response)
    assert (lookup.verdict.availability.value, lookup.verdict.reason) == (availability, reason)
    assert (lookup.preview is not None) == (availability == "ONLINE")
    if availability == "RATE_LIMITED":
        assert lookup.verdict.retry_after == 7


@pytest.mark.parametrize(
    ("html", "card", "model_page"),
    [
        (TRACKING + CARD.format(s=1, m=2, w="true"), True, True),
        # The class among others, single quotes, upper-case attribute names, entities.
        ("<DIV CLASS='a  campreview b' DATA-CAM-PREVIEW-SERVER-ID-VALUE='&#49;'>", True, False),
        ('<div class="campreviews">', False, False),  # a class that merely starts the same
        ('<p>class="campreview" data-cam-preview-server-id-value="9"</p>', False, False),
        ("<!-- <div class='campreview'> -->", False, False),  # a comment is not an element
        ('<a href="/php/tracking.php?model_id=abc">', False, False),
        ('<a href="https://evil.example/php/tracking.php?model_id=1">', False, True),
        ("<div class='campreview'", False, False),  # truncated: nothing read
    ],
)
def test_the_share_page_is_read_as_html_not_as_text(
    html: str, card: bool, model_page: bool
) -> None:
    page = parse_share_page(html)
    assert (page.campreview is not None, page.is_model_page) == (card, model_page)


def test_the_entity_decoded_attribute_is_validated() -> None:
    page = parse_share_page("<div class='campreview' data-cam-preview-server-id-value='&#49;2'>")
    assert page.campreview == {"data-cam-preview-server-id-value": "12"}


def test_the_preview_url_is_built_from_validated_integers() -> None:
    attrs = {
        "data-cam-preview-server-id-value": "1544",
        "data-cam-preview-model-id-value": "0024308977",
        "data-cam-preview-is-wzobs-value": "TRUE",
    }
    preview = validate_preview(attrs)
    assert preview == Preview(server_id=1544, model_id=24308977, wzobs=True)
    assert preview_playlist_url("https://previews.myfreecams.com/", preview) == (
        "https://previews.myfreecams.com/hls/NxServer/1544/"
        "ngrp:mfc_a_124308977.f4v_mobile_mhp1080_previewurl/playlist.m3u8"
    )
    plain = Preview(server_id=3, model_id=5, wzobs=False)
    assert "/NxServer/3/ngrp:mfc_100000005.f4v" in preview_playlist_url("http://h", plain)


@pytest.mark.parametrize(
    ("status", "availability", "reason"),
    [
        (200, "ONLINE", ""),
        (404, "PRIVATE", ""),
        (410, "PRIVATE", ""),
        (403, "UPSTREAM_ERROR", "STREAM_FORBIDDEN"),
        (429, "RATE_LIMITED", "RATE_LIMITED"),
        (500, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        (400, "UPSTREAM_ERROR", "UPSTREAM_HTTP_400"),
    ],
)
def test_preview_playlist_answers(status: int, availability: str, reason: str) -> None:
    verdict = classify_preview(answer(status, "#EXTM3U", "application/vnd.apple.mpegurl"))
    assert (verdict.availability.value, verdict.reason) == (availability, reason)


# -- against the fake site ------------------------------------------------------------------


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as running:
        running.add_stream("mfc_ann", token="tok", format="cmaf", **TINY)  # type: ignore[arg-type]
        yield running


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeMyFreeCams]:
    with FakeMyFreeCams() as running:
        running.add_room(
            "ann", model_id="24308977", server_id="1544", hls_url=origin.url("mfc_ann")
        )
        yield running


@pytest.fixture
async def make(site: FakeMyFreeCams) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(timeout: float = 5.0, **extra: str) -> Resolver:
        env = {
            "MYFREECAMS_SHARE_URL": site.base_url,
            "MYFREECAMS_PREVIEW_URL": site.base_url,
            "MYFREECAMS_USER_AGENT": UA,
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


async def test_an_online_model_resolves_to_her_preview_stream(make, site, origin) -> None:
    pref = QualityPreference(height=90, policy=QualityPolicy.EXACT)
    resolved = await make().resolve("myfreecams:Ann", None, pref)
    r = resolved.resolution
    assert (r.source, r.target, r.username) == ("myfreecams", "ann", "ann")
    assert r.chosen is not None and r.chosen.height == 90
    assert r.media_url.startswith(origin.base_url) and r.audio_url is not None
    assert r.http_headers == {"User-Agent": UA, "Referer": f"{site.base_url}/"}
    assert [q.kind for q in site.requests()] == ["share", "preview"]
    assert site.requests("preview")[0].path == (
        "/hls/NxServer/1544/ngrp:mfc_124308977.f4v_mobile_mhp1080_previewurl/playlist.m3u8"
    )
    assert resolved.person_hint == "myfreecams-ann"


async def test_a_share_or_profile_url_means_the_model(make, site) -> None:
    for url in ("https://share.myfreecams.com/ann", "https://profiles.myfreecams.com/ANN"):
        resolved = await make().resolve(url, None, QualityPreference())
        assert resolved.resolution.target == "ann"


async def test_wzobs_rooms_use_the_a_prefix(make, site) -> None:
    site.set_room("ann", wzobs=True)
    await make().resolve("myfreecams:ann", None, QualityPreference())
    assert "ngrp:mfc_a_124308977." in site.requests("preview")[0].path


@pytest.mark.parametrize(
    ("change", "availability", "kind", "reason"),
    [
        ({"show": "offline"}, "OFFLINE", "FAILED_PRECONDITION", "CHANNEL_OFFLINE"),
        ({"show": "private"}, "PRIVATE", "FAILED_PRECONDITION", "CHANNEL_PRIVATE"),
        ({"server_id": "15;44"}, "UPSTREAM_ERROR", "UNAVAILABLE", "BAD_PREVIEW_DATA"),
        (None, "NOT_FOUND", "NOT_FOUND", "CHANNEL_NOT_FOUND"),
    ],
)
async def test_every_state_is_told_apart(
    make, site, change: dict[str, Any] | None, availability: str, kind: str, reason: str
) -> None:
    if change is None:
        site.remove_room("ann")
    else:
        site.set_room("ann", **change)
    resolver = make()
    status = await resolver.channel_status("myfreecams:ann", None)
    assert status.availability.value == availability and status.source == "myfreecams"
    with pytest.raises(DomainError) as info:
        await resolver.resolve("myfreecams:ann", None, QualityPreference())
    assert (info.value.kind.value, info.value.reason) == (kind, reason)


async def test_status_of_an_online_model_checks_her_preview(make, site) -> None:
    status = await make().channel_status("myfreecams:ann", None)
    assert status.availability is Availability.ONLINE and status.method == "preview"
    assert [q.kind for q in site.requests()] == ["share", "preview"]


@pytest.mark.parametrize(
    ("fault", "availability", "reason"),
    [
        ({"kind": "rate_limit", "retry_after": 30}, "RATE_LIMITED", "RATE_LIMITED"),
        ({"kind": "challenge"}, "BLOCKED", "BLOCKED_BY_CHALLENGE"),
        ({"kind": "error", "status": 500}, "UPSTREAM_ERROR", "UPSTREAM_5XX"),
        ({"kind": "non_json"}, "UPSTREAM_ERROR", "NOT_A_SHARE_PAGE"),
    ],
)
async def test_site_failures_are_never_offline(make, site, fault, availability, reason) -> None:
    site.set_fault(fault.pop("kind"), target="share", **fault)
    status = await make().channel_status("myfreecams:ann", None)
    assert (status.availability.value, status.reason) == (availability, reason)
    assert site.request_count("preview") == 0


async def test_a_failing_preview_cdn_is_an_error_not_private(make, site) -> None:
    site.set_fault("error", target="preview", status=503)
    status = await make().channel_status("myfreecams:ann", None)
    assert (status.availability, status.reason) == (Availability.UPSTREAM_ERROR, "UPSTREAM_5XX")


async def test_a_slow_site_is_an_upstream_timeout(make, site) -> None:
    site.set_fault("slow", delay=2.0)
    status = await make(timeout=0.3).channel_status("myfreecams:ann", None)
    assert status.availability is Availability.UPSTREAM_ERROR


async def test_the_user_agent_and_cookie_are_sent_to_the_site_only(make, site, caplog) -> None:
    site.set_options(required_user_agent_substring="streamrec-test")
    caplog.set_level(logging.DEBUG)
    resolved = await make(MYFREECAMS_COOKIE="sess=s3cr3t").resolve(
        "myfreecams:ann", None, QualityPreference()
    )
    share, preview = site.requests()
    assert share.headers["cookie"] == "sess=s3cr3t" and "cookie" not in preview.headers
    assert "Cookie" not in resolved.resolution.http_headers
    formatter = EcsJsonFormatter("resolver")  # what the services write
    ours = [
        r for r in caplog.records if not r.name.startswith(("tests.", "simlab."))
    ]  # not the fakes'
    logged = "\n".join(formatter.format(r) for r in ours)
    assert "myfreecams.resolve" in logged and "s3cr3t" not in logged
    blocked = await make(MYFREECAMS_USER_AGENT="curl/8").channel_status("myfreecams:ann", None)
    assert blocked.availability is Availability.BLOCKED


@pytest.mark.parametrize(
    "bad",
    ["myfreecams:../x", "myfreecams:", "myfreecams:al ice", "myfreecams:" + "a" * 80,
     "https://share.myfreecams.com/a/b", "myfreecams:x;rm", "myfreecams:ünï"],
)  # fmt: skip
async def test_bad_input_is_refused_before_any_request(make, site, bad: str) -> None:
    resolver = make()
    with pytest.raises(InvalidArgument):
        await resolver.resolve(bad, None, QualityPreference())
    with pytest.raises(InvalidArgument):
        await resolver.channel_status(bad, None)
    assert site.request_count() == 0


def test_the_fake_share_page_escapes_what_a_test_puts_in_it() -> None:
    from simlab.fakes.myfreecams_site import MfcRoom

    page = share_page(MfcRoom("ann", server_id='1" onload="x', model_id="5")).decode()
    parsed = parse_share_page(page)
    assert parsed.campreview is not None
    assert parsed.campreview["data-cam-preview-server-id-value"] == '1" onload="x'
