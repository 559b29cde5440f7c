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
from servicekit.errors import AlreadyExists, FailedPrecondition, NotFound
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


class FakeChannels(ch_grpc.ChannelServiceServicer):
    def __init__(self) -> None:
        self.seen = Recorder()
        self.channels: dict[str, ch.Channel] = {}

    def add(self, channel: ch.Channel) -> ch.Channel:
        self.channels[channel.username] = channel
        return channel

    def _get(self, username: str) -> ch.Channel:
        if username not in self.channels:
            raise NotFound(f"channel {username} is not watched", reason="CHANNEL_NOT_FOUND")
        return self.channels[username]

    async def CreateChannel(self, request: Any, context: Any) -> ch.CreateChannelResponse:
        await self.seen.enter("CreateChannel", request, context)
        channel = ch.Channel()
        channel.CopyFrom(request.channel)
        channel.username = channel.username.lower()
        if channel.username in self.channels:
            raise AlreadyExists(f"{channel.username} is watched already", reason="CHANNEL_EXISTS")
        channel.create_time.FromJsonString("2025-06-01T12:00:00.123456Z")
        channel.update_time.CopyFrom(channel.create_time)
        return ch.CreateChannelResponse(channel=self.add(channel))

    async def GetChannel(self, request: Any, context: Any) -> ch.GetChannelResponse:
        await self.seen.enter("GetChannel", request, context)
        return ch.GetChannelResponse(channel=self._get(request.username))

    async def ListChannels(self, request: Any, context: Any) -> ch.ListChannelsResponse:
        await self.seen.enter("ListChannels", request, context)
        page, token = _page(sorted(self.channels.values(), key=lambda c: c.username), request)
        return ch.ListChannelsResponse(channels=page, next_page_token=token)

    async def UpdateChannel(self, request: Any, context: Any) -> ch.UpdateChannelResponse:
        await self.seen.enter("UpdateChannel", request, context)
        channel = self._get(request.channel.username)
        request.update_mask.MergeMessage(request.channel, channel, replace_message_field=True)
        return ch.UpdateChannelResponse(channel=channel)

    async def DeleteChannel(self, request: Any, context: Any) -> ch.DeleteChannelResponse:
        await self.seen.enter("DeleteChannel", request, context)
        self._get(request.username)
        del self.channels[request.username]
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
