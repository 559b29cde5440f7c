"""The outbox: targets, notifications and their deliveries in the recorder's SQLite database.

Every method runs in the store's transaction, joining the caller's when there is one: a
notification written while a session's row is saved commits (or vanishes) with it. Times that
the dispatcher compares are kept as Unix seconds; the others as ISO text like the store's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from recorder_service.notify.catalogue import Notification
from recorder_service.notify.model import (
    Delivery,
    DeliveryState,
    Message,
    Target,
    TargetKind,
    TargetStats,
)
from servicekit.errors import AlreadyExists, FailedPrecondition, NotFound

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_targets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    channels TEXT NOT NULL,
    cooldown_s INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    max_in_flight INTEGER NOT NULL,
    queue_limit INTEGER NOT NULL,
    overflowed INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_messages (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    deadline REAL NOT NULL,
    last_attempt_at REAL,
    delivered_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    last_status INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notify_due ON notify_deliveries (target_id, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS notify_by_state ON notify_deliveries (state, id);
CREATE TABLE IF NOT EXISTS notify_cooldowns (
    target_id TEXT NOT NULL,
    key TEXT NOT NULL,
    last_sent REAL NOT NULL,
    PRIMARY KEY (target_id, key)
);
CREATE TABLE IF NOT EXISTS notify_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class Outbox:
    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def atomic(self) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction (joining the caller's) around several of the calls below."""
        return self._tx()

    # -- targets ---------------------------------------------------------------------------

    @staticmethod
    def _target(row: sqlite3.Row) -> Target:
        return Target(
            id=row["id"],
            name=row["name"],
            kind=TargetKind(row["kind"]),
            url=row["url"],
            secret=row["secret"],
            events=tuple(json.loads(row["events"])),
            channels=tuple(json.loads(row["channels"])),
            cooldown_s=row["cooldown_s"],
            enabled=bool(row["enabled"]),
            max_in_flight=row["max_in_flight"],
            queue_limit=row["queue_limit"],
            overflowed=row["overflowed"],
            suppressed=row["suppressed"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    @staticmethod
    def _target_row(t: Target) -> tuple[Any, ...]:
        return (
            t.name,
            t.kind.value,
            t.url,
            t.secret,
            json.dumps(list(t.events)),
            json.dumps(list(t.channels)),
            t.cooldown_s,
            int(t.enabled),
            t.max_in_flight,
            t.queue_limit,
            _iso(t.created_at),
            _iso(t.updated_at),
            t.id,
        )

    def add_target(self, t: Target) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO notify_targets (name, kind, url, secret, events, channels,"
                    " cooldown_s, enabled, max_in_flight, queue_limit, created_at, updated_at, id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._target_row(t),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"target {t.id} exists", reason="TARGET_EXISTS") from None

    def update_target(self, t: Target) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE notify_targets SET name=?, kind=?, url=?, secret=?, events=?, channels=?,"
                " cooldown_s=?, enabled=?, max_in_flight=?, queue_limit=?, created_at=?,"
                " updated_at=? WHERE id=?",
                self._target_row(t),
            )
        if cur.rowcount == 0:
            raise NotFound(f"no notification target {t.id!r}", reason="TARGET_NOT_FOUND")

    def delete_target(self, target_id: str) -> None:
        """The target and everything queued for it (its history goes too)."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM notify_targets WHERE id = ?", (target_id,))
            if cur.rowcount == 0:
                raise NotFound(f"no notification target {target_id!r}", reason="TARGET_NOT_FOUND")
            db.execute("DELETE FROM notify_deliveries WHERE target_id = ?", (target_id,))
            db.execute("DELETE FROM notify_cooldowns WHERE target_id = ?", (target_id,))

    def targets(self) -> list[Target]:
        with self._tx() as db:
            rows = db.execute("SELECT * FROM notify_targets ORDER BY created_at, id").fetchall()
        return [self._target(r) for r in rows]

    def count(self, target_id: str, column: str) -> None:
        """Add one to ``overflowed`` or ``suppressed``."""
        assert column in ("overflowed", "suppressed")
        with self._tx() as db:
            db.execute(
                f"UPDATE notify_targets SET {column} = {column} + 1 WHERE id = ?", (target_id,)
            )

    def stats(self) -> dict[str, TargetStats]:
        out: dict[str, dict[str, Any]] = {}
        with self._tx() as db:
            for r in db.execute(
                "SELECT target_id, state, COUNT(*) AS n FROM notify_deliveries"
                " GROUP BY target_id, state"
            ):
                out.setdefault(r["target_id"], {})[r["state"].lower()] = r["n"]
            for r in db.execute(
                "SELECT target_id, MAX(delivered_at) AS at FROM notify_deliveries"
                " WHERE state = 'DELIVERED' GROUP BY target_id"
            ):
                out.setdefault(r["target_id"], {})["last_delivery_at"] = _dt(r["at"])
            for r in db.execute(
                "SELECT d.target_id, d.last_error FROM notify_deliveries d JOIN"
                " (SELECT target_id, MAX(last_attempt_at) AS at FROM notify_deliveries"
                "  WHERE last_error != '' GROUP BY target_id) m"
                " ON d.target_id = m.target_id AND d.last_attempt_at = m.at"
            ):
                out.setdefault(r["target_id"], {})["last_error"] = r["last_error"]
        return {k: TargetStats(**v) for k, v in out.items()}

    # -- writing notifications -------------------------------------------------------------

    def add_message(self, n: Notification) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO notify_messages VALUES (?,?,?,?,?)",
                (n.id, n.type, n.channel or "", n.time.timestamp(), n.body()),
            )

    def add_delivery(self, message_id: str, target_id: str, now: float, deadline: float) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO notify_deliveries"
                " (message_id, target_id, state, created_at, next_attempt_at, deadline)"
                " VALUES (?,?,'PENDING',?,?,?)",
                (message_id, target_id, now, now, deadline),
            )
        return int(cur.lastrowid or 0)

    def pending(self, target_id: str, limit: int) -> int:
        """Pending deliveries of a target, counted up to ``limit`` (the queue cap)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM notify_deliveries"
                " WHERE target_id = ? AND state = 'PENDING' LIMIT ?)",
                (target_id, limit),
            ).fetchone()
        return int(row[0])

    def pending_counts(self) -> dict[str, int]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT target_id, COUNT(*) FROM notify_deliveries WHERE state = 'PENDING'"
                " GROUP BY target_id"
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def last_sent(self, target_id: str, key: str) -> float | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT last_sent FROM notify_cooldowns WHERE target_id = ? AND key = ?",
                (target_id, key),
            ).fetchone()
        return float(row[0]) if row else None

    def set_last_sent(self, target_id: str, key: str, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO notify_cooldowns VALUES (?,?,?)", (target_id, key, at)
            )

    def state(self, key: str) -> str | None:
        """A remembered value (a channel's last availability, the disk level...)."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM notify_state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str, at: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO notify_state VALUES (?,?,?)", (key, value, at))

    # -- delivering ------------------------------------------------------------------------

    @staticmethod
    def _delivery(row: sqlite3.Row) -> Delivery:
        created, next_at, deadline = (
            _dt(row["created_at"]),
            _dt(row["next_attempt_at"]),
            _dt(row["deadline"]),
        )
        assert created is not None and next_at is not None and deadline is not None
        return Delivery(
            id=row["id"],
            message_id=row["message_id"],
            target_id=row["target_id"],
            event_type=row["type"] or "",
            channel=row["channel"] or "",
            state=DeliveryState(row["state"]),
            attempts=row["attempts"],
            created_at=created,
            next_attempt_at=next_at,
            deadline=deadline,
            last_attempt_at=_dt(row["last_attempt_at"]),
            delivered_at=_dt(row["delivered_at"]),
            last_error=row["last_error"],
            last_status=row["last_status"],
        )

    _SELECT = (
        "SELECT d.*, m.type AS type, m.channel AS channel FROM notify_deliveries d"
        " LEFT JOIN notify_messages m ON m.id = d.message_id"
    )

    def due(self, target_id: str, now: float, limit: int, skip: Iterable[int]) -> list[Delivery]:
        """Pending deliveries of a target whose time has come, oldest first, but ``skip``."""
        skipped = set(skip)
        with self._tx() as db:
            rows = db.execute(
                self._SELECT + " WHERE d.target_id = ? AND d.state = 'PENDING'"
                " AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?",
                (target_id, now, limit + len(skipped)),
            ).fetchall()
        return [self._delivery(r) for r in rows if r["id"] not in skipped][:limit]

    def next_due(self, target_ids: Iterable[str]) -> float | None:
        ids = list(target_ids)
        if not ids:
            return None
        with self._tx() as db:
            row = db.execute(
                "SELECT MIN(next_attempt_at) FROM notify_deliveries WHERE state = 'PENDING'"
                f" AND target_id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def message(self, message_id: str) -> Message | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM notify_messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        created = _dt(row["created_at"])
        assert created is not None
        return Message(row["id"], row["type"], created, bytes(row["body"]))

    def delivered(self, delivery_id: int, status: int, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE notify_deliveries SET state = 'DELIVERED', attempts = attempts + 1,"
                " last_attempt_at = ?, delivered_at = ?, last_status = ?, last_error = ''"
                " WHERE id = ? AND state = 'PENDING'",
                (at, at, status, delivery_id),
            )

    def failed(
        self, delivery_id: int, *, at: float, status: int, error: str, next_at: float | None
    ) -> None:
        """A failed attempt: tried again at ``next_at``, or dead (None)."""
        with self._tx() as db:
            db.execute(
                "UPDATE notify_deliveries SET attempts = attempts + 1, last_attempt_at = ?,"
                " last_status = ?, last_error = ?, state = ?, next_attempt_at = ?"
                " WHERE id = ? AND state = 'PENDING'",
                (
                    at,
                    status,
                    error[:500],
                    "PENDING" if next_at is not None else "DEAD",
                    next_at if next_at is not None else at,
                    delivery_id,
                ),
            )

    def retry(self, delivery_id: int, now: float, deadline: float) -> Delivery:
        """A dead delivery queued again, with a new retry window. FailedPrecondition when it
        is not dead."""
        found = self.delivery(delivery_id)
        if found.state is not DeliveryState.DEAD:
            raise FailedPrecondition(
                f"delivery {delivery_id} is {found.state.value.lower()}, not dead",
                reason="DELIVERY_NOT_DEAD",
            )
        with self._tx() as db:
            db.execute(
                "UPDATE notify_deliveries SET state = 'PENDING', next_attempt_at = ?, deadline = ?"
                " WHERE id = ?",
                (now, deadline, delivery_id),
            )
        return self.delivery(delivery_id)

    def delivery(self, delivery_id: int) -> Delivery:
        if not 0 < delivery_id < 2**63:  # SQLite's integers are signed 64-bit
            raise NotFound(f"no delivery {delivery_id}", reason="DELIVERY_NOT_FOUND")
        with self._tx() as db:
            row = db.execute(self._SELECT + " WHERE d.id = ?", (delivery_id,)).fetchone()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}", reason="DELIVERY_NOT_FOUND")
        return self._delivery(row)

    def deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        target_id: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        """Newest first."""
        where, args = [], []
        if state is not None:
            where.append("d.state = ?")
            args.append(state.value)
        if target_id:
            where.append("d.target_id = ?")
            args.append(target_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._tx() as db:
            rows = db.execute(
                self._SELECT + clause + " ORDER BY d.id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._delivery(r) for r in rows]

    def prune(self, delivered_before: float, dead_before: float) -> int:
        """Forget delivered and dead deliveries older than these, then messages no delivery
        refers to; returns the deliveries removed."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM notify_deliveries WHERE (state = 'DELIVERED' AND created_at < ?)"
                " OR (state = 'DEAD' AND created_at < ?)",
                (delivered_before, dead_before),
            )
            db.execute(
                "DELETE FROM notify_messages WHERE id NOT IN"
                " (SELECT message_id FROM notify_deliveries)"
            )
        return cur.rowcount
