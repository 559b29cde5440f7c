"""A site that exists only in tests, loaded into a resolver with
``RESOLVER_PLUGINS=tests.plugins.throwaway``: proof that a new site is one module (this one),
its fake and its tests, and nothing else in streamrec.

Its API (faked in ``tests/e2e/test_plugin_source.py``): ``GET <THROWAWAY_BASE_URL>/api/rooms/<u>``
answers 404 for no such user, or ``{"state": "live"|"off"|"private", "hls": <master URL>}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote

from resolver_service.quality import QualityPreference
from resolver_service.site_client import SiteClient
from resolver_service.sources.base import Resolution, Source, SourceContext, register
from resolver_service.sources.hls import HlsSource
from resolver_service.status import Availability, ChannelStatus
from resolver_service.targets import Target, check_http_url
from servicekit.errors import FailedPrecondition, NotFound, UpstreamError

_STATES = {
    "live": Availability.ONLINE,
    "off": Availability.OFFLINE,
    "private": Availability.PRIVATE,
}


@register
class ThrowawaySource(Source):
    name: ClassVar[str] = "throwaway"
    title: ClassVar[str] = "Throwaway (tests only)"
    room_hosts: ClassVar[tuple[str, ...]] = ("throwaway.test",)

    def __init__(self, api: SiteClient, hls: HlsSource, base_url: str) -> None:
        self._api, self._hls, self._base_url = api, hls, base_url

    @classmethod
    def create(cls, ctx: SourceContext) -> ThrowawaySource:
        return cls(ctx.api, ctx.hls, ctx.url("BASE_URL", "https://throwaway.test"))

    async def _room(self, username: str) -> tuple[Availability, str]:
        response = await self._api.request("GET", f"{self._base_url}/api/rooms/{quote(username)}")
        if response.status == 404:
            return Availability.NOT_FOUND, ""
        if response.status == 429:
            return Availability.RATE_LIMITED, ""
        if response.status != 200:
            return Availability.UPSTREAM_ERROR, ""
        try:
            body = response.json()
            state, hls = _STATES[body["state"]], str(body.get("hls") or "")
        except (ValueError, KeyError, TypeError):
            return Availability.UPSTREAM_ERROR, ""
        return state, hls

    async def channel_status(self, target: Target) -> ChannelStatus:
        availability, _ = await self._room(target.value)
        return ChannelStatus(target.value, self.name, availability, datetime.now(UTC))

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        availability, hls = await self._room(target.value)
        if availability is Availability.NOT_FOUND:
            raise NotFound(f"no room {target.value}", reason="CHANNEL_NOT_FOUND")
        if availability is not Availability.ONLINE:
            state = availability.value
            message = f"{target.value} is {state.lower()}"
            raise FailedPrecondition(message, reason=f"CHANNEL_{state}")
        if not hls:
            raise UpstreamError("the site gave no stream", reason="UPSTREAM_ERROR")
        return await self._hls.resolve_url(
            check_http_url(hls), pref, target=target.value, source=self.name
        )
