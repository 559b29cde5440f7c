"""The watch list across sites in the CLI: ``--site`` and ``site:user`` keys on add, show, rm,
set and ls, a SITE column, site and key in JSON; over real gRPC to the fake recorder of the
gateway tests (channels keyed by (source, username))."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpc import aio

from servicekit.grpc_server import build_server
from streamrec.v1 import channel_service_pb2_grpc as ch_grpc
from streamrec.v1 import session_pb2
from streamrec_cli import commands, messages, render, shapes
from streamrec_cli.__main__ import parse_args
from streamrec_cli.client import Client, Failure
from tests.gateway.fake_recorder import FakeChannels


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        (["channels", "add", "Alice"], ("", "alice")),
        (["channels", "add", "stripchat:alice"], ("stripchat", "alice")),
        (["channels", "add", "alice", "--site", "stripchat"], ("stripchat", "alice")),
        (["channels", "add", "stripchat:alice", "--site", "stripchat"], ("stripchat", "alice")),
        (["channels", "set", "cam4:Bob", "--name", "B"], ("cam4", "Bob")),
    ],
)
def test_a_channel_is_a_site_and_a_username(argv: list[str], where: tuple[str, str]) -> None:
    channel = messages.channel(parse_args(argv))
    assert (channel.source, channel.username) == where


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["channels", "add", "alice", "--site", "Strip"], "not a site name"),
        (["channels", "add", "Strip:alice"], "not a site name"),
        (["channels", "add", "cam4:alice", "--site", "stripchat"], "not --site stripchat"),
        (["channels", "rm", "stripchat:"], "names no username"),
        (["channels", "show", "x:alice"], "not a site name"),
        (["channels", "ls", "--site", "-x"], "--site"),
        (["start", "alice", "--site", "UPPER"], "not a site name"),
    ],
)
def test_malformed_sites_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert says in usage_error(argv, capsys)


def test_start_names_the_site() -> None:
    args = parse_args(["start", "alice", "--site", "stripchat"])
    assert messages.start_request(args, "r").source == "stripchat"
    assert messages.start_request(parse_args(["start", "alice"]), "r").source == ""


def test_a_session_shows_its_site() -> None:
    session = session_pb2.Session(session_id="s1", person="stripchat-alice", source="stripchat")
    assert shapes.session_json(session)["site"] == "stripchat"
    assert ["site", "stripchat"] in [
        line.split() for line in render.session_detail(session).splitlines()
    ]


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[FakeChannels, str]]:
    channels = FakeChannels()

    def register(server: aio.Server) -> None:
        ch_grpc.add_ChannelServiceServicer_to_server(channels, server)

    app = build_server(register, ["streamrec.v1.ChannelService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield channels, f"127.0.0.1:{app.port}"
    finally:
        await app.server.stop(0)


async def run(addr: str, *argv: str) -> tuple[int, str]:
    """One CLI command against ``addr``: its exit status and what it printed."""
    args = parse_args(["--addr", addr, *argv])
    printed = io.StringIO()
    async with Client.connect(args.addr, 10, args.request_id) as client:
        code: int = await args.handler(client, args, commands.Output(args.json, printed))
    return code, printed.getvalue()


async def run_json(addr: str, *argv: str) -> Any:
    code, printed = await run(addr, "--json", *argv)
    assert code == 0, printed
    return json.loads(printed)


async def test_the_same_name_on_two_sites_through_the_cli(
    recorder: tuple[FakeChannels, str],
) -> None:
    fake, addr = recorder
    one = await run_json(addr, "channels", "add", "alice")
    two = await run_json(addr, "channels", "add", "alice", "--site", "stripchat")
    assert (one["site"], one["key"]) == ("chaturbate", "alice")
    assert (two["site"], two["key"]) == ("stripchat", "stripchat:alice")
    await run_json(addr, "channels", "add", "cam4:bob")

    code, table = await run(addr, "channels", "ls")
    assert code == 0
    rows = [line.split()[:2] for line in table.splitlines()]
    assert rows[0] == ["SITE", "USERNAME"]
    assert sorted(rows[1:]) == [["cam4", "bob"], ["chaturbate", "alice"], ["stripchat", "alice"]]

    only = await run_json(addr, "channels", "ls", "--site", "stripchat")
    assert [c["key"] for c in only] == ["stripchat:alice"]
    assert fake.seen.calls[-1].request.source == "stripchat"

    shown = await run_json(addr, "channels", "show", "stripchat:alice")
    assert shown["site"] == "stripchat"
    code, detail = await run(addr, "channels", "show", "alice", "--site", "stripchat")
    pairs = [line.split() for line in detail.splitlines()]
    assert ["key", "stripchat:alice"] in pairs and ["site", "stripchat"] in pairs

    changed = await run_json(addr, "channels", "set", "stripchat:alice", "--name", "S")
    assert (changed["key"], changed["name"]) == ("stripchat:alice", "S")
    assert (await run_json(addr, "channels", "show", "alice"))["name"] == ""

    removed = await run_json(addr, "channels", "rm", "stripchat:alice")
    assert removed == {"username": "alice", "key": "stripchat:alice", "deleted": True}
    assert sorted(fake.channels) == [("cam4", "bob"), ("chaturbate", "alice")]


async def test_an_unknown_site_is_the_recorders_answer(
    recorder: tuple[FakeChannels, str],
) -> None:
    _, addr = recorder
    with pytest.raises(Failure) as caught:
        await run(addr, "channels", "add", "alice", "--site", "nosuchsite")
    assert caught.value.reason == "UNKNOWN_SOURCE_TYPE"
