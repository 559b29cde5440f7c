"""Names on disk: person folders and recording files, and the layout they make,
``OUTPUT_DIR/records/{person}/{file}`` (this module is its one owner). Nothing a client sends can
escape OUTPUT_DIR: names are validated (explicit) or slugified (inferred) before any path is
built."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from servicekit.errors import InvalidArgument
from servicekit.layout import RECORDS, records_root

__all__ = [
    "PICTURE_PART",
    "PICTURE_SUFFIXES",
    "RecordName",
    "inferred_person",
    "inside",
    "is_picture_file",
    "output_dir_of",
    "parse_record_name",
    "part_order",
    "person_dir",
    "picture_name",
    "picture_names",
    "picture_stem",
    "record_file",
    "record_file_glob",
    "record_file_name",
    "record_file_numbered",
    "record_file_pattern",
    "record_numbered_glob",
    "record_rel",
    "records_root",
    "room_image_name",
    "slugify",
    "split_record_rel",
    "stored_rel",
    "thumbs_dir",
    "validate_person",
]

_SLUG_BAD = re.compile(r"[^a-z0-9_-]+")
_MAX = 64
_CLEAN = re.compile(r"[a-z0-9_][a-z0-9_-]{0,63}")


def slugify(text: str, fallback: str = "stream") -> str:
    """A folder-safe name: lowercase ASCII letters, digits, ``_`` and ``-``, at most 64 chars."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _SLUG_BAD.sub("-", ascii_text.lower()).strip("-_")[:_MAX].strip("-_")
    return slug or fallback


def inferred_person(hint: str, target: str) -> str:
    """The folder of a session started without a person: the resolver's name for it when that
    is already a folder name (the resolver's rule, which keeps Windows device names such as
    ``con_`` apart from the device), else the slug of the hint or of the target."""
    if _CLEAN.fullmatch(hint):
        return hint
    return slugify(hint or target)


def validate_person(name: str) -> str:
    """Check an explicitly given person (recording folder) name and return its slug.

    Separators, ``..``, NUL and control characters are refused outright rather than
    slugified away: a client sending ``../etc`` gets an error, not a surprise folder.
    """
    if not name or not name.strip():
        raise InvalidArgument("person must not be empty", reason="INVALID_PERSON")
    if len(name) > 200:
        raise InvalidArgument("person is too long (max 200 characters)", reason="INVALID_PERSON")
    if any(ch in name for ch in "/\\\0") or ".." in name or name.strip().startswith("."):
        raise InvalidArgument(
            "person must be a plain name (no path separators, '..' or NUL)",
            reason="INVALID_PERSON",
        )
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidArgument("person has control characters", reason="INVALID_PERSON")
    lowered = name.strip().lower()
    if _CLEAN.fullmatch(lowered):
        # Already a folder name (e.g. a username): kept as is, so "anna_" and "anna" stay apart.
        return lowered
    slug = slugify(name, fallback="")
    if not slug:
        raise InvalidArgument("person has no usable characters", reason="INVALID_PERSON")
    return slug


# -- the layout: OUTPUT_DIR/records/{person}/{file} ------------------------------------------
#
# This module is the one place that builds or reads these paths (the folder's own name is in
# ``servicekit.layout``, which the gateway shares). ``rel`` is a recording's path relative to
# OUTPUT_DIR, ``records/{person}/{file}``: what the store keeps and clients are sent.


def _plain(name: str, what: str, reason: str) -> str:
    """``name`` if it is one plain path part: not empty, no separators, ``..``, NUL or control
    characters, not hidden. Safety, not style: a folder someone made by hand (``Old Stuff``) is
    plain too, so its files stay listed and cleaned up like the recorder's own."""
    bad = (
        not name
        or len(name) > 255
        or name.startswith(".")
        or ".." in name
        or any(ch in name for ch in "/\\\0")
        or any(unicodedata.category(ch).startswith("C") for ch in name)
    )
    if bad:
        raise InvalidArgument(f"{what} must be a plain name", reason=reason)
    return name


def _check_folder(person: str) -> str:
    return _plain(person, "person", "INVALID_PERSON")


def _check_file(file_name: str) -> str:
    """Also an ffmpeg name pattern (``%Y%m%d``, ``%d``)."""
    return _plain(file_name, "file name", "INVALID_FILE_NAME")


def person_dir(output_dir: Path, person: str) -> Path:
    """``OUTPUT_DIR/records/{person}``: a person's recordings."""
    return records_root(output_dir) / _check_folder(person)


def record_rel(person: str, file_name: str) -> str:
    """``records/{person}/{file}``, both names checked (InvalidArgument for a bad one)."""
    return stored_rel(_check_folder(person), _check_file(file_name))


def stored_rel(person: str, file_name: str) -> str:
    """``records/{person}/{file}`` unchecked: the key a stored row is known by, also for a row
    whose names are bad (logged and refused, never opened: open through ``record_file``)."""
    return f"{RECORDS}/{person}/{file_name}"


def split_record_rel(rel: str) -> tuple[str, str]:
    """``records/{person}/{file}`` -> ``(person, file)``; InvalidArgument (``INVALID_PATH``) for
    anything else (another folder, more or fewer parts, ``..``, an absolute path)."""
    head, sep, rest = rel.partition("/")
    person, sep2, file_name = rest.partition("/")
    if head != RECORDS or not sep or not sep2:
        raise InvalidArgument(f"not a recording path: {rel!r}", reason="INVALID_PATH")
    try:
        return _check_folder(person), _check_file(file_name)
    except InvalidArgument:
        raise InvalidArgument(f"not a recording path: {rel!r}", reason="INVALID_PATH") from None


