"""The site client: budgeted requests, retries of what a retry can fix, capped bodies."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from resolver_service.budget import BudgetConfig
from resolver_service.site_client import SiteResponse, parse_retry_after
from servicekit.errors import Unavailable, UpstreamError

from .sites import QUICK_RETRY, site_client

URL = "https://site.example/api/x/?token=SECRET"


def scripted(*answers: httpx.Response | Exception) -> tuple[list[float], Callable[..., object]]:
    """A transport that gives ``answers`` in order (the last one repeats) and logs times."""
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        answer = answers[min(len(times) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return times, handler


def client(handler: Callable[..., object]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


async def test_5xx_is_retried_with_backoff_until_it_works(caplog: pytest.LogCaptureFixture) -> None:
    times, handler = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200))
    site = site_client(client(handler), policy=QUICK_RETRY)
    response = await site.request("GET", URL)
    assert response.status == 200 and len(times) == 3
    retries = [r for r in caplog.records if getattr(r, "event.action", "") == "site.retry"]
    assert [getattr(r, "http.response.status_code") for r in retries] == [503, 502]
    assert all("SECRET" not in r.getMessage() for r in caplog.records)


async def test_the_last_answer_is_returned_when_retries_run_out() -> None:
    times, handler = scripted(httpx.Response(500, text="boom"))
    response = await site_client(client(handler), policy=QUICK_RETRY).request("GET", URL)
    assert response.status == 500 and response.text == "boom" and len(times) == 3


@pytest.mark.parametrize("status", [200, 301, 401, 403, 404, 410])
async def test_other_statuses_are_not_retried(status: int) -> None:
    times, handler = scripted(httpx.Response(status))
    response = await site_client(client(handler), policy=QUICK_RETRY).request("GET", URL)
    assert response.status == status and len(times) == 1


async def test_429_retry_after_pauses_the_host_for_every_request() -> None:
    times, handler = scripted(
        httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200)
    )
    site = site_client(client(handler), policy=QUICK_RETRY)
    started = time.monotonic()
    assert (await site.request("GET", URL)).status == 200
    assert times[1] - times[0] >= 0.95
    assert site.budget.stats.pauses == 1
    # The pause was on the host: another request right after it is not held any more...
    await site.request("GET", URL)
    assert time.monotonic() - started < 1.6


async def test_429_asking_for_longer_than_the_policy_allows_is_returned_at_once() -> None:
    times, handler = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    site = site_client(client(handler), policy=QUICK_RETRY)
    response = await site.request("GET", URL)
    assert response.status == 429 and response.retry_after == 3600 and len(times) == 1
    # The host stays paused as long as it asked: later calls fail at once, unsent.
    with pytest.raises(Unavailable) as info:
        await site.request("GET", URL)
    assert info.value.reason == "RATE_LIMITED" and len(times) == 1
    assert 3590 <= int(info.value.metadata["retry_after_seconds"]) <= 3600
    other = await site.request("GET", "https://cdn.example/x.m3u8")
    assert other.status == 429 and len(times) == 2  # another host is not held


async def test_a_final_answer_is_not_retried() -> None:
    times, handler = scripted(httpx.Response(503, text="<title>Just a moment...</title>"))
    site = site_client(client(handler), policy=QUICK_RETRY)
    response = await site.request("GET", URL, final=lambda r: b"Just a moment" in r.body)
    assert response.status == 503 and len(times) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ReadTimeout("slow"), "UPSTREAM_TIMEOUT"),
        (httpx.ConnectError("refused"), "UPSTREAM_UNREACHABLE"),
        (httpx.RemoteProtocolError("eof"), "UPSTREAM_PROTOCOL_ERROR"),
    ],
)
async def test_transport_failures_are_retried_then_classified(
    error: Exception, reason: str
) -> None:
    times, handler = scripted(error)
    with pytest.raises(UpstreamError) as info:
        await site_client(client(handler), policy=QUICK_RETRY).request("GET", URL)
    assert info.value.reason == reason and len(times) == 3
    assert "SECRET" not in info.value.message


async def test_a_timeout_then_success_recovers() -> None:
    times, handler = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, text="ok"))
    response = await site_client(client(handler), policy=QUICK_RETRY).request("GET", URL)
    assert response.text == "ok" and len(times) == 2


async def test_bodies_over_the_cap_are_refused_with_the_callers_reason() -> None:
    _, handler = scripted(httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(UpstreamError) as info:
        await site_client(client(handler)).request(
            "GET", URL, max_body_bytes=4096, too_large_reason="PLAYLIST_TOO_LARGE"
        )
    assert info.value.reason == "PLAYLIST_TOO_LARGE"


async def test_headers_and_form_data_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    response = await site_client(client(handler)).request(
        "POST",
        URL,
        headers={"Cookie": "a=b", "X-Requested-With": "XMLHttpRequest"},
        data={"room_slug": "alice", "bandwidth": "high"},
    )
    assert response.json() == {"ok": True}
    assert seen[0].headers["cookie"] == "a=b"
    assert seen[0].content == b"room_slug=alice&bandwidth=high"


async def test_requests_respect_the_budget_rate() -> None:
    times, handler = scripted(httpx.Response(200))
    site = site_client(client(handler), BudgetConfig(rate=20, burst=2, jitter=0))
    for _ in range(6):
        await site.request("GET", URL)
    # 2 at once, then 4 more at 50 ms intervals.
    assert times[-1] - times[0] >= 0.19


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    past = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0)
    assert past == 0


def test_response_text_honours_the_charset() -> None:
    body = "café".encode("latin-1")
    headers = httpx.Headers({"content-type": "text/html; charset=latin-1"})
    assert SiteResponse(200, headers, body, URL).text == "café"
    bogus = httpx.Headers({"content-type": "text/html; charset=nope"})
    assert SiteResponse(200, bogus, b"ok", URL).text == "ok"


async def test_a_429_holds_the_next_call_to_that_host_not_just_its_retry() -> None:
    times, handler = scripted(
        httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200)
    )
    site = site_client(client(handler))  # no retries: the 429 comes back at once
    assert (await site.request("GET", URL)).status == 429
    assert (await site.request("GET", URL)).status == 200
    assert times[1] - times[0] >= 0.95
