"""The Chaturbate source: a username (or room URL) to its live HLS stream, and room status.

Resolving tries the site's three methods in order (``CHATURBATE_METHODS``, default
``ajax,api,page``) and stops at the first that tells what the room is doing; a method that
fails (challenge page, 5xx, non-JSON, a 403 asking for CSRF) hands over to the next. A 429
stops the chain at once: asking the same site another way would only deepen the hole. A room
that is online gives a master playlist, resolved like any HLS URL (quality policy, separate
audio). Status asks the API first, since it alone carries viewers and title in one GET.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from servicekit.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    UpstreamError,
)
from servicekit.settings import SettingsError

from ..quality import QualityPreference
from ..room_image import RoomImage
from ..site_client import SiteClient, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind, check_http_url
from ._chaturbate_site import Lookup, SiteMethods
from .base import Resolution, Source, SourceContext, register
from .hls import HlsSource

__all__ = ["METHODS", "ChaturbateConfig", "ChaturbateSource"]

logger = logging.getLogger(__name__)

METHODS = ("ajax", "api", "page")
# Failures of the host rather than of one method: trying another method would only wait again.
_HOST_DOWN = frozenset({"UPSTREAM_TIMEOUT", "UPSTREAM_UNREACHABLE"})
# Bulk-list failures that per-channel lookups can get around (the wm code, the list's format).
_BULK_ONLY = ("BULK_HTTP_", "NOT_JSON")

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


@dataclass(frozen=True)
class ChaturbateConfig:
    """Where the site is and how to talk to it. ``cookie`` and ``affiliate_code`` are secrets
    of a sort: they are sent, never logged."""

    base_url: str = "https://chaturbate.com"
    thumbnail_base_url: str = "https://roomimg.stream.highwebmedia.com/ri"
    user_agent: str = ""
    cookie: str = ""
    affiliate_code: str = ""
    methods: tuple[str, ...] = METHODS
    #: Seconds one lookup (every method, retries included) may take: under the callers'
    #: deadlines (the recorder gives Resolve 20 s), so they get a reason, not a timeout.
    lookup_timeout: float = 15.0

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be among {', '.join(METHODS)}; got {self.methods!r}")
        check_http_url(self.base_url)
        check_http_url(self.thumbnail_base_url)
        for name in ("user_agent", "cookie", "affiliate_code"):
            value = getattr(self, name)
            # Header values: a newline or a non-ASCII byte would fail every request at send time.
            if any(not (" " <= ch <= "~") for ch in value):
                raise ValueError(f"{name} must be printable ASCII")
        if self.lookup_timeout <= 0:
            raise ValueError("lookup_timeout must be > 0")

    def __repr__(self) -> str:  # keep the cookie out of any accidental log line
        return f"ChaturbateConfig(base_url={self.base_url!r}, methods={self.methods!r})"

    @classmethod
    def from_context(cls, ctx: SourceContext) -> ChaturbateConfig:
        """``CHATURBATE_*``: base URLs, methods, affiliate code and lookup timeout here; the
        User-Agent and cookie are every site's (``ctx.site``)."""
        d = cls()
        methods = tuple(
            m.strip().lower()
            for m in ctx.text("METHODS", ",".join(METHODS)).split(",")
            if m.strip()
        )
        try:
            return cls(
                base_url=ctx.text("BASE_URL", d.base_url),
                thumbnail_base_url=ctx.text("THUMBNAIL_BASE_URL", d.thumbnail_base_url),
                user_agent=ctx.site.user_agent,
                cookie=ctx.site.cookie,
                affiliate_code=ctx.text("AFFILIATE_CODE", ""),
                methods=methods,
                lookup_timeout=ctx.number("LOOKUP_TIMEOUT", d.lookup_timeout, minimum=0.5),
            )
        except (ValueError, DomainError) as exc:
            raise SettingsError(f"{ctx.prefix}*: {exc}") from exc


