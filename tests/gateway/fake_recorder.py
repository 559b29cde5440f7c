"""Fake recorder-side servicers (ChannelService, RecordingService) for the gateway tests.

Small in-memory implementations: they record every request (and the correlation id it came
with), answer from a dict, and raise domain errors that the production server interceptor maps
to a status with an ErrorInfo reason, exactly as the real services do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from servicekit import correlation
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from streamrec.v1 import channel_service_pb2 as ch
from streamrec.v1 import channel_service_pb2_grpc as ch_grpc
from streamrec.v1 import recording_service_pb2 as rec
from streamrec.v1 import recording_service_pb2_grpc as rec_grpc

#: The fakes answer List calls in pages this small, so paging is always exercised.
FAKE_PAGE = 2
UNAVAILABLE = "UNAVAILABLE"  # queue this to fail a call the way an unreachable service does


def ts(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


@dataclass
class Call:
    method: str
    request: Any
    correlation_id: str | None


@dataclass
class Recorder:
    """What a fake saw, and failures queued for its next calls (by method name)."""

    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[BaseException | str]] = field(default_factory=dict)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def fail_next(self, method: str, error: BaseException | str) -> None:
        self.failures.setdefault(method, []).append(error)

    async def enter(self, method: str, request: Message, context: aio.ServicerContext) -> None:
        self.calls.append(Call(method, request, correlation.get()))
        queued = self.failures.get(method)
        if queued:
            error = queued.pop(0)
            if error == UNAVAILABLE:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused")
            assert isinstance(error, BaseException)
            raise error


def _page(items: list[Any], request: Any) -> tuple[list[Any], str]:
    start = int(request.page_token or 0)
    end = start + FAKE_PAGE
    return items[start:end], str(end) if end < len(items) else ""


#: The fake's default site, as the real recorder's (bare usernames are on it).
DEFAULT_SITE = "chaturbate"
#: Sites the fake knows; any other is refused as the recorder refuses it.
KNOWN_SITES = frozenset({"chaturbate", "stripchat", "bongacams", "cam4", "myfreecams", "camsoda"})


def fake_key(source: str, username: str) -> str:
    return username if source == DEFAULT_SITE else f"{source}:{username}"


class FakeChannels(ch_grpc.ChannelServiceServicer):
    """The watch list keyed by (source, username), as the recorder keys it: the same name on
    two sites is two channels."""

    def __init__(self) -> None:
        self.seen = Recorder()
        self.channels: dict[tuple[str, str], ch.Channel] = {}

    def add(self, channel: ch.Channel) -> ch.Channel:
        if not channel.source:
            channel.source = DEFAULT_SITE
        channel.key = fake_key(channel.source, channel.username)
        self.channels[(channel.source, channel.username)] = channel
        return channel

    @staticmethod
    def _where(username: str, source: str) -> tuple[str, str]:
        """(source, username) of a request: its source, else the name's "source:" prefix,
        else the default site; an unknown site is INVALID_ARGUMENT as in the recorder."""
        if not source and ":" in username:
            source, _, username = username.partition(":")
        source = source or DEFAULT_SITE
        if source not in KNOWN_SITES:
            raise InvalidArgument(f"unknown source {source!r}", reason="UNKNOWN_SOURCE_TYPE")
        return source, username.lower()

    def _get(self, username: str, source: str = "") -> ch.Channel:
        where = self._where(username, source)
        if where not in self.channels:
            key = fake_key(*where)
            raise NotFound(f"channel {key} is not watched", reason="CHANNEL_NOT_FOUND")
        return self.channels[where]

    async def CreateChannel(self, request: Any, context: Any) -> ch.CreateChannelResponse:
        await self.seen.enter("CreateChannel", request, context)
        channel = ch.Channel()
        channel.CopyFrom(request.channel)
        channel.source, channel.username = self._where(channel.username, channel.source)
        if (channel.source, channel.username) in self.channels:
            key = fake_key(channel.source, channel.username)
            raise AlreadyExists(f"{key} is watched already", reason="CHANNEL_EXISTS")
        channel.create_time.FromJsonString("2025-06-01T12:00:00.123456Z")
        channel.update_time.CopyFrom(channel.create_time)
        return ch.CreateChannelResponse(channel=self.add(channel))

    async def GetChannel(self, request: Any, context: Any) -> ch.GetChannelResponse:
        await self.seen.enter("GetChannel", request, context)
        return ch.GetChannelResponse(channel=self._get(request.username, request.source))

    async def ListChannels(self, request: Any, context: Any) -> ch.ListChannelsResponse:
        await self.seen.enter("ListChannels", request, context)
        if request.source and request.source not in KNOWN_SITES:
            raise InvalidArgument(
                f"unknown source {request.source!r}", reason="UNKNOWN_SOURCE_TYPE"
            )
        mine = [c for c in self.channels.values() if request.source in ("", c.source)]
        page, token = _page(sorted(mine, key=lambda c: (c.username, c.source)), request)
        return ch.ListChannelsResponse(channels=page, next_page_token=token)

    async def UpdateChannel(self, request: Any, context: Any) -> ch.UpdateChannelResponse:
        await self.seen.enter("UpdateChannel", request, context)
        channel = self._get(request.channel.username, request.channel.source)
        request.update_mask.MergeMessage(request.channel, channel, replace_message_field=True)
        return ch.UpdateChannelResponse(channel=channel)

    async def DeleteChannel(self, request: Any, context: Any) -> ch.DeleteChannelResponse:
        await self.seen.enter("DeleteChannel", request, context)
        channel = self._get(request.username, request.source)
        del self.channels[(channel.source, channel.username)]
        return ch.DeleteChannelResponse()

    async def CheckChannelStatus(
        self, request: Any, context: Any
    ) -> ch.CheckChannelStatusResponse:  # not used by these routes
        await self.seen.enter("CheckChannelStatus", request, context)
        return ch.CheckChannelStatusResponse()


class FakeRecordings(rec_grpc.RecordingServiceServicer):
    def __init__(self) -> None:
        self.seen = Recorder()
        self.recordings: dict[tuple[str, str], rec.Recording] = {}
        self.retention = rec.RunRetentionResponse()
        self.storage = rec.GetStorageResponse()

    def add(self, recording: rec.Recording) -> rec.Recording:
        self.recordings[(recording.person, recording.file_name)] = recording
        return recording

    def _get(self, person: str, file_name: str) -> rec.Recording:
        if (person, file_name) not in self.recordings:
            raise NotFound(f"no recording {person}/{file_name}", reason="RECORDING_NOT_FOUND")
        return self.recordings[(person, file_name)]

    async def ListRecordings(self, request: Any, context: Any) -> rec.ListRecordingsResponse:
        await self.seen.enter("ListRecordings", request, context)
        mine = [r for (person, _), r in self.recordings.items() if person == request.person]
        page, token = _page(mine, request)
        return rec.ListRecordingsResponse(recordings=page, next_page_token=token)

    async def GetRecording(self, request: Any, context: Any) -> rec.GetRecordingResponse:
        await self.seen.enter("GetRecording", request, context)
        return rec.GetRecordingResponse(recording=self._get(request.person, request.file_name))

    async def UpdateRecording(self, request: Any, context: Any) -> rec.UpdateRecordingResponse:
        await self.seen.enter("UpdateRecording", request, context)
        found = self._get(request.recording.person, request.recording.file_name)
        request.update_mask.MergeMessage(request.recording, found, replace_message_field=True)
        return rec.UpdateRecordingResponse(recording=found)

    async def DeleteRecording(self, request: Any, context: Any) -> rec.DeleteRecordingResponse:
        await self.seen.enter("DeleteRecording", request, context)
        found = self._get(request.person, request.file_name)
        if found.state == rec.RECORDING_STATE_WRITING:
            raise FailedPrecondition("it is being written", reason="RECORDING_IN_PROGRESS")
        del self.recordings[(request.person, request.file_name)]
        return rec.DeleteRecordingResponse(bytes_freed=found.size_bytes)

    async def RunRetention(self, request: Any, context: Any) -> rec.RunRetentionResponse:
        await self.seen.enter("RunRetention", request, context)
        reply = rec.RunRetentionResponse()
        reply.CopyFrom(self.retention)
        reply.dry_run = request.dry_run
        return reply

    async def GetStorage(self, request: Any, context: Any) -> rec.GetStorageResponse:
        await self.seen.enter("GetStorage", request, context)
        return self.storage


@dataclass
class Fakes:
    """Both fakes and the port they are served on."""

    channels: FakeChannels
    recordings: FakeRecordings
    port: int

    def calls(self) -> list[str]:
        return self.channels.seen.methods() + self.recordings.seen.methods()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    """The gateway's one error shape, with the correlation id echoed in X-Request-ID."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "code", "correlation_id"}, body
    assert body["detail"] and body["correlation_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
