"""The answer rules BongaCams and CAM4 share: what a failure is, and why a room cannot be
recorded (tables, no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from resolver_service.site_client import SiteResponse
from resolver_service.sources._site_answers import (
    Verdict,
    from_error,
    generic_failure,
    is_challenge,
    not_recordable,
    to_status,
)
from resolver_service.status import Availability, ChannelStatus
from servicekit.errors import DomainError, FailedPrecondition, NotFound, Unavailable, UpstreamError

HTML = {"content-type": "text/html; charset=utf-8"}
PAGE = b"<html><title>Just a moment...</title></html>"


def response(status: int, headers: dict[str, str], body: bytes = b"") -> SiteResponse:
    return SiteResponse(status, httpx.Headers(headers), body, "https://site.example/x")


@pytest.mark.parametrize(
    ("status", "headers", "body", "challenge"),
    [
        (403, HTML, PAGE, True),
        (503, HTML, b"<script src='/cdn-cgi/challenge-platform/x'>", True),
        (200, {"cf-mitigated": "challenge"}, b"", True),
        (403, {"content-type": "application/json"}, PAGE, False),  # a title someone typed
        (200, HTML, PAGE, False),
        (404, HTML, PAGE, False),
        (403, HTML, b"<h1>Forbidden</h1>", False),
    ],
)
def test_challenges(status: int, headers: dict[str, str], body: bytes, challenge: bool) -> None:
    assert is_challenge(status, headers, body) is challenge


@pytest.mark.parametrize(
    ("status", "headers", "body", "availability", "reason"),
    [
        (403, HTML, PAGE, Availability.BLOCKED, "BLOCKED_BY_CHALLENGE"),
        (429, {"retry-after": "7"}, b"", Availability.RATE_LIMITED, "RATE_LIMITED"),
        (500, {}, b"", Availability.UPSTREAM_ERROR, "UPSTREAM_5XX"),
        (502, HTML, b"bad gateway", Availability.UPSTREAM_ERROR, "UPSTREAM_5XX"),
        (200, {}, b"{}", None, ""),
        (204, {}, b"", None, ""),
        (403, {"content-type": "application/json"}, b"{}", None, ""),
        (404, HTML, b"", None, ""),
    ],
)
def test_generic_failures(
    status: int,
    headers: dict[str, str],
    body: bytes,
    availability: Availability | None,
    reason: str,
) -> None:
    verdict = generic_failure(response(status, headers, body), "x")
    if availability is None:
        assert verdict is None
        return
    assert verdict is not None
    assert (verdict.availability, verdict.reason) == (availability, reason)
    if status == 429:
        assert verdict.retry_after == 7


def test_errors_without_an_answer() -> None:
    paused = Unavailable("wait", reason="RATE_LIMITED", metadata={"retry_after_seconds": "9"})
    assert from_error(paused, "x") == Verdict(
        Availability.RATE_LIMITED, "x: wait", "RATE_LIMITED", 9
    )
    down = UpstreamError("no route", reason="UPSTREAM_UNREACHABLE")
    assert from_error(down, "x").availability is Availability.UPSTREAM_ERROR


@pytest.mark.parametrize(
    ("availability", "kind", "reason"),
    [
        (Availability.OFFLINE, FailedPrecondition, "CHANNEL_OFFLINE"),
        (Availability.PRIVATE, FailedPrecondition, "CHANNEL_PRIVATE"),
        (Availability.GROUP_SHOW, FailedPrecondition, "CHANNEL_GROUP_SHOW"),
        (Availability.GEO_RESTRICTED, FailedPrecondition, "CHANNEL_GEO_RESTRICTED"),
        (Availability.NOT_FOUND, NotFound, "CHANNEL_NOT_FOUND"),
        (Availability.RATE_LIMITED, Unavailable, "RATE_LIMITED"),
        (Availability.BLOCKED, UpstreamError, "BLOCKED_BY_CHALLENGE"),
        (Availability.UPSTREAM_ERROR, UpstreamError, "NOT_JSON"),
    ],
)
def test_why_a_room_cannot_be_recorded(
    availability: Availability, kind: type[DomainError], reason: str
) -> None:
    status = to_status(
        Verdict(availability, "m", "NOT_JSON", 2.4), target="al", source="s", method="x"
    )
    assert isinstance(status, ChannelStatus) and status.checked_at <= datetime.now(UTC)
    error = not_recordable(status)
    assert type(error) is kind and error.reason == reason
    assert error.metadata["availability"] == availability.value
    assert error.metadata["retry_after_seconds"] == "2"
