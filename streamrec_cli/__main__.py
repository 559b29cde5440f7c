"""Entry point of the ``streamrec`` command: options, then one command over gRPC.

Exit status: 0 done, 1 the recorder reported an error, 2 bad usage, 3 the recorder could not
be reached, 4 not found (130 when interrupted, except ``watch``, which Ctrl-C ends with 0)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from servicekit import correlation
from streamrec_cli import commands, messages, notify
from streamrec_cli.client import EXIT_OK, EXIT_USAGE, Client, Failure

DEFAULT_ADDR = "127.0.0.1:50052"
EXIT_INTERRUPTED = 130

_EPILOG = """\
exit status: 0 done, 1 the recorder reported an error, 2 bad usage, 3 the recorder is
unreachable, 4 not found. Global options may also follow the command."""


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _request_id(text: str) -> str:
    if not correlation.is_valid(text):
        raise argparse.ArgumentTypeError(
            "1-128 characters: letters, digits and ._:/+=- (starting with a letter or digit)"
        )
    return text


def _add_globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options. On the subcommands (``suppress``) they default to SUPPRESS and have
    no help line, so that one given after the command wins and one given before is kept."""

    def add(flag: str, default: object, help_text: str, **kw: Any) -> None:
        parser.add_argument(
            flag,
            default=argparse.SUPPRESS if suppress else default,
            help=argparse.SUPPRESS if suppress else help_text,
            **kw,
        )

    add(
        "--addr",
        os.environ.get("STREAMREC_ADDR") or DEFAULT_ADDR,
        f"the recorder's gRPC address (default: $STREAMREC_ADDR, else {DEFAULT_ADDR})",
        metavar="HOST:PORT",
    )
    add(
        "--timeout",
        30.0,
        "seconds for the whole command, retries included; for watch, for connecting (default: 30)",
        type=_positive_seconds,
        metavar="SECONDS",
    )
    add(
        "--json",
        False,
        "machine-readable output: one JSON document (watch: one object per line per event)",
        action="store_true",
    )
    add(
        "--request-id",
        None,
        "sent as x-request-id, and the idempotency key of start (default: a fresh id)",
        type=_request_id,
        metavar="ID",
    )


def _add_quality(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--height",
        type=messages.positive,
        metavar="H",
        help="wanted picture height (alone: the closest one on offer)",
    )
    parser.add_argument(
        "--policy",
        choices=messages.POLICIES,
        help="how --height picks a variant (default: closest with --height, else best)",
    )


def _add_site(parser: argparse.ArgumentParser, what: str = "the channel's site") -> None:
    parser.add_argument(
        "--site",
        type=messages.site_name,
        metavar="SITE",
        help=f"{what} (chaturbate, stripchat, ...; default: the default site)",
    )


