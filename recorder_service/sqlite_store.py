"""The embedded store: one SQLite file in WAL mode under OUTPUT_DIR.

Every write is one transaction committed before the call returns, with ``synchronous=FULL``:
a ``kill -9`` (or a power cut) at any moment loses no committed row. The connection is used
from the event loop's thread only; every statement touches a handful of rows by key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder_service.model import Session, SessionState, VariantInfo
from recorder_service.paths import stored_rel
from recorder_service.ports import QualityWish
from recorder_service.store import Channel, GapRecord, Recording, RecordingState, channel_key
from servicekit.errors import AlreadyExists, NotFound

SCHEMA_VERSION = 2
# A channel is (source, username); person is its recording folder, unique across sources.
_CHANNELS = """
CREATE TABLE IF NOT EXISTS channels (
    source TEXT NOT NULL,
    username TEXT NOT NULL,
    person TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    auto_record INTEGER NOT NULL,
    retention_days INTEGER NOT NULL,
    max_bytes INTEGER NOT NULL,
    max_count INTEGER NOT NULL,
    quality TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, username)
);
"""
_CHANNEL_COLUMNS = (
    "source, username, person, target, name, auto_record, retention_days, max_bytes,"
    " max_count, quality, created_at, updated_at"
)
# Version 1 keyed channels by username alone, with a source_type of "auto", "hls" or
# "chaturbate": a URL target was a playlist ("hls"), anything else a Chaturbate name (the
# only site then); the folder was the username.
_MIGRATE_1_TO_2 = f"""
ALTER TABLE channels RENAME TO channels_v1;
{_CHANNELS}
INSERT INTO channels ({_CHANNEL_COLUMNS})
    SELECT CASE WHEN source_type = 'hls' OR target LIKE '%://%' THEN 'hls' ELSE 'chaturbate' END,
        username, username, target, name, auto_record, retention_days, max_bytes, max_count,
        quality, created_at, updated_at
    FROM channels_v1;
DROP TABLE channels_v1;
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    state TEXT NOT NULL,
    start_time TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_state ON sessions (state);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (start_time);
CREATE TABLE IF NOT EXISTS recordings (
    person TEXT NOT NULL,
    file_name TEXT NOT NULL,
    session_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    state TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    media_seconds REAL NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT,
    pinned INTEGER NOT NULL,
    PRIMARY KEY (person, file_name)
);
CREATE INDEX IF NOT EXISTS recordings_by_session ON recordings (session_id);
CREATE INDEX IF NOT EXISTS recordings_by_state ON recordings (state);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    start_time TEXT NOT NULL,
    duration_s REAL NOT NULL,
    cause TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_by_path ON gaps (path);
