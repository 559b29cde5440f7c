"""What any site's HTTP answer means before its body is read, and why a room cannot be recorded.

Shared by the sources that have no richer rules of their own (BongaCams, CAM4): a 429 is
RATE_LIMITED, a Cloudflare challenge BLOCKED, a 5xx or a transport failure UPSTREAM_ERROR;
none of them is ever "offline". ``not_recordable`` turns a status that is not ONLINE into the
domain error a Resolve raises. Pure functions only: the sources do the requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from servicekit.errors import DomainError, FailedPrecondition, NotFound, Unavailable, UpstreamError

from ..site_client import SiteResponse
from ..status import Availability, ChannelStatus

__all__ = [
    "Verdict",
    "from_error",
    "generic_failure",
    "is_challenge",
    "json_object",
    "not_recordable",
    "to_status",
    "with_verdict",
]

_CHALLENGE_MARKERS = (b"<title>Just a moment...</title>", b"cf-chl-", b"challenge-platform")

# Why a room that is not online cannot be recorded, as a domain error.
_NOT_RECORDABLE: dict[Availability, tuple[type[DomainError], str]] = {
    Availability.OFFLINE: (FailedPrecondition, "CHANNEL_OFFLINE"),
    Availability.PRIVATE: (FailedPrecondition, "CHANNEL_PRIVATE"),
    Availability.GROUP_SHOW: (FailedPrecondition, "CHANNEL_GROUP_SHOW"),
    Availability.AWAY: (FailedPrecondition, "CHANNEL_AWAY"),
    Availability.HIDDEN: (FailedPrecondition, "CHANNEL_HIDDEN"),
    Availability.PASSWORD_PROTECTED: (FailedPrecondition, "CHANNEL_PASSWORD_PROTECTED"),
    Availability.GEO_RESTRICTED: (FailedPrecondition, "CHANNEL_GEO_RESTRICTED"),
    Availability.NOT_FOUND: (NotFound, "CHANNEL_NOT_FOUND"),
    Availability.RATE_LIMITED: (Unavailable, "RATE_LIMITED"),
    Availability.BLOCKED: (UpstreamError, "BLOCKED_BY_CHALLENGE"),
    Availability.AGE_GATE: (UpstreamError, "AGE_GATE"),
}
_PHRASES = {
    Availability.OFFLINE: "is offline",
    Availability.PRIVATE: "is in a private show",
    Availability.GROUP_SHOW: "is in a group show",
    Availability.GEO_RESTRICTED: "is not available in this region",
    Availability.NOT_FOUND: "does not exist",
    Availability.RATE_LIMITED: "could not be checked: the site is rate limiting us",
    Availability.BLOCKED: "could not be checked: a challenge page blocked us",
}


@dataclass(frozen=True)
class Verdict:
    """What one answer says about a channel; ``reason`` names a failure (UPPER_SNAKE)."""

    availability: Availability
    message: str = ""
    reason: str = ""
    retry_after: float | None = None


def is_challenge(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """A bot-protection (Cloudflare) interstitial rather than the answer asked for.

    Only an HTML error page counts (or Cloudflare's own header): JSON carries text the
    performers write, and a room title must not pass for a challenge."""
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    if status not in (403, 429, 503):
        return False
    if "html" not in headers.get("content-type", "").lower():
        return False
    return any(marker in body[:20_000] for marker in _CHALLENGE_MARKERS)


def generic_failure(response: SiteResponse, what: str) -> Verdict | None:
    """The verdict for an answer that is a failure on any endpoint (challenge, 429, 5xx), or
    None when the endpoint's own rules must read it. ``what`` names the endpoint."""
    if is_challenge(response.status, response.headers, response.body):
        return Verdict(
            Availability.BLOCKED,
            f"{what}: a challenge page answered (HTTP {response.status}); a cookie may help",
            "BLOCKED_BY_CHALLENGE",
        )
    if response.status == 429:
        return Verdict(
            Availability.RATE_LIMITED,
            f"{what}: the site is rate limiting us",
            "RATE_LIMITED",
            response.retry_after,
        )
    if response.status >= 500:
        return Verdict(
            Availability.UPSTREAM_ERROR, f"{what}: HTTP {response.status}", "UPSTREAM_5XX"
        )
    return None


def from_error(error: DomainError, what: str) -> Verdict:
    """The verdict for a request that got no answer (SiteClient's transport errors, or the
    budget refusing to send while the host asked for quiet)."""
    if error.reason == "RATE_LIMITED":
        retry = error.metadata.get("retry_after_seconds", "")
        return Verdict(
            Availability.RATE_LIMITED,
            f"{what}: {error.message}",
            "RATE_LIMITED",
            float(retry) if retry.isdigit() else None,
        )
    return Verdict(Availability.UPSTREAM_ERROR, f"{what}: {error.message}", error.reason)


def json_object(response: SiteResponse) -> dict[str, Any] | None:
    """The body as a JSON object, None when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def to_status(
    verdict: Verdict,
    *,
    target: str,
    source: str,
    method: str,
    room_status: str = "",
    title: str = "",
) -> ChannelStatus:
    """A ChannelStatus checked now."""
    return ChannelStatus(
        target=target,
        source=source,
        availability=verdict.availability,
        checked_at=datetime.now(UTC),
        room_status=room_status,
        title=title,
        message=verdict.message,
        reason=verdict.reason,
        method=method,
        retry_after=verdict.retry_after,
    )


def with_verdict(status: ChannelStatus, verdict: Verdict) -> ChannelStatus:
    """``status`` with what a later answer (the CDN's, say) said instead."""
    return replace(
        status,
        availability=verdict.availability,
        message=verdict.message,
        reason=verdict.reason,
        retry_after=verdict.retry_after,
    )


def not_recordable(status: ChannelStatus) -> DomainError:
    """The error a Resolve raises for a status that is not ONLINE (its reason says why)."""
    error, reason = _NOT_RECORDABLE.get(
        status.availability, (UpstreamError, status.reason or "UPSTREAM_ERROR")
    )
    if status.availability is Availability.UPSTREAM_ERROR:
        reason = status.reason or "UPSTREAM_ERROR"
    phrase = _PHRASES.get(status.availability, "could not be checked: the site failed")
    message = f"channel {status.target} {phrase}"
    if status.message:
        message += f" ({status.message})"
    metadata = {"availability": status.availability.value, "channel": status.target}
    if status.room_status:
        metadata["room_status"] = status.room_status
    if status.retry_after is not None:
        metadata["retry_after_seconds"] = str(max(1, round(status.retry_after)))
    return error(message, reason=reason, metadata=metadata)
