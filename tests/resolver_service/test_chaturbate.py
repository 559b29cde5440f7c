"""The Chaturbate source against the fake site and the fake CDN: resolve, status, fallbacks,
failure classification, the cookie and User-Agent, bulk status, and the request budget."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from resolver_service.budget import BudgetConfig
from resolver_service.core import Resolver
from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import RetryPolicy
from resolver_service.sources.chaturbate import ChaturbateConfig
from resolver_service.status import Availability
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, ErrorKind, InvalidArgument
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.media import VariantSpec

from .sites import FREE, QUICK_RETRY, chaturbate_env

TINY = {
    "variants": (VariantSpec(320, 180, 20, 200), VariantSpec(160, 90, 20, 100)),
    "segment_duration": 0.5,
    "segment_count": 8,
    "window": 3,
}
UA = "Mozilla/5.0 streamrec-test"
# The budget's schedule is exact (test_budget.py); arrival times at the fake also carry the
# event loop's and the server threads' scheduling noise, a few ms at most.
NOISE = 0.05


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as running:
        running.add_stream("alice", token="tok", **TINY)  # type: ignore[arg-type]
        yield running


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        running.add_room("alice", hls_url=origin.url("alice"), viewers=42, title="hi there")
        yield running


@pytest.fixture
async def make(site: FakeChaturbate) -> AsyncIterator[Callable[..., Any]]:
    """Build a real resolver (wiring included) against the fake site; closes its clients."""
    clients: list[httpx.AsyncClient] = []

    def build(
        *,
        budget: BudgetConfig = FREE,
        retry: RetryPolicy = QUICK_RETRY,
        timeout: float = 5.0,
        cache_ttl: float = 0.0,
        **chaturbate: Any,
    ) -> Resolver:
        settings = ResolverSettings(
            http_timeout=timeout,
            status_cache_ttl=cache_ttl,
            budget=budget,
            retry=retry,
            env=chaturbate_env(site.base_url, user_agent=UA, **chaturbate),
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


async def test_a_public_room_resolves_to_its_cdn_stream(make, site, origin) -> None:
    resolver = make()
    pref = QualityPreference(height=90, policy=QualityPolicy.EXACT)
    resolved = await resolver.resolve("Alice", None, pref)
    r = resolved.resolution
    assert r.source == "chaturbate" and r.target == "alice" and r.is_live
    assert r.media_url == origin.media_url("alice", 1)  # 160x90, with the CDN token
    assert r.chosen is not None and r.chosen.height == 90 and len(r.variants) == 2
    assert resolved.person_hint == "alice"
    # ffmpeg gets the browser UA and the site as Referer; the site's cookie stays home.
    assert r.http_headers == {"User-Agent": UA, "Referer": f"{site.base_url}/"}
    assert [q.kind for q in site.requests()] == ["ajax"]
    form = site.requests("ajax")[0].form
    assert form == {"room_slug": "alice", "bandwidth": "high"}


async def test_a_room_url_means_the_room(make, site) -> None:
    resolved = await make().resolve("https://chaturbate.com/alice/", None, QualityPreference())
    assert resolved.resolution.target == "alice"


@pytest.mark.parametrize(
    ("room", "availability", "kind", "reason"),
    [
        ({"room_status": "offline"}, "OFFLINE", "FAILED_PRECONDITION", "CHANNEL_OFFLINE"),
        ({"room_status": "private"}, "PRIVATE", "FAILED_PRECONDITION", "CHANNEL_PRIVATE"),
        ({"room_status": "group"}, "GROUP_SHOW", "FAILED_PRECONDITION", "CHANNEL_GROUP_SHOW"),
        ({"room_status": "away"}, "AWAY", "FAILED_PRECONDITION", "CHANNEL_AWAY"),
        ({"room_status": "hidden"}, "HIDDEN", "FAILED_PRECONDITION", "CHANNEL_HIDDEN"),
        (
            {"password": True},
            "PASSWORD_PROTECTED",
            "FAILED_PRECONDITION",
            "CHANNEL_PASSWORD_PROTECTED",
        ),
        (
            {"password": True, "password_style": "json"},
            "PASSWORD_PROTECTED",
            "FAILED_PRECONDITION",
            "CHANNEL_PASSWORD_PROTECTED",
        ),
        ({"geo_blocked": True}, "GEO_RESTRICTED", "FAILED_PRECONDITION", "CHANNEL_GEO_RESTRICTED"),
    ],
)
async def test_every_room_status_is_told_apart(
    make, site, room: dict[str, Any], availability: str, kind: str, reason: str
) -> None:
    site.set_room("alice", **room)
    resolver = make()
    error = await resolve_error(resolver, "alice")
    assert (error.kind.value, error.reason) == (kind, reason)
    assert error.metadata["availability"] == availability
    for method in ("ajax", "api", "page"):
        status = await make(methods=(method,)).channel_status("alice", None)
        assert status.availability.value == availability, method
        assert status.method == method


async def test_an_unknown_user_is_not_found_through_the_fallback(make, site) -> None:
    site.remove_room("alice")
    error = await resolve_error(make(), "alice")
    assert error.kind is ErrorKind.NOT_FOUND and error.reason == "CHANNEL_NOT_FOUND"
    # ajax says "unsuccessful" (inconclusive), the API's 404 settles it.
    assert [q.kind for q in site.requests()] == ["ajax", "api"]
    status = await make(methods=("page",)).channel_status("alice", None)
    assert status.availability is Availability.NOT_FOUND


async def test_status_carries_viewers_title_and_thumbnail(make, site) -> None:
    status = await make().channel_status("alice", None)
    assert status.availability is Availability.ONLINE and status.room_status == "public"
    assert (status.viewers, status.title, status.method) == (42, "hi there", "api")
    assert status.thumbnail_url == f"{site.base_url}/ri/alice.jpg"
    site.set_room("alice", viewers_field="num_viewers", viewers=7)
    for method in ("api", "page"):
        status = await make(methods=(method,)).channel_status("alice", None)
        assert status.viewers == 7, method
    assert (await make(methods=("ajax",)).channel_status("alice", None)).viewers is None


async def test_hidden_rooms_carry_the_sites_message(make, site) -> None:
    site.set_room("alice", room_status="hidden", hidden_message="back soon")
    status = await make(methods=("ajax",)).channel_status("alice", None)
    assert status.availability is Availability.HIDDEN and "back soon" in status.message


async def test_ajax_wanting_csrf_falls_back_to_the_api(make, site, origin) -> None:
    site.set_options(ajax_csrf_required=True)
    resolved = await make().resolve("alice", None, QualityPreference())
    assert resolved.resolution.media_url.startswith(origin.base_url)
    assert [q.kind for q in site.requests()] == ["ajax", "api"]


async def test_failing_methods_hand_over_to_the_page(make, site) -> None:
    site.set_fault("error", target="ajax", status=502)
    site.set_fault("non_json", target="api")
    resolved = await make(retry=RetryPolicy(retries=0)).resolve("alice", None, QualityPreference())
    assert resolved.resolution.is_live
    assert [q.kind for q in site.requests()] == ["ajax", "api", "page"]


async def test_a_challenge_everywhere_is_blocked_not_offline(make, site) -> None:
    site.set_fault("challenge", status=503)
    error = await resolve_error(make(), "alice")
    assert error.reason == "BLOCKED_BY_CHALLENGE" and error.metadata["availability"] == "BLOCKED"
    assert "cookie" in error.message
    # A challenge page is final: no retries burn the budget on it.
    assert site.request_count() == 3
    status = await make().channel_status("alice", None)
    assert status.availability is Availability.BLOCKED


async def test_a_challenge_on_the_apis_only_still_resolves_through_the_page(make, site) -> None:
    site.set_fault("challenge", target="ajax")
    site.set_fault("challenge", target="api")  # replaces the first: one fault per kind
    site.set_options(ajax_csrf_required=True)
    resolved = await make().resolve("alice", None, QualityPreference())
    assert resolved.resolution.is_live


async def test_an_age_gate_is_reported_when_nothing_else_works(make, site) -> None:
    site.set_options(age_gate=True, ajax_csrf_required=True)
    site.set_fault("error", target="api", status=500)
    error = await resolve_error(make(retry=RetryPolicy(retries=0)), "alice")
    assert error.reason == "AGE_GATE"
    assert "ajax" in error.message and "api" in error.message and "page" in error.message


async def test_rate_limiting_stops_the_chain_and_reports_retry_after(make, site) -> None:
    site.set_fault("rate_limit", retry_after=120)
    resolver = make()
    error = await resolve_error(resolver, "alice")
    assert error.kind is ErrorKind.UNAVAILABLE and error.reason == "RATE_LIMITED"
    assert error.metadata["retry_after_seconds"] == "120"
    # 120 s is over the policy's limit: reported at once, and no other method was tried.
    assert site.request_count() == 1
    # The site asked for 120 s of quiet: the same resolver sends nothing meanwhile.
    status = await resolver.channel_status("alice", None)
    assert status.availability is Availability.RATE_LIMITED
    assert status.retry_after is not None and 110 <= status.retry_after <= 120
    statuses = await resolver.batch_channel_status(["alice", "bob"], None)
    assert {s.availability for s in statuses} == {Availability.RATE_LIMITED}
    assert site.request_count() == 1


async def test_a_short_retry_after_is_waited_for(make, site) -> None:
    site.set_fault("rate_limit", retry_after=1, count=1)
    started = time.monotonic()
    resolved = await make().resolve("alice", None, QualityPreference())
    assert resolved.resolution.is_live and time.monotonic() - started >= 0.95
    assert [q.status for q in site.requests("ajax")] == [429, 200]


async def test_a_5xx_is_retried_before_falling_back(make, site) -> None:
    site.set_fault("error", target="ajax", status=503, count=2)
    await make().resolve("alice", None, QualityPreference())
    assert [q.status for q in site.requests("ajax")] == [503, 503, 200]
    assert site.request_count("api") == 0


async def test_timeouts_are_upstream_errors(make, site) -> None:
    site.set_fault("slow", delay=2.0)
    resolver = make(timeout=0.3, retry=RetryPolicy(retries=0), methods=("api",))
    status = await resolver.channel_status("alice", None)
    assert status.availability is Availability.UPSTREAM_ERROR
    assert status.reason == "UPSTREAM_TIMEOUT"
    error = await resolve_error(resolver, "alice")
    assert error.reason == "UPSTREAM_TIMEOUT"


async def test_non_json_answers_are_upstream_errors(make, site) -> None:
    site.set_fault("non_json")
    status = await make().channel_status("alice", None)
    assert status.availability is Availability.UPSTREAM_ERROR
    assert status.reason in {"NOT_JSON", "NO_DOSSIER"}
    assert "api:" in status.message and "page:" in status.message


async def test_an_unreachable_site_is_an_upstream_error(make, site) -> None:
    resolver = make(retry=RetryPolicy(retries=0))
    site.stop()
    status = await resolver.channel_status("alice", None)
    assert status.availability is Availability.UPSTREAM_ERROR
    assert status.reason == "UPSTREAM_UNREACHABLE"


async def test_the_configured_cookie_and_user_agent_are_really_sent(
    make, site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site.set_options(required_cookie="cf_clearance=s3cr3t", required_user_agent_substring=UA)
    blocked = await make().channel_status("alice", None)
    assert blocked.availability is Availability.BLOCKED
    resolved = await make(cookie="cf_clearance=s3cr3t").resolve("alice", None, QualityPreference())
    assert "Cookie" not in resolved.resolution.http_headers
    sent = site.requests()[-1].headers
    assert "cf_clearance=s3cr3t" in sent["cookie"] and sent["user-agent"] == UA
    for record in caplog.records:
        assert "s3cr3t" not in record.getMessage()
        assert not any("s3cr3t" in str(v) for v in vars(record).values())


@pytest.mark.parametrize("bad", ["../x", "", "   ", "a" * 200, "ünïcode", "al ice", "x;rm"])
async def test_invalid_usernames_are_refused_before_any_network_call(make, site, bad) -> None:
    resolver = make()
    with pytest.raises(InvalidArgument):
        await resolver.resolve(bad, "chaturbate", QualityPreference())
    with pytest.raises(InvalidArgument):
        await resolver.channel_status(bad, "chaturbate")
    with pytest.raises(InvalidArgument):
        await resolver.batch_channel_status(["alice", bad], "chaturbate")
    assert site.request_count() == 0


async def test_the_status_cache_keeps_repeated_questions_off_the_site(make, site) -> None:
    resolver = make(cache_ttl=30)
    answers = await asyncio.gather(*(resolver.channel_status("alice", None) for _ in range(10)))
    assert {a.availability for a in answers} == {Availability.ONLINE}
    await resolver.channel_status("ALICE", None)
    await resolver.batch_channel_status(["alice", "alice"], None)
    assert site.request_count() == 1
    await resolver.channel_status("alice", None, skip_cache=True)
    assert site.request_count() == 2


async def test_bulk_status_is_one_request_for_the_whole_batch(make, site) -> None:
    site.set_options(affiliate_code="wm42")
    site.add_room("bob", room_status="private", viewers=3)
    site.add_room("carol", room_status="offline")
    resolver = make(affiliate_code="wm42")
    statuses = await resolver.batch_channel_status(["alice", "bob", "carol", "nobody"], None)
    assert [s.availability.value for s in statuses] == ["ONLINE", "PRIVATE", "OFFLINE", "OFFLINE"]
    assert [s.target for s in statuses] == ["alice", "bob", "carol", "nobody"]
    assert statuses[0].viewers == 42 and statuses[0].title == "hi there"
    assert {s.method for s in statuses} == {"bulk"}
    assert [q.kind for q in site.requests()] == ["bulk"]
    assert "wm=wm42" in site.requests()[0].path


async def test_a_failing_bulk_list_falls_back_to_per_channel_calls(make, site) -> None:
    site.set_options(affiliate_code="other")
    statuses = await make(affiliate_code="wm42").batch_channel_status(["alice"], None)
    assert statuses[0].availability is Availability.ONLINE and statuses[0].method == "api"
    assert [q.kind for q in site.requests()] == ["bulk", "api"]


async def test_a_rate_limited_bulk_list_does_not_fall_back(make, site) -> None:
    site.set_options(affiliate_code="wm42")
    site.set_fault("rate_limit", retry_after=300)
    statuses = await make(affiliate_code="wm42").batch_channel_status(["alice", "bob"], None)
    assert {s.availability for s in statuses} == {Availability.RATE_LIMITED}
    assert statuses[0].retry_after == 300 and site.request_count() == 1


async def test_500_status_requests_hold_the_configured_rate(make, site) -> None:
    rate, burst = 150.0, 5
    resolver = make(budget=BudgetConfig(rate=rate, burst=burst, concurrency=8, jitter=0.01))
    await asyncio.gather(
        *(resolver.channel_status("alice", None, skip_cache=True) for _ in range(500))
    )
    assert site.request_count() == 500
    for window in (1.0, 2.0):
        assert site.max_requests_in_window(window) <= burst + rate * (window + NOISE)
    sent = [q.monotonic for q in site.requests()]
    assert max(sent) - min(sent) >= (500 - burst) / rate * 0.95


async def test_a_batch_of_1000_channels_without_bulk_holds_the_rate(make, site) -> None:
    names = [f"user{i}" for i in range(1000)]
    for name in names[:10]:
        site.add_room(name, room_status="offline")
    rate, burst = 400.0, 10
    resolver = make(budget=BudgetConfig(rate=rate, burst=burst, concurrency=8, jitter=0.0))
    statuses = await resolver.batch_channel_status(names, None)
    assert [s.target for s in statuses] == names
    assert {s.availability for s in statuses[:10]} == {Availability.OFFLINE}
    assert {s.availability for s in statuses[10:]} == {Availability.NOT_FOUND}
    assert site.request_count() == 1000
    assert site.max_requests_in_window(1.0) <= burst + rate * (1.0 + NOISE)


def test_config_keeps_the_cookie_out_of_its_repr() -> None:
    config = ChaturbateConfig(cookie="cf_clearance=s3cr3t", affiliate_code="wm")
    assert "s3cr3t" not in repr(config) and "wm'" not in repr(config)
    with pytest.raises(ValueError):
        dataclasses.replace(config, methods=("ajax", "dns"))


async def test_a_room_title_cannot_pass_for_a_challenge(make, site) -> None:
    site.set_room("alice", title="join my challenge-platform party <title>Just a moment...</title>")
    site.set_options(ajax_csrf_required=True)
    status = await make().channel_status("alice", None)
    assert status.availability is Availability.ONLINE
    resolved = await make().resolve("alice", None, QualityPreference())
    assert resolved.resolution.is_live


async def test_absurd_viewer_counts_are_clamped(make, site) -> None:
    site.set_room("alice", viewers=2**40)
    status = await make().channel_status("alice", None)
    assert status.viewers == 2**32 - 1


async def test_a_lookup_is_bounded_in_time(make, site) -> None:
    site.set_fault("slow", delay=3.0)
    resolver = make(timeout=5.0, lookup_timeout=0.5)
    started = time.monotonic()
    status = await resolver.channel_status("alice", None)
    assert time.monotonic() - started < 2.0
    assert status.availability is Availability.UPSTREAM_ERROR
    assert status.reason == "UPSTREAM_TIMEOUT"


async def test_a_site_that_times_out_is_not_asked_again_another_way(make, site) -> None:
    site.set_fault("slow", delay=2.0)
    resolver = make(timeout=0.3, retry=RetryPolicy(retries=0))
    error = await resolve_error(resolver, "alice")
    assert error.reason == "UPSTREAM_TIMEOUT"
    assert "ajax:" in error.message and "api:" not in error.message


async def test_a_bulk_list_outage_is_not_turned_into_a_per_channel_storm(make, site) -> None:
    site.set_options(affiliate_code="wm42")
    site.set_fault("error", target="bulk", status=503)
    statuses = await make(affiliate_code="wm42", retry=RetryPolicy(retries=0)).batch_channel_status(
        ["alice", "bob"], None
    )
    assert {s.availability for s in statuses} == {Availability.UPSTREAM_ERROR}
    assert [q.kind for q in site.requests()] == ["bulk"]


@pytest.mark.parametrize("field", ["cookie", "user_agent", "affiliate_code"])
def test_header_settings_must_be_printable_ascii(field: str) -> None:
    for bad in ("a\r\nX-Injected: 1", "café"):
        with pytest.raises(ValueError):
            dataclasses.replace(ChaturbateConfig(), **{field: bad})  # type: ignore[arg-type]
