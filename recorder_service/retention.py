"""Retention: which recordings to delete (a pure plan) and deleting them (the executor).

Each person's recordings follow their channel's limits (age, count, total bytes); persons with
no channel row follow the global default. Pinned and busy files and files of running sessions
are never deleted, but they count toward the count and byte totals. Also the free-space
watermark under which new recordings are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from recorder_service.metrics import RETENTION_BYTES, RETENTION_FILES
from recorder_service.paths import record_file
from recorder_service.recording_pictures import remove_pictures
from recorder_service.storage import Storage, measure_storage
from recorder_service.store import Channel, Recording, Store
from servicekit import correlation
from servicekit.errors import InvalidArgument, ResourceExhausted

log = logging.getLogger(__name__)

Reason = Literal["age", "count", "bytes"]


@dataclass(frozen=True)
class Policy:
    """Retention limits of one person; 0 disables a limit."""

    max_age_days: float = 0
    max_bytes: int = 0
    max_count: int = 0

    @classmethod
    def from_channel(cls, channel: Channel) -> Policy:
        return cls(
            max_age_days=channel.retention_days,
            max_bytes=channel.max_bytes,
            max_count=channel.max_count,
        )


@dataclass(frozen=True)
class Deletion:
    """One recording the plan deletes, and the limit it broke."""

    recording: Recording
    reason: Reason


@dataclass(frozen=True)
class ChannelReport:
    person: str
    files_deleted: int
    bytes_freed: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class RetentionReport:
    """What a run deleted (or would have, when ``dry_run``). ``free_bytes`` is -1 if unknown."""

    files_deleted: int
    bytes_freed: int
    errors: int
    dry_run: bool
    free_bytes: int
    per_channel: tuple[ChannelReport, ...] = ()

    def as_log_extra(self) -> dict[str, object]:
        """The report as ``extra=`` fields of a structured log line."""
        return {
            "retention.files_deleted": self.files_deleted,
            "retention.bytes_freed": self.bytes_freed,
            "retention.errors": self.errors,
            "retention.dry_run": self.dry_run,
            "retention.channels": [c.person for c in self.per_channel],
            "disk.free_bytes": self.free_bytes,
        }


def _oldest_first(rec: Recording) -> tuple[datetime, int]:
    return rec.start_time, rec.part


def _plan_person(
    recs: list[Recording], policy: Policy, now: datetime, active: Collection[str]
) -> list[Deletion]:
    """The deletions of one person's recordings, given oldest first."""

    def protected(r: Recording) -> bool:
        return r.pinned or r.state.busy or r.path in active

    out: list[Deletion] = []
    kept: list[Recording] = []
    max_age = timedelta(days=policy.max_age_days) if policy.max_age_days > 0 else None
    for r in recs:
        age = now - (r.end_time or r.start_time)
        if max_age is not None and age > max_age and not protected(r):
            out.append(Deletion(r, "age"))
        else:
            kept.append(r)
    # Protected files stay in ``kept`` (they count toward the totals) but are never candidates,
    # so a limit they alone exceed is simply left unmet.
    if policy.max_count > 0 and len(kept) > policy.max_count:
        doomed = [r for r in kept if not protected(r)][: len(kept) - policy.max_count]
        out.extend(Deletion(r, "count") for r in doomed)
        gone = {id(r) for r in doomed}
        kept = [r for r in kept if id(r) not in gone]
    if policy.max_bytes > 0:
        total = sum(r.size_bytes for r in kept)
        for r in [r for r in kept if not protected(r)]:
            if total <= policy.max_bytes:
                break
            out.append(Deletion(r, "bytes"))
            total -= r.size_bytes
    return out


def plan_retention(
    recordings: Sequence[Recording],
    policies: Mapping[str, Policy],
    default: Policy,
    now: datetime,
    active_paths: Collection[str],
) -> list[Deletion]:
    """Which recordings to delete: by person, each person's oldest first.

    ``policies`` maps a person (channel username) to its limits; persons not in it follow
    ``default``. ``active_paths`` are ``Recording.path`` values (relative to OUTPUT_DIR) of files
    that running sessions write.
    """
    by_person: dict[str, list[Recording]] = defaultdict(list)
    for r in recordings:
        by_person[r.person].append(r)
    active = frozenset(active_paths)
    plan: list[Deletion] = []
    for person in sorted(by_person):
        recs = sorted(by_person[person], key=_oldest_first)
        deletions = _plan_person(recs, policies.get(person, default), now, active)
        plan.extend(sorted(deletions, key=lambda d: _oldest_first(d.recording)))
    return plan