def _add_channel_options(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    parser.add_argument(
        "username", help="the username (default site) or site:username, e.g. stripchat:alice"
    )
    _add_site(parser)
    parser.add_argument(
        "--target",
        metavar="URL",
        help="an http(s) .m3u8 URL to record instead of the username"
        + ("" if adding else " ('' records the username again)"),
    )
    parser.add_argument(
        "--source",
        choices=tuple(messages.SOURCES),
        help="how to read the target" + (" (default: auto)" if adding else ""),
    )
    parser.add_argument("--name", help="display name (default: the username)")
    if adding:
        parser.add_argument(
            "--no-auto",
            dest="auto_record",
            action="store_false",
            default=None,
            help="do not record automatically when the channel goes online",
        )
    else:
        parser.add_argument(
            "--auto",
            dest="auto_record",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="record automatically when the channel goes online",
        )
    parser.add_argument(
        "--retention-days",
        type=messages.non_negative,
        metavar="N",
        help="delete recordings older than N days (0: keep them)",
    )
    parser.add_argument(
        "--max-bytes",
        type=messages.byte_count,
        metavar="N",
        help="keep at most this much, oldest deleted first (e.g. 500G; 0: no limit)",
    )
    parser.add_argument(
        "--max-count",
        type=messages.non_negative,
        metavar="N",
        help="keep at most N recordings, oldest deleted first (0: no limit)",
    )
    _add_quality(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamrec",
        description="Drive a streamrec recorder over gRPC.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_globals(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_globals(common, suppress=True)
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def leaf(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: commands.Command,
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler, parser=sub)
        return sub

    sub = leaf(top, "start", commands.start, "start recording a username or a playlist URL")
    sub.add_argument("target", help="a username or an http(s) .m3u8 URL")
    sub.add_argument("--name", help="display name")
    sub.add_argument("--person", help="recording folder (default: inferred from the target)")
    sub.add_argument("--source", choices=tuple(messages.SOURCES), default="auto")
    _add_site(sub, "the site of a username target (also a site:username target)")
    _add_quality(sub)

    sub = leaf(top, "stop", commands.stop, "stop a session and finalize its file")
    sub.add_argument("session_id")

    sub = leaf(top, "ls", commands.list_sessions, "list the running sessions")
    sub.add_argument("--all", action="store_true", help="also the sessions that have ended")

    sub = leaf(top, "watch", commands.watch, "a live table of the sessions and their progress")
    sub.add_argument(
        "--after",
        type=messages.non_negative,
        default=0,
        metavar="SEQ",
        help="replay the events after this sequence instead of starting with a snapshot",
    )

    channels = top.add_parser("channels", help="the watch list", description="the watch list")
    ch = channels.add_subparsers(dest="channels_command", required=True, metavar="COMMAND")
    sub = leaf(ch, "add", commands.channels_add, "watch a channel")
    _add_channel_options(sub, adding=True)
    sub = leaf(ch, "ls", commands.channels_ls, "list the watched channels")
    _add_site(sub, "only the channels of this site")
    sub = leaf(ch, "show", commands.channels_show, "one watched channel")
    sub.add_argument("username", help="username (default site) or site:username")
    _add_site(sub)
    sub = leaf(ch, "rm", commands.channels_rm, "stop watching a channel (recordings stay)")
    sub.add_argument("username", help="username (default site) or site:username")
    _add_site(sub)
    sub = leaf(ch, "set", commands.channels_set, "change the given settings of a channel")
    _add_channel_options(sub, adding=False)

    recordings = top.add_parser("recordings", help="recording files", description="recording files")
    rec = recordings.add_subparsers(dest="recordings_command", required=True, metavar="COMMAND")
    sub = leaf(rec, "ls", commands.recordings_ls, "list a person's recordings, newest first")
    sub.add_argument("person")
    sub = leaf(rec, "rm", commands.recordings_rm, "delete a recording file")
    sub.add_argument("person")
    sub.add_argument("file")
    sub = leaf(rec, "pin", commands.recordings_pin, "keep a recording from retention")
    sub.add_argument("person")
    sub.add_argument("file")
    sub.add_argument("--unpin", action="store_true", help="let retention delete it again")
    sub = leaf(rec, "cleanup", commands.recordings_cleanup, "apply the retention settings now")
    sub.add_argument("--person", help="only this person's recordings")
    sub.add_argument("--dry-run", action="store_true", help="only report what would go")

    leaf(top, "disk", commands.disk, "disk usage of the recordings' file system")
    notify.add_parser(top, leaf)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (exits with status 2 on bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.request_id is None:
        args.request_id = correlation.new_id("cli-")
    try:
        _check(args)
    except messages.UsageError as exc:
        args.parser.error(str(exc))
    return args


def _check(args: argparse.Namespace) -> None:
    """Combinations argparse cannot check by itself (raises UsageError)."""
    if hasattr(args, "height"):
        messages.quality(args.height, args.policy)
    if args.handler is commands.channels_set:
        messages.update_channel_request(args)
    if args.handler in (commands.channels_add, commands.channels_show, commands.channels_rm):
        messages.channel_ref(args.username, args.site)


async def _run(args: argparse.Namespace) -> int:
    out = commands.Output(args.json)
    async with Client.connect(args.addr, args.timeout, args.request_id) as client:
        code: int = await args.handler(client, args, out)
        return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Retries log warnings through `logging`; without this they would reach stderr.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        return asyncio.run(_run(args))
    except Failure as failure:
        sys.stderr.write(failure.line(args.request_id))
        return failure.exit_code
    except KeyboardInterrupt:
        return EXIT_OK if args.handler is commands.watch else EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``streamrec ls | head``): say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


__all__ = ["EXIT_USAGE", "build_parser", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
