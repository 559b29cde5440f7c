"""Parsed command-line options -> request messages (no I/O here, so it is easy to test)."""

from __future__ import annotations

import argparse
import re

from google.protobuf.field_mask_pb2 import FieldMask

from streamrec.v1 import (
    channel_service_pb2,
    quality_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
)

SOURCES = {
    "auto": resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED,
    "m3u8": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}
POLICIES = ("best", "exact", "closest", "highest_below", "lowest_above")
# UpdateChannel's field-mask paths, in the proto's order, with the options that set each one.
CHANNEL_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("target", ("target",)),
    ("source_type", ("source",)),
    ("name", ("name",)),
    ("auto_record", ("auto_record",)),
    ("retention_days", ("retention_days",)),
    ("max_bytes", ("max_bytes",)),
    ("max_count", ("max_count",)),
    ("quality", ("height", "policy")),
)
#: A site's registered name (the recorder says whether it exists).
SITE_RE = re.compile(r"[a-z][a-z0-9]{1,31}")
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_MAX_U64 = 2**64 - 1


class UsageError(Exception):
    """Options that parse but do not make sense together (exit status 2, like argparse's)."""


def non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def byte_count(text: str) -> int:
    """argparse type: bytes, as ``1048576``, ``500M``, ``1.5GiB`` or ``2T`` (powers of 1024)."""
    match = _BYTES.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 5000000, 500M, 1.5G): {text!r}")
    number, unit, _ = match.groups()
    value = int(float(number) * 1024 ** " kmgtp".index(unit.lower() or " "))
    if value > _MAX_U64:
        raise argparse.ArgumentTypeError(f"too large: {text!r}")
    return value


def quality(height: int | None, policy: str | None) -> quality_pb2.QualityPreference | None:
    """The wanted quality, or None when neither option was given. ``--height`` alone means
    the closest height; a policy other than ``best`` needs a height."""
    if height is None and policy is None:
        return None
    if policy is None:
        policy = "closest" if height else "best"
    if policy != "best" and not height:
        raise UsageError(f"--policy {policy} needs --height")
    return quality_pb2.QualityPreference(
        height=height or 0,
        policy=quality_pb2.QualityPolicy.Value(f"QUALITY_POLICY_{policy.upper()}"),
    )


def site_name(text: str) -> str:
    """argparse type: a site name (``stripchat``); whether it exists is the recorder's answer."""
    if not SITE_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"not a site name (2-32 lower-case letters and digits): {text!r}"
        )
    return text


def channel_ref(key: str, site: str | None) -> tuple[str, str]:
    """(source, username) of ``alice`` or ``stripchat:alice`` (``--site`` names the site when
    the key does not; both must agree). Source "" is the recorder's default site, whose names
    are case-insensitive (sent lower-cased); other sites' names go as written."""
    prefix, colon, name = key.partition(":")
    if not colon:
        return (site or "", key if site else key.lower())
    try:
        site_name(prefix)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{key!r}: {exc}") from None
    if site and site != prefix:
        raise UsageError(f"{key!r} is on site {prefix!r}, not --site {site}")
    if not name:
        raise UsageError(f"{key!r} names no username")
    return prefix, name


def start_request(
    args: argparse.Namespace, request_id: str
) -> recorder_service_pb2.StartRecordingRequest:
    """StartRecording; ``request_id`` makes a retried start return the same session."""
    return recorder_service_pb2.StartRecordingRequest(
        target=args.target,
        source_type=SOURCES[args.source],
        name=args.name or "",
        person=args.person or "",
        quality=quality(args.height, args.policy),
        request_id=request_id,
        source=args.site or "",
    )


def channel(args: argparse.Namespace) -> channel_service_pb2.Channel:
    """The channel the options describe (options not given keep the proto's defaults, except
    ``auto_record``, which is on unless ``--no-auto``)."""
    auto = args.auto_record
    source, username = channel_ref(args.username, args.site)
    return channel_service_pb2.Channel(
        username=username,
        source=source,
        target=args.target or "",
        source_type=SOURCES[args.source or "auto"],
        name=args.name or "",
        auto_record=True if auto is None else auto,
        retention_days=args.retention_days or 0,
        max_bytes=args.max_bytes or 0,
        max_count=args.max_count or 0,
        quality=quality(args.height, args.policy),
    )


def update_mask(args: argparse.Namespace) -> list[str]:
    """The field-mask paths of exactly the options given on the command line."""
    return [
        path
        for path, options in CHANNEL_FIELDS
        if any(getattr(args, option) is not None for option in options)
    ]


def update_channel_request(args: argparse.Namespace) -> channel_service_pb2.UpdateChannelRequest:
    paths = update_mask(args)
    if not paths:
        raise UsageError(
            "nothing to change: give at least one of --target, --source, --name, --auto/--no-auto,"
            " --retention-days, --max-bytes, --max-count, --height, --policy"
        )
    return channel_service_pb2.UpdateChannelRequest(
        channel=channel(args), update_mask=FieldMask(paths=paths)
    )


def pin_request(args: argparse.Namespace) -> recording_service_pb2.UpdateRecordingRequest:
    recording = recording_service_pb2.Recording(
        person=args.person, file_name=args.file, pinned=not args.unpin
    )
    return recording_service_pb2.UpdateRecordingRequest(
        recording=recording, update_mask=FieldMask(paths=["pinned"])
    )