def next_deletions(
    recordings: Sequence[Recording],
    policies: Mapping[str, Policy],
    default: Policy,
    now: datetime,
    active_paths: Collection[str],
    limit: int = 20,
) -> list[tuple[Deletion, datetime]]:
    """What retention deletes next and when, soonest first: what the plan deletes now (at the
    next run), then each recording that will age out, at the time it does (later limits by
    count or size depend on what is recorded meanwhile, so they are not forecast)."""
    due = plan_retention(recordings, policies, default, now, active_paths)
    out = [(d, now) for d in due]
    gone = {(d.recording.person, d.recording.file_name) for d in due}
    active = frozenset(active_paths)
    for r in recordings:
        policy = policies.get(r.person, default)
        if policy.max_age_days <= 0 or (r.person, r.file_name) in gone:
            continue
        if r.pinned or r.state.busy or r.path in active:
            continue
        at = (r.end_time or r.start_time) + timedelta(days=policy.max_age_days)
        out.append((Deletion(r, "age"), max(at, now)))
    out.sort(key=lambda pair: (pair[1], pair[0].recording.start_time))
    return out[:limit]


def human_bytes(n: int) -> str:
    """``1288490189`` -> ``"1.2 GiB"``."""
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def free_bytes(path: Path) -> int:
    """Bytes free to unprivileged users on the file system holding ``path``."""
    return shutil.disk_usage(path).free


