"""A real ResolverService that only classifies targets, over a real gRPC channel: the default
site, playlists and a second site ("othersite") registered for the test alone. Its sources
make no network call (any attempt fails the test), so watch-list tests stay fast."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import ClassVar

import grpc

from resolver_service.core import Resolver
from resolver_service.quality import QualityPreference
from resolver_service.servicer import ResolverServicer
from resolver_service.sources import base
from resolver_service.sources.base import Resolution, Source, discover_sources, register
from resolver_service.status import ChannelStatus
from resolver_service.targets import Target
from streamrec.v1 import resolver_service_pb2_grpc
from tests.grpc_util import serving

OTHER_SITE = "othersite"


class _Offline(Source):
    """A source that must not be asked anything: classification needs no call."""

    name: ClassVar[str] = "offline"

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        raise AssertionError(f"no resolve expected ({target.source})")

    async def channel_status(self, target: Target) -> ChannelStatus:
        raise AssertionError(f"no status call expected ({target.source})")

    async def batch_channel_status(self, targets: Sequence[Target]) -> list[ChannelStatus]:
        raise AssertionError("no status call expected")


class OtherSite(_Offline):
    """A second site: case-sensitive names with '-', room URLs on othersite.example."""

    name: ClassVar[str] = OTHER_SITE
    title: ClassVar[str] = "Other site"
    room_hosts: ClassVar[tuple[str, ...]] = ("othersite.example",)
    username_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,64}")
    case_insensitive: ClassVar[bool] = False


@contextmanager
def other_site_registered() -> Iterator[None]:
    discover_sources()
    register(OtherSite)
    try:
        yield
    finally:
        base._REGISTRY.pop(OTHER_SITE, None)


@asynccontextmanager
async def classifying_resolver() -> AsyncIterator[grpc.aio.Channel]:
    """A channel to a ResolverService serving chaturbate, hls and othersite."""
    with other_site_registered():
        resolver = Resolver({name: _Offline() for name in ("chaturbate", "hls", OTHER_SITE)})
        servicer = ResolverServicer(resolver)
        async with serving(
            lambda s: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(servicer, s),
            "streamrec.v1.ResolverService",
        ) as channel:
            yield channel
