"""One coroutine per command: build the request, make the call(s), write the result.

Reads and StartRecording (it carries a request id) are retried while the recorder cannot be
reached; stop, create, update and delete are sent once (a retry of one that had in fact gone
through would come back as an error). RunRetention is retried only as a dry run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from streamrec.v1 import (
    channel_service_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    session_pb2,
)
from streamrec_cli import messages, render, shapes
from streamrec_cli import watch as live
from streamrec_cli.client import EXIT_OK, PAGE_SIZE, Client


class Output:
    """stdout: one JSON document per command with ``--json``, else human text."""

    def __init__(self, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream if stream is not None else sys.stdout

    def emit(self, data: Any, text: str) -> None:
        self.stream.write(json.dumps(data, indent=2) + "\n" if self.as_json else text)
        self.stream.flush()


Command = Callable[[Client, argparse.Namespace, Output], Awaitable[int]]


# -- sessions --------------------------------------------------------------------------------


async def start(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = messages.start_request(args, client.request_id)
    reply: recorder_service_pb2.StartRecordingResponse = await client.retried(
        lambda t: client.recorder.StartRecording(request, timeout=t)
    )
    out.emit(shapes.session_json(reply.session), render.session_detail(reply.session))
    return EXIT_OK


async def stop(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = recorder_service_pb2.StopRecordingRequest(session_id=args.session_id)
    reply: recorder_service_pb2.StopRecordingResponse = await client.once(
        lambda t: client.recorder.StopRecording(request, timeout=t)
    )
    out.emit(shapes.session_json(reply.session), render.session_detail(reply.session))
    return EXIT_OK


async def list_sessions(client: Client, args: argparse.Namespace, out: Output) -> int:
    async def page(token: str, t: float) -> tuple[Sequence[session_pb2.Session], str]:
        request = recorder_service_pb2.ListSessionsRequest(
            page_size=PAGE_SIZE, page_token=token, include_ended=args.all
        )
        reply: recorder_service_pb2.ListSessionsResponse = await client.recorder.ListSessions(
            request, timeout=t
        )
        return reply.sessions, reply.next_page_token

    sessions = await client.all_pages(page)
    empty = "no sessions\n" if args.all else "no running sessions (--all adds ended ones)\n"
    text = render.sessions_table(sessions) if sessions else empty
    out.emit([shapes.session_json(s) for s in sessions], text)
    return EXIT_OK


# -- channels --------------------------------------------------------------------------------


async def channels_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = channel_service_pb2.CreateChannelRequest(channel=messages.channel(args))
    reply: channel_service_pb2.CreateChannelResponse = await client.once(
        lambda t: client.channels.CreateChannel(request, timeout=t)
    )
    out.emit(shapes.channel_json(reply.channel), render.channel_detail(reply.channel))
    return EXIT_OK


async def channels_ls(client: Client, args: argparse.Namespace, out: Output) -> int:
    async def page(token: str, t: float) -> tuple[Sequence[channel_service_pb2.Channel], str]:
        request = channel_service_pb2.ListChannelsRequest(
            page_size=PAGE_SIZE, page_token=token, source=args.site or ""
        )
        reply: channel_service_pb2.ListChannelsResponse = await client.channels.ListChannels(
            request, timeout=t
        )
        return reply.channels, reply.next_page_token

    channels = await client.all_pages(page)
    text = render.channels_table(channels) if channels else "the watch list is empty\n"
    out.emit([shapes.channel_json(c) for c in channels], text)
    return EXIT_OK


async def channels_set(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = messages.update_channel_request(args)
    reply: channel_service_pb2.UpdateChannelResponse = await client.once(
        lambda t: client.channels.UpdateChannel(request, timeout=t)
    )
    out.emit(shapes.channel_json(reply.channel), render.channel_detail(reply.channel))
    return EXIT_OK


async def channels_show(client: Client, args: argparse.Namespace, out: Output) -> int:
    source, username = messages.channel_ref(args.username, args.site)
    request = channel_service_pb2.GetChannelRequest(username=username, source=source)
    reply: channel_service_pb2.GetChannelResponse = await client.retried(
        lambda t: client.channels.GetChannel(request, timeout=t)
    )
    out.emit(shapes.channel_json(reply.channel), render.channel_detail(reply.channel))
    return EXIT_OK


async def channels_rm(client: Client, args: argparse.Namespace, out: Output) -> int:
    source, username = messages.channel_ref(args.username, args.site)
    key = f"{source}:{username}" if source else username
    request = channel_service_pb2.DeleteChannelRequest(username=username, source=source)
    await client.once(lambda t: client.channels.DeleteChannel(request, timeout=t))
    text = f"removed {key} from the watch list (its recordings stay)\n"
    out.emit({"username": username, "key": key, "deleted": True}, text)
    return EXIT_OK


# -- recordings ------------------------------------------------------------------------------


async def recordings_ls(client: Client, args: argparse.Namespace, out: Output) -> int:
    async def page(token: str, t: float) -> tuple[Sequence[recording_service_pb2.Recording], str]:
        request = recording_service_pb2.ListRecordingsRequest(
            person=args.person, page_size=PAGE_SIZE, page_token=token
        )
        reply: recording_service_pb2.ListRecordingsResponse = (
            await client.recordings.ListRecordings(request, timeout=t)
        )
        return reply.recordings, reply.next_page_token

    recordings = await client.all_pages(page)
    text = (
        render.recordings_table(recordings) if recordings else f"no recordings of {args.person}\n"
    )
    out.emit([shapes.recording_json(r) for r in recordings], text)
    return EXIT_OK


async def recordings_rm(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = recording_service_pb2.DeleteRecordingRequest(person=args.person, file_name=args.file)
    reply: recording_service_pb2.DeleteRecordingResponse = await client.once(
        lambda t: client.recordings.DeleteRecording(request, timeout=t)
    )
    data = {
        "person": args.person,
        "file": args.file,
        "deleted": True,
        "bytesFreed": reply.bytes_freed,
    }
    text = f"deleted {args.person}/{args.file} ({render.format_size(reply.bytes_freed)} freed)\n"
    out.emit(data, text)
    return EXIT_OK


async def recordings_pin(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = messages.pin_request(args)
    reply: recording_service_pb2.UpdateRecordingResponse = await client.once(
        lambda t: client.recordings.UpdateRecording(request, timeout=t)
    )
    r = reply.recording
    verb = "pinned" if r.pinned else "unpinned"
    out.emit(shapes.recording_json(r), f"{verb} {r.person}/{r.file_name}\n")
    return EXIT_OK


async def recordings_cleanup(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = recording_service_pb2.RunRetentionRequest(
        person=args.person or "", dry_run=args.dry_run
    )

    def call(t: float) -> Awaitable[recording_service_pb2.RunRetentionResponse]:
        response: Awaitable[recording_service_pb2.RunRetentionResponse] = (
            client.recordings.RunRetention(request, timeout=t)
        )
        return response

    reply = await (client.retried(call) if args.dry_run else client.once(call))
    out.emit(shapes.retention_json(reply), render.retention_text(reply))
    return EXIT_OK


async def disk(client: Client, args: argparse.Namespace, out: Output) -> int:
    request = recording_service_pb2.GetStorageRequest()
    reply: recording_service_pb2.GetStorageResponse = await client.retried(
        lambda t: client.recordings.GetStorage(request, timeout=t)
    )
    out.emit(shapes.disk_json(reply), render.disk_text(reply))
    return EXIT_OK


# -- watch -----------------------------------------------------------------------------------


async def watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    view = live.make_view(out.as_json, client.addr, out.stream)
    return await live.run(client, args.after, view)