CREATE TABLE IF NOT EXISTS availability (
    username TEXT NOT NULL,
    time TEXT NOT NULL,
    availability TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS availability_by_channel ON availability (username, time);
"""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _session_to_json(s: Session) -> str:
    data = asdict(s)
    data["state"] = s.state.value
    for key in ("start_time", "end_time", "last_progress_time"):
        data[key] = _iso(getattr(s, key))
    return json.dumps(data)


def _session_from_json(raw: str) -> Session:
    data: dict[str, Any] = json.loads(raw)
    data["state"] = SessionState(data["state"])
    for key in ("start_time", "end_time", "last_progress_time"):
        data[key] = _dt(data.get(key))
    data["record_paths"] = tuple(data.get("record_paths") or ())
    variant = data.get("variant")
    data["variant"] = VariantInfo(**variant) if variant else None
    known = Session.__dataclass_fields__
    return Session(**{k: v for k, v in data.items() if k in known})


class SqliteStore:
    """The Store protocol over one SQLite database file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Autocommit mode: transactions are opened explicitly in _tx().
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._tx_depth = 0
        try:
            self._migrate()
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        """Bring an older database to SCHEMA_VERSION in place, in one transaction (every row
        kept), or create the tables of a new one."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        old_channels = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channels'"
        ).fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}; this recorder knows up to "
                f"{SCHEMA_VERSION} (a newer recorder wrote it)"
            )
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if old_channels and version < 2:
                for statement in _MIGRATE_1_TO_2.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            else:
                self._db.execute(_CHANNELS)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._tx_depth:
            # Inside transaction(): join it, so it commits (or rolls back) as one.
            self._tx_depth += 1
            try:
                yield self._db
            finally:
                self._tx_depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._tx_depth = 1
        try:
            yield self._db
        except BaseException:
            self._tx_depth = 0
            self._db.execute("ROLLBACK")
            raise
        self._tx_depth = 0
        self._db.execute("COMMIT")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction around every write inside it (re-entrant: an inner one joins the
        outer). A change and the notifications it causes are committed together this way
        (``recorder_service.notify``). Nothing inside may await: the connection is shared."""
        return self._tx()

    def close(self) -> None:
        self._db.close()

    # -- channels --------------------------------------------------------------------------

    @staticmethod
    def _channel_row(c: Channel) -> tuple[Any, ...]:
        return (
            c.source,
            c.username,
            c.person,
            c.target,
            c.name,
            int(c.auto_record),
            c.retention_days,
            c.max_bytes,
            c.max_count,
            json.dumps(asdict(c.quality)),
            _iso(c.created_at),
            _iso(c.updated_at),
        )

    @staticmethod
    def _channel(row: sqlite3.Row) -> Channel:
        created, updated = _dt(row["created_at"]), _dt(row["updated_at"])
        assert created is not None and updated is not None
        return Channel(
            username=row["username"],
            source=row["source"],
            person=row["person"],
            target=row["target"],
            name=row["name"],
            auto_record=bool(row["auto_record"]),
            retention_days=row["retention_days"],
            max_bytes=row["max_bytes"],
            max_count=row["max_count"],
            quality=QualityWish(**json.loads(row["quality"])),
            created_at=created,
            updated_at=updated,
        )

    def add_channel(self, channel: Channel) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO channels ({_CHANNEL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._channel_row(channel),
                )
        except sqlite3.IntegrityError:
            taken = self._find(channel.source, channel.username, exact=True)
            if taken is not None:
                raise AlreadyExists(
                    f"channel {channel.key!r} is already in the watch list",
                    reason="CHANNEL_EXISTS",
                    metadata={"username": channel.username, "source": channel.source},
                ) from None
            raise AlreadyExists(
                f"another channel already records into records/{channel.person}/",
                reason="CHANNEL_FOLDER_TAKEN",
                metadata={"person": channel.person},
            ) from None

    def _find(self, source: str, username: str, *, exact: bool = False) -> Channel | None:
        # The exact spelling first; else one that differs only in case (a user typing
        # "Alice" for a case-insensitive site's "alice").
        row = self._db.execute(
            "SELECT * FROM channels WHERE source = ? AND username = ?"
            + ("" if exact else " OR (source = ? AND username = ? COLLATE NOCASE)")
            + " ORDER BY username = ? DESC, username LIMIT 1",
            (source, username, username)
            if exact
            else (source, username, source, username, username),
        ).fetchone()
        return self._channel(row) if row is not None else None

    def get_channel(self, source: str, username: str) -> Channel:
        found = self._find(source, username)
        if found is None:
            raise NotFound(
                f"no channel {channel_key(source, username)!r} in the watch list",
                reason="CHANNEL_NOT_FOUND",
            )
        return found

    def list_channels(
        self, offset: int = 0, limit: int | None = None, source: str | None = None
    ) -> list[Channel]:
        where, args = ("WHERE source = ?", [source]) if source else ("", [])
        rows = self._db.execute(
            f"SELECT * FROM channels {where} ORDER BY username, source LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        )
        return [self._channel(r) for r in rows]

    def count_channels(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM channels").fetchone()[0])

    def update_channel(self, channel: Channel) -> None:
        row = self._channel_row(channel)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE channels SET person=?, target=?, name=?, auto_record=?,"
                " retention_days=?, max_bytes=?, max_count=?, quality=?, created_at=?,"
                " updated_at=? WHERE source=? AND username=?",
                (*row[2:], row[0], row[1]),
            )
        if cur.rowcount == 0:
            raise NotFound(
                f"no channel {channel.key!r} in the watch list", reason="CHANNEL_NOT_FOUND"
            )

    def delete_channel(self, source: str, username: str) -> None:
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM channels WHERE source = ? AND username = ?", (source, username)
            )
        if cur.rowcount == 0:
            raise NotFound(
                f"no channel {channel_key(source, username)!r} in the watch list",
                reason="CHANNEL_NOT_FOUND",
            )

    # -- sessions --------------------------------------------------------------------------

    def save_session(self, session: Session) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?)",
                (
                    session.session_id,
                    session.person,
                    session.state.value,
                    _iso(session.start_time),
                    _session_to_json(session),
                ),
            )

    def get_session(self, session_id: str) -> Session | None:
        row = self._db.execute(
            "SELECT data FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return _session_from_json(row["data"]) if row else None

    def list_sessions(self, offset: int = 0, limit: int | None = None) -> list[Session]:
        rows = self._db.execute(
            "SELECT data FROM sessions ORDER BY start_time DESC, session_id LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        return [_session_from_json(r["data"]) for r in rows]

    def sessions_in_states(self, states: Iterable[SessionState]) -> list[Session]:
        names = [s.value for s in states]
        rows = self._db.execute(
            f"SELECT data FROM sessions WHERE state IN ({','.join('?' * len(names))})"
            " ORDER BY start_time",
            names,
        )
        return [_session_from_json(r["data"]) for r in rows]

    def prune_sessions(self, ended_before: datetime) -> int:
        ended = [s.value for s in SessionState if s.ended]
        cutoff = _iso(ended_before)
        with self._tx() as db:
            cur = db.execute(
                f"DELETE FROM sessions WHERE state IN ({','.join('?' * len(ended))})"
                " AND json_extract(data, '$.end_time') < ?",
                (*ended, cutoff),
            )
        return cur.rowcount

    # -- recordings ------------------------------------------------------------------------

    @staticmethod
    def _recording(row: sqlite3.Row) -> Recording:
        start = _dt(row["start_time"])
        assert start is not None
        return Recording(
            person=row["person"],
            file_name=row["file_name"],
            session_id=row["session_id"],
            part=row["part"],
            state=RecordingState(row["state"]),
            size_bytes=row["size_bytes"],
            media_seconds=row["media_seconds"],
            start_time=start,
            end_time=_dt(row["end_time"]),
            pinned=bool(row["pinned"]),
        )

    def save_recording(self, recording: Recording) -> None:
        r = recording
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO recordings VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    r.person,
                    r.file_name,
                    r.session_id,
                    r.part,
                    r.state.value,
                    r.size_bytes,
                    r.media_seconds,
                    _iso(r.start_time),
                    _iso(r.end_time),
                    int(r.pinned),
                ),
            )

    def get_recording(self, person: str, file_name: str) -> Recording | None:
        row = self._db.execute(
            "SELECT * FROM recordings WHERE person = ? AND file_name = ?", (person, file_name)
        ).fetchone()
        return self._recording(row) if row else None

    def list_recordings(
        self, person: str | None = None, offset: int = 0, limit: int | None = None
    ) -> list[Recording]:
        where, args = ("WHERE person = ?", [person]) if person is not None else ("", [])
        rows = self._db.execute(
            f"SELECT * FROM recordings {where}"
            " ORDER BY start_time DESC, part DESC, file_name LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        )
        return [self._recording(r) for r in rows]

    def recordings_of_session(self, session_id: str) -> list[Recording]:
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE session_id = ? ORDER BY part, start_time",
            (session_id,),
        )
        return [self._recording(r) for r in rows]

    def recordings_in_states(self, states: Iterable[RecordingState]) -> list[Recording]:
        names = [s.value for s in states]
        rows = self._db.execute(
            f"SELECT * FROM recordings WHERE state IN ({','.join('?' * len(names))})"
            " ORDER BY start_time, part",
            names,
        )
        return [self._recording(r) for r in rows]

    def delete_recording(self, person: str, file_name: str) -> None:
        path = stored_rel(person, file_name)
        with self._tx() as db:
            db.execute(
                "DELETE FROM recordings WHERE person = ? AND file_name = ?", (person, file_name)
            )
            db.execute("DELETE FROM gaps WHERE path = ?", (path,))

    def rename_recording(self, old: Recording, new_file_name: str) -> Recording:
        new = Recording(**{**asdict(old), "file_name": new_file_name})
        with self._tx() as db:
            db.execute(
                "UPDATE recordings SET file_name = ? WHERE person = ? AND file_name = ?",
                (new_file_name, old.person, old.file_name),
            )
            db.execute("UPDATE gaps SET path = ? WHERE path = ?", (new.path, old.path))
        return new

    # -- gap ledger ------------------------------------------------------------------------

    def add_gap(self, gap: GapRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO gaps (session_id, path, start_time, duration_s, cause, detail)"
                " VALUES (?,?,?,?,?,?)",
                (
                    gap.session_id,
                    gap.path,
                    _iso(gap.start_time),
                    gap.duration_s,
                    gap.cause,
                    gap.detail,
                ),
            )

    def add_availability(self, username: str, at: datetime, availability: str) -> None:
        """Note a change of what the site says of a channel (the timeline's online spans)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO availability (username, time, availability) VALUES (?,?,?)",
                (username, _iso(at), availability),
            )

    def availability_since(self, username: str, since: datetime) -> list[tuple[datetime, str]]:
        """The changes since ``since``, oldest first, with the last one before it (the state
        the channel was in when the window opens)."""
        before = self._db.execute(
            "SELECT time, availability FROM availability WHERE username = ? AND time < ?"
            " ORDER BY time DESC LIMIT 1",
            (username, _iso(since)),
        ).fetchall()
        after = self._db.execute(
            "SELECT time, availability FROM availability WHERE username = ? AND time >= ?"
            " ORDER BY time",
            (username, _iso(since)),
        ).fetchall()
        out = []
        for row in [*before, *after]:
            at = _dt(row["time"])
            assert at is not None
            out.append((at, str(row["availability"])))
        return out

    def prune_availability(self, before: datetime) -> int:
        """Forget changes older than ``before`` (keeping each channel's latest one)."""
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM availability WHERE time < ? AND rowid NOT IN"
                " (SELECT rowid FROM availability a WHERE a.time ="
                " (SELECT MAX(time) FROM availability b WHERE b.username = a.username))",
                (_iso(before),),
            )
            return cursor.rowcount

    def gaps_of(self, path: str) -> Sequence[GapRecord]:
        rows = self._db.execute(
            "SELECT * FROM gaps WHERE path = ? ORDER BY start_time, id", (path,)
        ).fetchall()
        out = []
        for r in rows:
            start = _dt(r["start_time"])
            assert start is not None
            out.append(
                GapRecord(
                    session_id=r["session_id"],
                    path=r["path"],
                    start_time=start,
                    duration_s=r["duration_s"],
                    cause=r["cause"],
                    detail=r["detail"],
                )
            )
        return out
