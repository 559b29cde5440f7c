"""Parsing the command line into requests: global options, StartRecording, the field mask of
``channels set``, sizes, and the usage errors (exit status 2)."""

from __future__ import annotations

import argparse

import pytest

from servicekit import correlation
from streamrec.v1 import quality_pb2, resolver_service_pb2
from streamrec_cli import commands, messages
from streamrec_cli.__main__ import DEFAULT_ADDR, parse_args


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_global_options_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMREC_ADDR", raising=False)
    args = parse_args(["ls"])
    assert args.addr == DEFAULT_ADDR == "127.0.0.1:50052"
    assert args.timeout == 30.0 and args.json is False and args.all is False
    assert args.request_id.startswith("cli-") and correlation.is_valid(args.request_id)
    assert parse_args(["ls"]).request_id != args.request_id  # a fresh one every time
    assert args.handler is commands.list_sessions


def test_addr_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_ADDR", "recorder:6000")
    assert parse_args(["ls"]).addr == "recorder:6000"
    assert parse_args(["--addr", "other:1", "ls"]).addr == "other:1"


def test_global_options_work_before_and_after_the_command() -> None:
    before = parse_args(["--json", "--addr", "a:1", "--timeout", "2", "--request-id", "r-1", "ls"])
    after = parse_args(["ls", "--json", "--addr", "a:1", "--timeout", "2", "--request-id", "r-1"])
    for args in (before, after):
        assert (args.json, args.addr, args.timeout, args.request_id) == (True, "a:1", 2.0, "r-1")
    nested = parse_args(["channels", "ls", "--json"])
    assert nested.json is True and nested.handler is commands.channels_ls


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["channels"],
        ["--timeout", "0", "ls"],
        ["--timeout", "soon", "ls"],
        ["--request-id", "bad id with spaces", "ls"],
        ["start"],
        ["start", "x", "--source", "rtmp"],
        ["start", "x", "--height", "0"],
        ["start", "x", "--policy", "exact"],  # a policy other than best needs a height
        ["watch", "--after", "-1"],
        ["channels", "add", "bob", "--max-bytes", "lots"],
        ["channels", "set", "bob"],  # nothing to change
        ["recordings", "rm", "bob"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(argv, capsys)
    assert "usage: streamrec" in err


def test_nothing_to_change_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert "nothing to change" in usage_error(["channels", "set", "bob"], capsys)


def test_start_request_carries_the_request_id_and_options() -> None:
    args = parse_args(
        ["--request-id", "r-42", "start", "http://cdn/x.m3u8", "--person", "alice", "--name", "A",
         "--source", "m3u8", "--height", "720"]
    )  # fmt: skip
    request = messages.start_request(args, args.request_id)
    assert request.request_id == "r-42"
    assert (request.target, request.person, request.name) == ("http://cdn/x.m3u8", "alice", "A")
    assert request.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    assert request.quality.height == 720
    assert request.quality.policy == quality_pb2.QUALITY_POLICY_CLOSEST  # --height alone
    assert not request.quality.HasField("fallback")  # unset means true


def test_start_without_quality_options_sends_none() -> None:
    args = parse_args(["start", "alice"])
    request = messages.start_request(args, "r")
    assert not request.HasField("quality")
    assert request.source_type == resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED
    explicit = parse_args(["start", "alice", "--height", "480", "--policy", "highest_below"])
    quality = messages.start_request(explicit, "r").quality
    assert quality.policy == quality_pb2.QUALITY_POLICY_HIGHEST_BELOW


@pytest.mark.parametrize(
    ("options", "mask"),
    [
        (["--no-auto"], ["auto_record"]),
        (["--auto"], ["auto_record"]),
        (["--retention-days", "0"], ["retention_days"]),  # an explicit 0 is a change too
        (["--auto", "--retention-days", "7"], ["auto_record", "retention_days"]),
        (["--target", ""], ["target"]),
        (["--height", "720"], ["quality"]),
        (["--policy", "best"], ["quality"]),
        (["--height", "480", "--policy", "exact"], ["quality"]),
        (
            ["--max-count", "3", "--max-bytes", "1G", "--name", "Bob", "--source", "m3u8"],
            ["source_type", "name", "max_bytes", "max_count"],
        ),
    ],
)
def test_channels_set_masks_exactly_the_options_given(options: list[str], mask: list[str]) -> None:
    args = parse_args(["channels", "set", "Bob", *options])
    assert args.handler is commands.channels_set
    request = messages.update_channel_request(args)
    assert list(request.update_mask.paths) == mask
    assert request.channel.username == "bob"


def test_channels_set_values() -> None:
    args = parse_args(["channels", "set", "bob", "--no-auto", "--max-bytes", "1.5G"])
    request = messages.update_channel_request(args)
    assert request.channel.auto_record is False
    assert request.channel.max_bytes == int(1.5 * 2**30)


def test_channels_add_defaults_to_auto_record() -> None:
    channel = messages.channel(parse_args(["channels", "add", "Bob"]))
    assert channel.username == "bob" and channel.auto_record is True
    assert not channel.HasField("quality")
    channel = messages.channel(
        parse_args(["channels", "add", "bob", "--no-auto", "--retention-days", "3",
                    "--max-count", "10", "--target", "http://cdn/x.m3u8"])
    )  # fmt: skip
    assert channel.auto_record is False
    assert (channel.retention_days, channel.max_count) == (3, 10)
    assert channel.target == "http://cdn/x.m3u8"


def test_recordings_options() -> None:
    pin = messages.pin_request(parse_args(["recordings", "pin", "bob", "a.ts"]))
    assert list(pin.update_mask.paths) == ["pinned"] and pin.recording.pinned is True
    unpin = messages.pin_request(parse_args(["recordings", "pin", "bob", "a.ts", "--unpin"]))
    assert unpin.recording.pinned is False and unpin.recording.file_name == "a.ts"
    cleanup = parse_args(["recordings", "cleanup", "--person", "bob", "--dry-run"])
    assert (cleanup.person, cleanup.dry_run) == ("bob", True)
    assert parse_args(["watch", "--after", "12"]).after == 12


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1048576", 2**20), ("1K", 1024), ("500M", 500 * 2**20), ("500MiB", 500 * 2**20),
     ("1.5GiB", int(1.5 * 2**30)), ("2t", 2 * 2**40), ("10 GB", 10 * 2**30)],
)  # fmt: skip
def test_byte_counts(text: str, value: int) -> None:
    assert messages.byte_count(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1", "1X", "1e3", str(2**64)])
def test_bad_byte_counts(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        messages.byte_count(text)
