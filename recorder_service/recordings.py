"""Recording files as clients see them: list, get, pin and delete. No gRPC in here.

The store is the index; the disk is the truth for a growing file's size. Names a client sends
are checked before any path is built, and a file being written or finalized cannot be deleted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from recorder_service.paths import person_dir, record_file
from recorder_service.recording_pictures import pictures_present, remove_pictures
from recorder_service.store import GapRecord, Recording, RecordingState, Store
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_PERSON = re.compile(r"^[a-z0-9_-]{1,64}$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\.(ts|mp4)$")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def check_person(person: str) -> str:
    """A recording folder name as the recorder makes them (lower-case slug)."""
    person = (person or "").lower()
    if not _PERSON.fullmatch(person):
        raise InvalidArgument(
            "person must be 1 to 64 letters, digits, '_' or '-'", reason="INVALID_PERSON"
        )
    return person


def check_file_name(name: str) -> str:
    if not _FILE.fullmatch(name or "") or ".." in name:
        raise InvalidArgument(
            "file name must be a plain .ts or .mp4 name", reason="INVALID_FILE_NAME"
        )
    return name


def page_bounds(page_size: int, page_token: str) -> tuple[int, int]:
    """(offset, size) from AIP-158 paging fields; the token is an offset."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", reason="INVALID_PAGE_SIZE")
    try:
        offset = int(page_token) if page_token else 0
        if not 0 <= offset < 2**62:
            raise ValueError
    except ValueError:
        raise InvalidArgument("invalid page_token", reason="INVALID_PAGE_TOKEN") from None
    return offset, min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class RecordingView:
    """A recording with what the index alone does not say: parts and gaps."""

    recording: Recording
    parts: int
    gaps: tuple[GapRecord, ...]
    has_poster: bool = False
    has_sheet: bool = False


class RecordingIndex:
    def __init__(
        self, store: Store, output_dir: Path, active_paths: Callable[[], Collection[str]]
    ) -> None:
        self._store = store
        self._out = output_dir
        self._active = active_paths

    def _view(self, r: Recording) -> RecordingView:
        if r.state is RecordingState.WRITING:
            try:  # the index is updated at the end; the disk knows the size now
                r = replace(r, size_bytes=(self._out / r.path).stat().st_size)
            except FileNotFoundError:
                pass
        parts = (
            len({x.part for x in self._store.recordings_of_session(r.session_id)})
            if r.session_id
            else 1
        )
        pictures = (False, False)
        if not r.state.busy:
            pictures = pictures_present(person_dir(self._out, r.person), r.file_name)
        return RecordingView(r, max(parts, 1), tuple(self._store.gaps_of(r.path)), *pictures)

    def list(
        self, person: str, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[RecordingView], str]:
        """A person's recordings, newest first; (page, next_page_token)."""
        person = check_person(person)
        offset, size = page_bounds(page_size, page_token)
        rows = self._store.list_recordings(person, offset, size + 1)
        token = str(offset + size) if len(rows) > size else ""
        return [self._view(r) for r in rows[:size]], token

    def _row(self, person: str, file_name: str) -> Recording:
        person, file_name = check_person(person), check_file_name(file_name)
        row = self._store.get_recording(person, file_name)
        if row is None:
            raise NotFound(
                f"no recording {file_name!r} for {person!r}", reason="RECORDING_NOT_FOUND"
            )
        return row

    def get(self, person: str, file_name: str) -> RecordingView:
        return self._view(self._row(person, file_name))

    def set_pinned(self, person: str, file_name: str, pinned: bool) -> RecordingView:
        row = replace(self._row(person, file_name), pinned=pinned)
        self._store.save_recording(row)
        log.info(
            "%s %s",
            "pinned" if pinned else "unpinned",
            row.path,
            extra={"event.action": "recording.pin", "file.path": row.path, "channel": row.person},
        )
        return self._view(row)

    def delete(self, person: str, file_name: str) -> int:
        """Delete a recording file and its row; returns the bytes freed."""
        row = self._row(person, file_name)
        if row.state.busy or row.path in self._active():
            raise FailedPrecondition(
                f"{row.file_name} is being {row.state.value.lower()}; stop the session first",
                reason="RECORDING_IN_PROGRESS",
                metadata={"state": row.state.value},
            )
        path = record_file(self._out, row.person, row.file_name)
        try:
            freed = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            freed = 0
        remove_pictures(path.parent, row.file_name)
        self._store.delete_recording(row.person, row.file_name)
        log.info(
            "deleted %s",
            row.path,
            extra={
                "event.action": "recording.delete",
                "file.path": row.path,
                "file.size": freed,
                "channel": row.person,
            },
        )
        return freed
