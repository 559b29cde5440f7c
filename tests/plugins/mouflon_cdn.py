"""A test-only site whose streams are on the fake Stripchat CDN (``simlab/fakes/stripchat_cdn``):
the Stripchat media side (``_stripchat_media.relay_resolution``, the relay, key discovery)
recorded end to end by the real services without the Stripchat API in the way. Loaded with
``RESOLVER_PLUGINS=tests.plugins.mouflon_cdn``; a username ``room<id>`` is model ``<id>``.

Settings: ``MOUFLONTEST_MASTER_TEMPLATE`` (``{tld}``/``{id}``, the fake's
``master_template``), ``MOUFLONTEST_SITE`` (Referer/Origin), ``MOUFLONTEST_KEYS``,
``MOUFLONTEST_PLAYER_URL``, ``MOUFLONTEST_KEY_RETRY_SECONDS`` (as Stripchat's).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import ClassVar

from resolver_service.quality import QualityPreference
from resolver_service.sources._mouflon_keys import MouflonPlaylists
from resolver_service.sources._stripchat_media import relay_resolution
from resolver_service.sources.base import Resolution, Source, SourceContext, register
from resolver_service.status import Availability, ChannelStatus
from resolver_service.targets import Target, check_http_url
from servicekit.errors import FailedPrecondition, NotFound, UpstreamError

_ROOM = re.compile(r"room(\d{1,9})")


@register
class MouflonTestSource(Source):
    name: ClassVar[str] = "mouflontest"
    title: ClassVar[str] = "Mouflon CDN (tests only)"
    room_hosts: ClassVar[tuple[str, ...]] = ("mouflon.test",)

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self._template = ctx.text("MASTER_TEMPLATE", "https://edge.test/{tld}/{id}.m3u8")
        site = ctx.url("SITE", "https://stripchat.com").rstrip("/")
        self._headers = {"Referer": f"{site}/", "Origin": site, "User-Agent": ctx.site.user_agent}
        self._playlists = MouflonPlaylists.from_context(ctx, self._headers)

    @classmethod
    def create(cls, ctx: SourceContext) -> MouflonTestSource:
        return cls(ctx)

    async def _master(self, target: Target) -> tuple[str, str] | None:
        match = _ROOM.fullmatch(target.value)
        if match is None:
            raise NotFound(f"no room {target.value}", reason="CHANNEL_NOT_FOUND")
        url = check_http_url(self._template.replace("{tld}", "com").replace("{id}", match[1]))
        response = await self._ctx.cdn.request("GET", url, headers=self._headers)
        if response.status == 404:
            return None
        if response.status != 200:
            raise UpstreamError(f"HTTP {response.status}", reason="UPSTREAM_HTTP_ERROR")
        return url, response.body.decode()

    async def channel_status(self, target: Target) -> ChannelStatus:
        master = await self._master(target)
        online = Availability.ONLINE if master else Availability.OFFLINE
        return ChannelStatus(target.value, self.name, online, datetime.now(UTC))

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        master = await self._master(target)
        if master is None:
            raise FailedPrecondition(f"{target.value} is offline", reason="CHANNEL_OFFLINE")
        return await relay_resolution(
            source=self.name,
            target=target.value,
            username=target.value,
            master_url=master[0],
            master_text=master[1],
            pref=pref,
            relay=self._ctx.relay,
            cdn=self._ctx.cdn,
            headers=self._headers,
            playlists=self._playlists,
            cdn_proxy=self._ctx.site.cdn_proxy,
        )