@register
class ChaturbateSource(Source):
    """Chaturbate rooms, through ``site`` (the shared request budget)."""

    name: ClassVar[str] = "chaturbate"
    title: ClassVar[str] = "Chaturbate"
    room_hosts: ClassVar[tuple[str, ...]] = ("chaturbate.com",)
    default_site: ClassVar[bool] = True

    @classmethod
    def create(cls, ctx: SourceContext) -> ChaturbateSource:
        return cls(ctx.api, ctx.hls, ChaturbateConfig.from_context(ctx))

    def __init__(
        self, site: SiteClient, hls: HlsSource, config: ChaturbateConfig | None = None
    ) -> None:
        self.config = config or ChaturbateConfig()
        headers = {"Accept-Language": "en-US,en;q=0.9"}
        if self.config.user_agent:
            headers["User-Agent"] = self.config.user_agent
        if self.config.cookie:
            headers["Cookie"] = self.config.cookie
        self._site = SiteMethods(
            site,
            base_url=self.config.base_url,
            headers=headers,
            thumbnail_base_url=self.config.thumbnail_base_url,
            source=self.name,
        )
        self._hls = hls
        # ffmpeg talks to the CDN, not the site: the site cookie stays here.
        self._ffmpeg_headers = {"Referer": f"{self.config.base_url.rstrip('/')}/"}
        if self.config.user_agent:
            self._ffmpeg_headers["User-Agent"] = self.config.user_agent
        status_order = ["api", *(m for m in self.config.methods if m != "api")]
        self._status_methods = tuple(m for m in status_order if m in self.config.methods)

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Find the room's stream and resolve its master playlist.

        Raises FailedPrecondition (CHANNEL_OFFLINE, CHANNEL_PRIVATE, CHANNEL_GROUP_SHOW,
        CHANNEL_AWAY, CHANNEL_HIDDEN, CHANNEL_PASSWORD_PROTECTED, CHANNEL_GEO_RESTRICTED),
        NotFound (CHANNEL_NOT_FOUND), Unavailable (RATE_LIMITED) or UpstreamError
        (BLOCKED_BY_CHALLENGE, AGE_GATE, UNSAFE_MEDIA_URL, and the HLS source's reasons).
        """
        username = _username(target)
        lookup = await self._lookup(username, self.config.methods, "resolve")
        status = lookup.status
        if status.availability is not Availability.ONLINE:
            raise _not_recordable(status)
        try:
            url = check_http_url(lookup.hls_url)
        except InvalidArgument as exc:
            raise UpstreamError(
                f"the site gave an unusable stream URL: {exc.message}", reason="UNSAFE_MEDIA_URL"
            ) from exc
        return await self._hls.resolve_url(
            url, pref, target=username, source=self.name, ffmpeg_headers=self._ffmpeg_headers
        )

    async def channel_status(self, target: Target) -> ChannelStatus:
        """Ask the site about one room (API first, then the other configured methods)."""
        username = _username(target)
        return (await self._lookup(username, self._status_methods, "status")).status

    async def room_image(self, target: Target) -> RoomImage:
        """The room image the status answers point at (``CHATURBATE_THUMBNAIL_BASE_URL``)."""
        return await self._site.room_image(_username(target))

    async def batch_channel_status(self, targets: Sequence[Target]) -> list[ChannelStatus]:
        """With an affiliate code: one online-rooms request for the whole batch. Without one,
        or when the list fails for a reason other than rate limiting: one lookup per room."""
        if not self.config.affiliate_code or not targets:
            return await super().batch_channel_status(targets)
        usernames = [_username(t) for t in targets]
        started = time.monotonic()
        try:
            rooms = await self._site.online_rooms(self.config.affiliate_code)
        except (UpstreamError, Unavailable) as exc:
            logger.warning(
                "online-rooms list failed: %s",
                exc.message,
                extra={"event.action": "status.bulk", "error.type": exc.reason},
            )
            if exc.reason.startswith(_BULK_ONLY):
                return await super().batch_channel_status(targets)
            # Per-channel calls would meet the same block, limit or outage, times N.
            return [self._bulk_failed(u, exc) for u in usernames]
        logger.info(
            "online-rooms list: %d rooms online, %d asked",
            len(rooms),
            len(usernames),
            extra={
                "event.action": "status.bulk",
                "event.duration": int((time.monotonic() - started) * 1e9),
                "status.online_rooms": len(rooms),
                "status.asked": len(usernames),
            },
        )
        return [self._site.from_bulk(u, rooms.get(u)) for u in usernames]

    async def _lookup(self, username: str, methods: Sequence[str], purpose: str) -> Lookup:
        started = time.monotonic()
        failures: list[Lookup] = []
        try:
            async with asyncio.timeout(self.config.lookup_timeout):
                for name in methods:
                    lookup = await self._site.by_name[name](username)
                    if lookup.status.availability.is_conclusive:
                        self._log(username, purpose, lookup.status, started)
                        return lookup
                    failures.append(lookup)
                    if lookup.status.reason in _HOST_DOWN:
                        break  # the site itself is not answering: other methods will not either
        except TimeoutError:
            failures.append(
                self._site.failed(
                    "lookup",
                    username,
                    f"no answer within {self.config.lookup_timeout:g} s",
                    "UPSTREAM_TIMEOUT",
                )
            )
        lookup = _worst(failures)
        self._log(username, purpose, lookup.status, started)
        return lookup

    def _bulk_failed(self, username: str, error: DomainError) -> ChannelStatus:
        availability = {
            "RATE_LIMITED": Availability.RATE_LIMITED,
            "BLOCKED_BY_CHALLENGE": Availability.BLOCKED,
        }.get(error.reason, Availability.UPSTREAM_ERROR)
        retry = error.metadata.get("retry_after_seconds", "")
        return replace(
            self._site.from_bulk(username, None),
            availability=availability,
            message=f"bulk: {error.message}",
            reason=error.reason,
            retry_after=float(retry) if retry else None,
        )

    def _log(self, username: str, purpose: str, status: ChannelStatus, started: float) -> None:
        logger.info(
            "%s %s: %s via %s",
            purpose,
            username,
            status.availability.value,
            status.method,
            extra={
                "event.action": "chaturbate.resolve"
                if purpose == "resolve"
                else "chaturbate.status",
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                # Not channel.*: "channel" is a value, and Elasticsearch cannot map a field
                # that is both a value and an object.
                "lookup.availability": status.availability.value,
                "lookup.method": status.method,
                "error.type": status.reason or None,
                "url.original": redact_url(self.config.base_url),
            },
        )


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the chaturbate source needs a username", reason="INVALID_USERNAME")
    return target.value


def _worst(failures: list[Lookup]) -> Lookup:
    """Every method failed: report what the user can act on first (a challenge or an age gate
    wants a cookie), else the last upstream error; the message names each method's failure."""
    first = {f.status.availability: f for f in reversed(failures)}
    chosen = first.get(Availability.BLOCKED) or first.get(Availability.AGE_GATE) or failures[-1]
    summary = "; ".join(f.status.message or f.status.method for f in failures)
    return replace(chosen, status=replace(chosen.status, message=summary))


_PHRASES = {
    Availability.OFFLINE: "is offline",
    Availability.PRIVATE: "is in a private show",
    Availability.GROUP_SHOW: "is in a group show",
    Availability.AWAY: "is away",
    Availability.HIDDEN: "is in a hidden show",
    Availability.PASSWORD_PROTECTED: "is password protected",
    Availability.GEO_RESTRICTED: "is not available in this region",
    Availability.NOT_FOUND: "does not exist",
    Availability.RATE_LIMITED: "could not be checked: the site is rate limiting us",
    Availability.BLOCKED: "could not be checked: a challenge page blocked every method",
    Availability.AGE_GATE: "could not be checked: the site shows an age gate",
}


def _not_recordable(status: ChannelStatus) -> DomainError:
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
        metadata["retry_after_seconds"] = str(round(status.retry_after))
    return error(message, reason=reason, metadata=metadata)
