"""ChannelService over gRPC: the watch list, and channel status questions for clients.

Clients talk to the recorder only (the network policy allows gateway -> recorder ->
resolver), so channel status questions are passed on to the resolver from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from grpc import aio

from recorder_service.autorecord import ChannelRuntime
from recorder_service.convert import (
    channel_check_pb,
    channel_fields_from_pb,
    channel_pb,
    source_from_pb,
)
from recorder_service.model import Session
from recorder_service.ports import Classifier, StatusChecker
from recorder_service.recordings import page_bounds
from recorder_service.store import Channel
from recorder_service.watchlist import SETTABLE, WatchList, check_settings, identify
from servicekit.errors import InvalidArgument
from streamrec.v1 import channel_service_pb2, channel_service_pb2_grpc


class Resolver(StatusChecker, Classifier, Protocol):
    """What the channel service asks the resolver: status questions and what a target names."""


# Replaced by the watch list with the time of creation.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ChannelServicer(channel_service_pb2_grpc.ChannelServiceServicer):
    def __init__(
        self,
        resolver: Resolver,
        watchlist: WatchList,
        *,
        running: Callable[[], Sequence[Session]],
        runtime: Callable[[str], ChannelRuntime | None],
    ) -> None:
        self._resolver = resolver
        self._watchlist = watchlist
        self._running = running
        self._runtime = runtime

    def _pb(
        self, channel: Channel, recording: dict[str, str] | None = None
    ) -> channel_service_pb2.Channel:
        if recording is None:
            recording = self._recording()
        return channel_pb(
            channel,
            session_id=recording.get(channel.person, ""),
            runtime=self._runtime(channel.key),
        )

    def _recording(self) -> dict[str, str]:
        """person -> the session recording it now (built once per request)."""
        return {s.person: s.session_id for s in self._running()}

    async def CreateChannel(
        self, request: channel_service_pb2.CreateChannelRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.CreateChannelResponse:
        pb = request.channel
        fields = channel_fields_from_pb(pb)
        source = fields.pop("source_type")
        draft = check_settings(
            Channel(username=pb.username, created_at=_EPOCH, updated_at=_EPOCH, **fields)
        )  # bad settings are refused before the resolver is asked anything
        who = await identify(
            self._resolver, pb.username, pb.target, "" if source == "auto" else source
        )
        # A room URL target named the channel: it records by its username from now on.
        target = draft.target if who.source == "hls" or "://" not in draft.target else ""
        created = self._watchlist.create(
            replace(
                draft, source=who.source, username=who.username, person=who.person, target=target
            )
        )
        return channel_service_pb2.CreateChannelResponse(channel=self._pb(created))

    async def GetChannel(
        self, request: channel_service_pb2.GetChannelRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.GetChannelResponse:
        channel = self._watchlist.get(request.username, request.source.strip().lower())
        return channel_service_pb2.GetChannelResponse(channel=self._pb(channel))

    async def ListChannels(
        self, request: channel_service_pb2.ListChannelsRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.ListChannelsResponse:
        offset, size = page_bounds(request.page_size, request.page_token)
        rows = self._watchlist.page(offset, size + 1, request.source.strip().lower())
        recording = self._recording()
        return channel_service_pb2.ListChannelsResponse(
            channels=[self._pb(c, recording) for c in rows[:size]],
            next_page_token=str(offset + size) if len(rows) > size else "",
        )

    async def UpdateChannel(
        self, request: channel_service_pb2.UpdateChannelRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.UpdateChannelResponse:
        fields = channel_fields_from_pb(request.channel)
        paths = list(request.update_mask.paths) or list(SETTABLE)
        unknown = sorted(set(paths) - set(SETTABLE))
        if unknown:
            raise InvalidArgument(
                f"update_mask names fields that cannot change: {', '.join(unknown)}",
                reason="INVALID_UPDATE_MASK",
            )
        # The channel is found by its username (``stripchat:alice``) or username and source.
        source = request.channel.source.strip().lower()
        updated = self._watchlist.update(
            request.channel.username, {p: fields[p] for p in paths}, source
        )
        return channel_service_pb2.UpdateChannelResponse(channel=self._pb(updated))

    async def DeleteChannel(
        self, request: channel_service_pb2.DeleteChannelRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.DeleteChannelResponse:
        self._watchlist.delete(request.username, request.source.strip().lower())
        return channel_service_pb2.DeleteChannelResponse()

    async def CheckChannelStatus(
        self, request: channel_service_pb2.CheckChannelStatusRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.CheckChannelStatusResponse:
        source = source_from_pb(request.source, request.source_type)
        check = await self._resolver.channel_status(
            request.target, source or "auto", skip_cache=request.skip_cache
        )
        return channel_service_pb2.CheckChannelStatusResponse(status=channel_check_pb(check))
