"""A database written with the version 1 schema (channels keyed by username alone) is
migrated in place: every channel, session, recording, gap and setting is kept, and each
channel gets its source and folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from recorder_service.sqlite_store import SCHEMA_VERSION, SqliteStore
from recorder_service.store import Channel

# The schema as recorder releases before the watch list across sites created it.
V1_SCHEMA = """
CREATE TABLE channels (
    username TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    source_type TEXT NOT NULL,
    name TEXT NOT NULL,
    auto_record INTEGER NOT NULL,
    retention_days INTEGER NOT NULL,
    max_bytes INTEGER NOT NULL,
    max_count INTEGER NOT NULL,
    quality TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    state TEXT NOT NULL,
    start_time TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE recordings (
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
CREATE TABLE gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    start_time TEXT NOT NULL,
    duration_s REAL NOT NULL,
    cause TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE availability (
    username TEXT NOT NULL,
    time TEXT NOT NULL,
    availability TEXT NOT NULL
);
PRAGMA user_version=1;
"""
T = "2026-11-20T22:30:00+00:00"
QUALITY = json.dumps({"height": 720, "policy": "CLOSEST", "fps": 30.0, "fallback": False})


def v1_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    rows = [
        ("alice", "", "auto", "Alice A.", 1, 7, 10**12, 50, QUALITY, T, T),
        ("bob", "", "chaturbate", "", 0, 0, 0, 0, QUALITY, T, T),
        ("cam1", "https://cdn.example/live/x.m3u8", "auto", "Cam", 1, 0, 0, 3, QUALITY, T, T),
        ("cam2", "http://cdn.example/y.m3u8", "hls", "", 1, 2, 0, 0, QUALITY, T, T),
    ]
    db.executemany("INSERT INTO channels VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute(
        "INSERT INTO recordings VALUES (?,?,?,?,?,?,?,?,?,?)",
        ("alice", "a.ts", "s1", 0, "COMPLETE", 10, 1.5, T, None, 1),
    )
    db.execute(
        "INSERT INTO gaps (session_id, path, start_time, duration_s, cause, detail)"
        " VALUES (?,?,?,?,?,?)",
        ("s1", "records/alice/a.ts", T, 2.0, "RESTART", ""),
    )
    db.execute("INSERT INTO availability VALUES (?,?,?)", ("alice", T, "ONLINE"))
    db.commit()
    db.close()


def test_a_version_1_database_keeps_every_row_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "streamrec.db"
    v1_database(path)
    store = SqliteStore(path)
    try:
        channels = {c.key: c for c in store.list_channels()}
        assert sorted(channels) == ["alice", "bob", "hls:cam1", "hls:cam2"]
        alice = channels["alice"]
        assert (alice.source, alice.person, alice.name, alice.auto_record) == (
            "chaturbate",
            "alice",
            "Alice A.",
            True,
        )
        assert (alice.retention_days, alice.max_bytes, alice.max_count) == (7, 10**12, 50)
        assert (alice.quality.height, alice.quality.policy, alice.quality.fallback) == (
            720,
            "CLOSEST",
            False,
        )
        assert alice.created_at.isoformat() == T
        assert channels["bob"].source == "chaturbate"
        cam1 = channels["hls:cam1"]
        assert (cam1.source, cam1.person, cam1.target, cam1.max_count) == (
            "hls",
            "cam1",
            "https://cdn.example/live/x.m3u8",
            3,
        )
        assert channels["hls:cam2"].retention_days == 2
        # The other tables are untouched.
        assert [r.file_name for r in store.list_recordings(person="alice")] == ["a.ts"]
        assert store.list_recordings()[0].pinned
        assert [g.cause for g in store.gaps_of("records/alice/a.ts")] == ["RESTART"]
        assert [a for _, a in store.availability_since("alice", alice.created_at)] == ["ONLINE"]
        # And the new key works: the same name on another site is another channel.
        store.add_channel(
            Channel(
                username="alice",
                source="stripchat",
                person="stripchat-alice",
                created_at=alice.created_at,
                updated_at=alice.created_at,
            )
        )
        assert store.count_channels() == 5
    finally:
        store.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == 2


def test_opening_a_migrated_database_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "streamrec.db"
    v1_database(path)
    SqliteStore(path).close()
    store = SqliteStore(path)
    try:
        assert [c.key for c in store.list_channels()] == ["alice", "bob", "hls:cam1", "hls:cam2"]
    finally:
        store.close()


def test_a_database_from_a_newer_recorder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "streamrec.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer recorder"):
        SqliteStore(path)