def check_free_space(path: Path, min_free_bytes: int) -> None:
    """Raise ResourceExhausted (LOW_DISK_SPACE) when less than ``min_free_bytes`` is free.

    ``min_free_bytes`` 0 disables the check.
    """
    if min_free_bytes <= 0:
        return
    free = free_bytes(path)
    if free < min_free_bytes:
        raise ResourceExhausted(
            f"{human_bytes(free)} free, below the {human_bytes(min_free_bytes)} watermark "
            "(MIN_FREE_BYTES); new recordings are refused",
            reason="LOW_DISK_SPACE",
            metadata={"free_bytes": str(free), "min_free_bytes": str(min_free_bytes)},
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Retention:
    """Applies the retention plan to the store and the files under ``output_dir``."""

    def __init__(
        self,
        store: Store,
        output_dir: Path,
        default: Policy,
        min_free_bytes: int,
        *,
        active_paths: Callable[[], Collection[str]],
        clock: Callable[[], datetime] = _utc_now,
        session_history_days: float = 0.0,
    ) -> None:
        self._store = store
        self._output_dir = output_dir
        self._default = default
        self.min_free_bytes = min_free_bytes
        self._active_paths = active_paths
        self._clock = clock
        # Ended sessions older than this are forgotten (0 = kept); their files stay.
        self._session_history_days = session_history_days
        #: Called as ``listener(recording, reason, bytes)`` for each file deleted, inside
        #: ``atomic()`` (the store's transaction) with the removal of its row.
        self.deletion_listeners: list[Callable[[Recording, str, int], None]] = []
        self.atomic: Callable[[], contextlib.AbstractContextManager[object]] = (
            contextlib.nullcontext
        )

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    def check_free_space(self) -> None:
        """Raise ResourceExhausted when OUTPUT_DIR is below the free-space watermark."""
        check_free_space(self._output_dir, self.min_free_bytes)

    def storage(self) -> Storage:
        """Disk usage of OUTPUT_DIR against this watermark (no store access: safe in a thread)."""
        return measure_storage(self._output_dir, self.min_free_bytes)

    def forecast(self, limit: int = 20) -> list[tuple[Deletion, datetime]]:
        """What retention deletes next and when (see :func:`next_deletions`)."""
        policies = {c.person: Policy.from_channel(c) for c in self._store.list_channels()}
        return next_deletions(
            self._store.list_recordings(),
            policies,
            self._default,
            self._clock(),
            self._active_paths(),
            limit,
        )

    def _file_of(self, rec: Recording) -> Path | None:
        """The recording's file, or None when its names could point outside OUTPUT_DIR/records."""
        # The names come from the database, so they are checked again before any unlink.
        try:
            return record_file(self._output_dir, rec.person, rec.file_name).resolve()
        except InvalidArgument:
            return None

    def run(self, *, person: str | None = None, dry_run: bool = False) -> RetentionReport:
        """Delete what the plan says (of one person, or of all); ``dry_run`` only reports."""
        policies = {c.person: Policy.from_channel(c) for c in self._store.list_channels()}
        recordings = self._store.list_recordings(person=person)
        plan = plan_retention(
            recordings, policies, self._default, self._clock(), self._active_paths()
        )
        errors = 0
        freed: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for deletion in plan:
            rec = deletion.recording
            extra: dict[str, object] = {
                "event.action": "retention.delete",
                "channel": rec.person,
                "file.path": rec.path,
                "retention.reason": deletion.reason,
                "retention.dry_run": dry_run,
            }
            path = self._file_of(rec)
            if path is None:
                log.error("retention: refusing unsafe recording path %r", rec.path, extra=extra)
                errors += 1
                continue
            # The plan was made from a snapshot: the file may have been pinned or reopened since.
            current = self._store.get_recording(rec.person, rec.file_name)
            if current is None or current.state.busy or current.pinned:
                continue
            try:
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    size = 0  # already gone from disk: only the row is left to remove
                if not dry_run:
                    path.unlink(missing_ok=True)
                    remove_pictures(path.parent, rec.file_name)  # its poster and sheet
            except OSError as exc:
                log.error("retention: could not delete %s: %s", rec.path, exc, extra=extra)
                errors += 1
                continue
            if not dry_run:
                # The row and what its deletion causes (a notification) commit as one.
                with self.atomic():
                    self._store.delete_recording(rec.person, rec.file_name)
                    for listener in self.deletion_listeners:
                        listener(rec, deletion.reason, size)
                RETENTION_FILES.labels(deletion.reason).inc()
                RETENTION_BYTES.inc(size)
            freed[rec.person].append((rec.file_name, size))
            verb = "would delete" if dry_run else "deleted"
            log.info(
                "retention: %s %s (%s)",
                verb,
                rec.path,
                deletion.reason,
                extra={**extra, "file.size": size},
            )
        if not dry_run and person is None and self._session_history_days > 0:
            cutoff = self._clock() - timedelta(days=self._session_history_days)
            pruned = self._store.prune_sessions(cutoff)
            if pruned:
                log.info(
                    "forgot %d session(s) that ended before %s",
                    pruned,
                    cutoff.isoformat(timespec="seconds"),
                    extra={"event.action": "retention.sessions", "sessions": pruned},
                )
        try:
            free = free_bytes(self._output_dir)
        except OSError:
            free = -1
        per_channel = tuple(
            ChannelReport(
                person=p,
                files_deleted=len(files),
                bytes_freed=sum(size for _, size in files),
                files=tuple(name for name, _ in files),
            )
            for p, files in sorted(freed.items())
        )
        report = RetentionReport(
            files_deleted=sum(c.files_deleted for c in per_channel),
            bytes_freed=sum(c.bytes_freed for c in per_channel),
            errors=errors,
            dry_run=dry_run,
            free_bytes=free,
            per_channel=per_channel,
        )
        log.info(
            "retention: %d file(s), %s freed, %d error(s)%s",
            report.files_deleted,
            human_bytes(report.bytes_freed),
            report.errors,
            " (dry run)" if dry_run else "",
            extra={"event.action": "retention.run", **report.as_log_extra()},
        )
        return report


async def retention_loop(retention: Retention, interval_s: float, stop: asyncio.Event) -> None:
    """Run retention right away, then every ``interval_s`` seconds until ``stop`` is set.

    ``run()`` is called on the event loop thread on purpose: the store's SQLite connection
    belongs to that thread, and a run is short (a few queries and unlinks).
    """
    while not stop.is_set():
        with correlation.bound(correlation.new_id("retention-")):
            try:
                retention.run()
            except Exception:
                log.exception("retention run failed", extra={"event.action": "retention.run"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