def record_file(output_dir: Path, person: str, file_name: str) -> Path:
    """``OUTPUT_DIR/records/{person}/{file}`` after checking the names, and that the file (a
    symlink followed) stays inside ``records/``: InvalidArgument otherwise."""
    path = person_dir(output_dir, person) / _check_file(file_name)
    if records_root(output_dir).resolve() not in path.resolve().parents:
        raise InvalidArgument("path escapes the records folder", reason="INVALID_PATH")
    return path


def output_dir_of(record_path: Path) -> Path:
    """OUTPUT_DIR of a recording's path (``OUTPUT_DIR/records/{person}/{file}``)."""
    if len(record_path.parents) < 3 or record_path.parents[1].name != RECORDS:
        raise ValueError(f"not a recording path: {record_path}")
    return record_path.parents[2]


def record_file_name(person: str, started: datetime, session_id: str, part: int = 0) -> str:
    """``{person}_{YYYYMMDD_HHMMSS}_{session}[_pN].ts`` (local time, like the seed's files)."""
    suffix = f"_p{part}" if part else ""
    return f"{person}_{started.astimezone():%Y%m%d_%H%M%S}_{session_id}{suffix}.ts"


def record_file_pattern(person: str, session_id: str) -> str:
    """The strftime pattern ffmpeg's segment muxer names split parts with: each part carries
    its own local start time, so a part cut at midnight is named for its day."""
    return f"{person}_%Y%m%d_%H%M%S_{session_id}.ts"


def record_file_glob(person: str, session_id: str) -> str:
    """Matches every part a split session wrote (see ``record_file_pattern``)."""
    return f"{person}_*_{session_id}.ts"


def record_file_numbered(person: str, started: datetime, session_id: str) -> str:
    """The pattern ffmpeg numbers size-split parts with: ``..._{session}_p0.ts``, ``_p1``..."""
    return record_file_name(person, started, session_id).removesuffix(".ts") + "_p%d.ts"


def record_numbered_glob(person: str, session_id: str) -> str:
    """Matches every part a size-split session wrote."""
    return f"{person}_*_{session_id}_p*.ts"


_RECORD_NAME = re.compile(
    r"^(?P<person>[a-z0-9_-]+)_(?P<stamp>\d{8}_\d{6})_(?P<session>[0-9a-f]{12})"
    r"(?:_p(?P<part>\d{1,4}))?\.(?P<ext>ts|mp4)$"
)


@dataclass(frozen=True)
class RecordName:
    """What a recording's file name says about it."""

    person: str
    started: datetime
    session_id: str
    part: int
    ext: str


def parse_record_name(file_name: str) -> RecordName | None:
    """Read back a name made by ``record_file_name`` or ``record_file_pattern``; None for any
    other name (a file someone put there by hand)."""
    m = _RECORD_NAME.fullmatch(file_name)
    if m is None:
        return None
    try:
        started = datetime.strptime(m["stamp"], "%Y%m%d_%H%M%S").astimezone()
    except ValueError:
        return None
    return RecordName(m["person"], started, m["session"], int(m["part"] or 0), m["ext"])


def part_order(path: Path) -> tuple[datetime, int, str]:
    """Sort key of recording parts: start time, then part number (_p10 after _p9), then name."""
    parsed = parse_record_name(path.name)
    if parsed is None:
        return (datetime.min.replace(tzinfo=UTC), 0, path.name)
    return (parsed.started, parsed.part, path.name)


def inside(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``, refusing anything that would land outside it."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise InvalidArgument("path escapes the data folder", reason="INVALID_PATH")
    return path


# -- pictures ---------------------------------------------------------------------------------

#: A recording's pictures, beside it: ``{stem}{suffix}`` (``.ts`` and ``.mp4`` of one stem, the
#: TS a remux keeps with KEEP_TS, share them).
PICTURE_SUFFIXES = {"poster": ".poster.jpg", "sheet": ".sheet.jpg", "sheet_index": ".sheet.json"}
#: Pictures being written (renamed into place when whole; leftovers removed at start).
PICTURE_PART = ".part"


def picture_name(file_name: str, kind: str) -> str:
    """``alice_20250601_120000_0123456789ab.mp4``, ``poster`` ->
    ``alice_20250601_120000_0123456789ab.poster.jpg`` (KeyError for an unknown kind)."""
    return Path(file_name).stem + PICTURE_SUFFIXES[kind]


def picture_names(file_name: str) -> list[str]:
    """Every picture a recording may have."""
    return [picture_name(file_name, kind) for kind in PICTURE_SUFFIXES]


def is_picture_file(file_name: str) -> bool:
    """A recording's picture, or one being written."""
    name = file_name.removesuffix(PICTURE_PART)
    return any(name.endswith(suffix) for suffix in PICTURE_SUFFIXES.values())


def picture_stem(file_name: str) -> str:
    """The recording stem a picture (or one being written) belongs to."""
    name = file_name.removesuffix(PICTURE_PART)
    for suffix in PICTURE_SUFFIXES.values():
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return Path(name).stem


def thumbs_dir(output_dir: Path) -> Path:
    """``OUTPUT_DIR/thumbs``: the channels' room images (the last good one of each)."""
    return output_dir / "thumbs"


def room_image_name(channel: str, extension: str) -> str:
    """``{channel}.{jpg|png|gif|webp}`` for a channel name already checked as a folder name."""
    if not _CLEAN.fullmatch(channel) or extension not in ("jpg", "png", "gif", "webp"):
        raise InvalidArgument("not a channel name or image type", reason="INVALID_PATH")
    return f"{channel}.{extension}"
