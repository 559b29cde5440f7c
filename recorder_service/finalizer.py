"""After a session: measure, remux (optional) and index its files; after a crash: recover them.

A session's files are finalized in the background once its ffmpeg has exited: each part is
probed for its media duration, remuxed to MP4 when configured (verified before the TS goes),
and its row in the store is marked COMPLETE (or INTERRUPTED for a crashed session); then a
FINALIZED event is published. Nothing here is needed for the file to be playable: the MPEG-TS
part is playable as written, so a crash at any step loses nothing and is redone on restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from recorder_service.events import EventBus
from recorder_service.media import mp4_name, probe_media_seconds, remux_to_mp4
from recorder_service.model import EventType, Session, SessionState
from recorder_service.paths import (
    parse_record_name,
    part_order,
    person_dir,
    record_rel,
    records_root,
    split_record_rel,
)
from recorder_service.store import Recording, RecordingState, Store
from recorder_service.ts_repair import trim_torn_tail
from servicekit import correlation

log = logging.getLogger(__name__)

_RUNNING_STATES = [s for s in SessionState if not s.ended]
_MEDIA_SUFFIXES = (".ts", ".mp4")


_SETTLE_QUIET_S = 2.0
_SETTLE_LIMIT_S = 30.0


async def _settle(path: Path) -> None:
    """Wait until nothing has written to ``path`` for a moment (at most _SETTLE_LIMIT_S): the
    ffmpeg of a killed recorder finishes its file within a second or so of the SIGTERM."""
    loop = asyncio.get_running_loop()
    end = loop.time() + _SETTLE_LIMIT_S
    while loop.time() < end:
        try:
            idle = time.time() - os.stat(path).st_mtime
        except FileNotFoundError:
            return
        if idle >= _SETTLE_QUIET_S:
            return
        await asyncio.sleep(min(_SETTLE_QUIET_S - idle + 0.05, end - loop.time()))


def _stub_session(rows: list[Recording]) -> Session:
    """A stand-in session for recording rows whose session row is gone."""
    rows = sorted(rows, key=lambda r: (r.start_time, r.part))
    first = rows[0]
    return Session(
        session_id=first.session_id,
        person=first.person,
        name=first.person,
        target="",
        source_type="auto",
        start_time=first.start_time,
        correlation_id="",
        preview_path="",
        state=SessionState.INTERRUPTED,
        record_paths=tuple(r.path for r in rows),
    )


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


class Finalizer:
    """Finalizes ended sessions' files, a few at a time, and recovers after a crash."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        output_dir: Path,
        ffmpeg: str,
        remux_mp4: bool,
        keep_ts: bool,
        concurrency: int = 2,
        stale_preview_delay: float = 30.0,
    ) -> None:
        self._store = store
        self._bus = bus
        self._out = output_dir
        self._ffmpeg = ffmpeg
        self._remux = remux_mp4
        self._keep_ts = keep_ts
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        # Housekeeping that need not finish before a shutdown (stale preview removal).
        self._chores: set[asyncio.Task[None]] = set()
        self._stale_preview_delay = stale_preview_delay
        # Files being finalized: retention and deletes must leave them alone.
        self.busy_paths: set[str] = set()
        #: Called with each finalized file's path (relative to OUTPUT_DIR) once its row is final;
        #: it must only schedule work (the recorder makes the file's pictures in the background).
        self.on_finalized: Callable[[str], None] | None = None

    # -- scheduling ------------------------------------------------------------------------

    def schedule(
        self, session: Session, final_state: RecordingState, *, announce: bool = True
    ) -> None:
        """Finalize ``session``'s files in the background (in the caller's context, so the
        logs and the FINALIZED event carry the session's correlation id). Without
        ``announce``, the session is neither saved nor published (a stand-in for rows whose
        session is unknown)."""
        task = asyncio.create_task(
            self._finalize(session.snapshot(), final_state, announce),
            name=f"finalize-{session.session_id}",
        )
        self._track(task)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The files are safe (the TS stays, the row says FINALIZING): the next start
            # redoes it. Say so rather than leave asyncio's "never retrieved" warning.
            log.error(
                "finalization failed; it is retried at the next start",
                extra={"event.action": "recording.finalize_error", "task": task.get_name()},
                exc_info=exc,
            )

    async def drain(self, within: float) -> bool:
        """Wait for pending finalizations; cancel what is left after ``timeout`` (recovery
        redoes it on the next start). True when everything finished."""
        for chore in list(self._chores):
            chore.cancel()
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(
                "%d finalization(s) left for the next start",
                len(pending),
                extra={"event.action": "recording.finalize_deferred"},
            )
        return not pending

    # -- one session -----------------------------------------------------------------------

    async def _finalize(
        self, session: Session, final_state: RecordingState, announce: bool = True
    ) -> None:
        async with self._slots:
            notes: list[str] = []
            final_paths: list[str] = []
            parts: list[str] = []  # the file that now holds each part (the MP4 when remuxed)
            for part, rel in enumerate(session.record_paths):
                self.busy_paths.add(rel)
                try:
                    kept = await self._finalize_file(session, rel, part, final_state, notes)
                finally:
                    self.busy_paths.discard(rel)
                final_paths.extend(kept)
                parts.extend(kept[:1])
            session.record_paths = tuple(final_paths)
            if final_state is RecordingState.INTERRUPTED:
                self._figures_from_files(session, parts)
            if self.on_finalized is not None:
                for rel in final_paths:
                    self.on_finalized(rel)
            if not announce:
                return
            message = "; ".join(notes) or f"{len(final_paths)} file(s) finalized"
            # The session's final row and what FINALIZED causes (its notifications) commit as
            # one: a crash before leaves the files to recovery, which finalizes them again.
            with self._bus.atomic():
                self._store.save_session(session)
                self._bus.publish(EventType.FINALIZED, session, message)
            log.info(
                "session %s finalized: %s",
                session.session_id,
                message,
                extra={
                    "event.action": "recording.finalized",
                    "session_id": session.session_id,
                    "channel": session.person,
                    "files": len(final_paths),
                },
            )

    def _figures_from_files(self, session: Session, parts: list[str]) -> None:
        """An interrupted session's media time and bytes as its files hold them, measured
        just now: its live figures were saved only at its last change of state (progress is
        not stored), so they can be far behind, 0 s for a crash in its first state."""
        rows = [self._store.get_recording(*split_record_rel(rel)) for rel in parts]
        measured = [r for r in rows if r is not None]
        # A part that could not be measured counts 0 s: keep the saved figure over nothing.
        session.media_seconds = sum(r.media_seconds for r in measured) or session.media_seconds
        session.bytes_written = sum(r.size_bytes for r in measured) or session.bytes_written

    async def _finalize_file(
        self,
        session: Session,
        rel: str,
        part: int,
        final_state: RecordingState,
        notes: list[str],
    ) -> list[str]:
        """Finalize one part; returns the paths that now hold it (none if it had no media)."""
        person, name = split_record_rel(rel)
        path = self._out / rel
        mp4 = path.with_name(mp4_name(name))
        found = self._store.get_recording(person, name)
        if found is None and path.suffix == ".ts" and not path.exists():
            done = self._store.get_recording(person, mp4.name)
            if done is not None and not done.state.busy:
                # Finalized by an earlier run that was cut short before the session was
                # saved: the row (pin, start time) is the truth, leave it alone.
                return [done.path]
            if done is not None:
                found, path, rel = done, mp4, done.path
        row = found or Recording(
            person=person,
            file_name=name,
            start_time=session.start_time,
            state=RecordingState.WRITING,
            session_id=session.session_id,
            part=part,
        )
        if not path.exists() and path.suffix == ".ts" and mp4.exists():
            # A crash between deleting the TS and renaming its row: the MP4 is the part.
            row = self._store.rename_recording(row, mp4.name)
            path, rel = mp4, record_rel(person, mp4.name)
        if final_state is RecordingState.INTERRUPTED:
            await _settle(path)
        if trim_torn_tail(path):
            notes.append(f"{name}: a torn last frame was cut off (its writer was killed)")
        size = path.stat().st_size if path.exists() else 0
        if size == 0:
            # ffmpeg never wrote media (a failed start): nothing to keep or list.
            path.unlink(missing_ok=True)
            self._store.delete_recording(person, row.file_name)
            return []
        end = session.end_time or _mtime(path) or datetime.now(UTC)
        row = replace(row, state=RecordingState.FINALIZING, size_bytes=size, end_time=end)
        self._store.save_recording(row)
        if self._remux and path.suffix == ".ts":
            try:
                result = await remux_to_mp4(self._ffmpeg, path, keep_source=self._keep_ts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                notes.append(f"{name}: kept as MPEG-TS, remux failed: {exc}")
                log.error(
                    "remux of %s failed; the TS file is kept",
                    rel,
                    extra={"event.action": "recording.remux", "file.path": rel},
                    exc_info=True,
                )
            else:
                mp4_row = replace(
                    row,
                    file_name=result.mp4_path.name,
                    state=final_state,
                    size_bytes=result.size_bytes,
                    media_seconds=result.mp4_seconds,
                )
                if result.source_removed:
                    self._store.rename_recording(row, mp4_row.file_name)
                    self._store.save_recording(mp4_row)
                    return [mp4_row.path]
                self._store.save_recording(mp4_row)
                self._store.save_recording(
                    replace(row, state=final_state, media_seconds=result.source_seconds)
                )
                return [mp4_row.path, rel]
        try:
            seconds = await probe_media_seconds(self._ffmpeg, path)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            seconds = 0.0
            notes.append(f"{name}: could not measure: {exc}")
            log.warning(
                "could not measure %s",
                rel,
                extra={"event.action": "recording.probe", "file.path": rel},
                exc_info=True,
            )
        self._store.save_recording(replace(row, state=final_state, media_seconds=seconds))
        return [rel]

    # -- crash recovery --------------------------------------------------------------------

    def recover(self) -> list[Session]:
        """Run once at start, before anything records: sessions a crash left running are
        marked INTERRUPTED and their files finalized (in the background); files whose
        finalization was cut short are redone; files on disk the store does not know are
        indexed; stale previews and remux leftovers are removed. Returns the interrupted
        sessions."""
        interrupted = []
        with correlation.bound(correlation.new_id("recover-")):
            for session in self._store.sessions_in_states(_RUNNING_STATES):
                self._interrupt(session)
                interrupted.append(session)
            done = {s.session_id for s in interrupted}
            unfinished = self._store.recordings_in_states(
                [RecordingState.WRITING, RecordingState.FINALIZING]
            )
            orphans: dict[tuple[str, str], list[Recording]] = {}
            for row in unfinished:
                if row.session_id in done:
                    continue
                ended = self._store.get_session(row.session_id) if row.session_id else None
                if ended is None:
                    orphans.setdefault((row.session_id, row.person), []).append(row)
                    continue
                done.add(row.session_id)
                state = (
                    RecordingState.INTERRUPTED
                    if ended.state is SessionState.INTERRUPTED
                    else RecordingState.COMPLETE
                )
                self.schedule(ended, state)
            for rows in orphans.values():
                # No session row to go with them (lost, or never written): finalize the files
                # on their own, so they do not stay busy (undeletable) forever.
                self.schedule(_stub_session(rows), RecordingState.INTERRUPTED, announce=False)
            self._index_unknown_files()
            previews = self._out / "sessions"
            previews.mkdir(parents=True, exist_ok=True)
            stale = [p for p in previews.iterdir() if p.is_dir()]
            if stale:
                chore = asyncio.get_running_loop().create_task(self._remove_later(stale))
                self._chores.add(chore)
                chore.add_done_callback(self._chores.discard)
            if interrupted:
                log.warning(
                    "recovered %d session(s) a crash left running",
                    len(interrupted),
                    extra={
                        "event.action": "recorder.recover",
                        "sessions": [s.session_id for s in interrupted],
                    },
                )
        return interrupted

    async def _remove_later(self, folders: list[Path]) -> None:
        # A killed recorder's ffmpeg may still be finishing (it got SIGTERM); pulling its
        # preview folder from under it now could make it fail before its recording is done.
        await asyncio.sleep(self._stale_preview_delay)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def _interrupt(self, session: Session) -> None:
        folder = person_dir(self._out, session.person)
        paths = list(session.record_paths)
        # Parts a split session started after its row was last saved, in recording order.
        if folder.is_dir():
            found = [
                f
                for f in folder.iterdir()
                if f.suffix == ".ts"
                and (parsed := parse_record_name(f.name)) is not None
                and parsed.session_id == session.session_id
                and record_rel(session.person, f.name) not in paths
            ]
            for f in sorted(found, key=part_order):
                parsed = parse_record_name(f.name)
                assert parsed is not None
                paths.append(record_rel(session.person, f.name))
                # Its row, as the live recorder would have made it: not indexed below as an
                # unknown file (which would number every such part 0).
                self._store.save_recording(
                    Recording(
                        person=session.person,
                        file_name=f.name,
                        start_time=parsed.started,
                        state=RecordingState.WRITING,
                        session_id=session.session_id,
                        part=len(paths) - 1,
                    )
                )
        times = [t for p in paths if (t := _mtime(self._out / p)) is not None]
        session.record_paths = tuple(paths)
        session.state = SessionState.INTERRUPTED
        session.end_time = max(times, default=session.last_progress_time or session.start_time)
        session.end_reason = "the recorder stopped while recording; files recovered on restart"
        self._store.save_session(session)
        log.warning(
            "session %s was interrupted by a recorder crash",
            session.session_id,
            extra={
                "event.action": "session.interrupted",
                "session_id": session.session_id,
                "channel": session.person,
            },
        )
        self.schedule(session, RecordingState.INTERRUPTED)

    def _index_unknown_files(self) -> None:
        records = records_root(self._out)
        if not records.is_dir():
            return
        for folder in sorted(p for p in records.iterdir() if p.is_dir()):
            for f in sorted(folder.iterdir()):
                if f.name.endswith(".mp4.part"):
                    f.unlink(missing_ok=True)  # a remux cut short; its TS is still there
                    continue
                if f.suffix not in _MEDIA_SUFFIXES or not f.is_file() or f.is_symlink():
                    continue
                if self._store.get_recording(folder.name, f.name) is not None:
                    continue
                if f.suffix == ".ts" and (f.with_name(mp4_name(f.name))).exists():
                    mp4_row = self._store.get_recording(folder.name, mp4_name(f.name))
                    if mp4_row is not None and mp4_row.state.busy:
                        continue  # a remux finished but its TS was not deleted yet: redone
                if f.suffix == ".mp4":
                    source = self._store.get_recording(folder.name, f.with_suffix(".ts").name)
                    if source is not None and source.state.busy:
                        # The MP4 of a remux the crash cut short: its finalization (scheduled
                        # above) reuses it and renames the TS row; a row of its own here would
                        # make that rename collide.
                        continue
                self._index_file(folder.name, f)

    def _index_file(self, person: str, path: Path) -> None:
        parsed = parse_record_name(path.name)
        mtime = _mtime(path) or datetime.now(UTC)
        row = Recording(
            person=person,
            file_name=path.name,
            start_time=parsed.started if parsed else mtime,
            state=RecordingState.COMPLETE,
            session_id=parsed.session_id if parsed else "",
            part=parsed.part if parsed else 0,
            size_bytes=path.stat().st_size,
            end_time=mtime,
        )
        self._store.save_recording(row)
        log.info(
            "indexed %s found on disk",
            row.path,
            extra={"event.action": "recording.index", "file.path": row.path},
        )
        self._track(asyncio.get_running_loop().create_task(self._measure(row)))

    async def _measure(self, row: Recording) -> None:
        async with self._slots:
            try:
                seconds = await probe_media_seconds(self._ffmpeg, self._out / row.path)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "could not measure %s",
                    row.path,
                    extra={"event.action": "recording.probe", "file.path": row.path},
                    exc_info=True,
                )
                return
            current = self._store.get_recording(row.person, row.file_name)
            if current is not None:
                self._store.save_recording(replace(current, media_seconds=seconds))
