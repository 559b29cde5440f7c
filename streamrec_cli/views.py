"""The three views of ``streamrec watch``: one JSON object per line (``--json``), one plain
line per event (not a TTY), and a live table redrawn in place (a TTY)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from google.protobuf.timestamp_pb2 import Timestamp

from streamrec.v1 import recorder_service_pb2, session_pb2
from streamrec_cli import render, shapes

#: How long an ended session stays in the live table.
KEEP_ENDED_S = 30.0


def _local_clock(ts: Timestamp, present: bool) -> str:
    return render.to_local(ts).strftime("%H:%M:%S") if present else "--:--:--"


class JsonView:
    """One JSON object per line: snapshots (``"type": "SNAPSHOT"``) and events, as the
    gateway's SSE data. Heartbeats are left out."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def message(self, message: recorder_service_pb2.WatchSessionsResponse) -> None:
        kind = message.WhichOneof("payload")
        if kind == "event":
            data = shapes.event_json(message.event)
        elif kind == "snapshot":
            data = shapes.snapshot_json(message.snapshot)
        else:
            return
        self.out.write(json.dumps(data, separators=(",", ":")) + "\n")
        self.out.flush()

    def notice(self, text: str) -> None:
        self.err.write(f"streamrec: watch: {text}\n")
        self.err.flush()

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


def event_line(
    when: str, sequence: int, kind: str, s: session_pb2.Session, message: str = ""
) -> str:
    cells = [
        when,
        f"#{sequence}".rjust(6),
        kind.ljust(12),
        s.session_id.ljust(12),
        s.person,
        shapes.session_state(s),
        render.format_size(s.bytes_written),
        render.format_duration(shapes.seconds(s.media_duration)),
        render.format_bitrate(s.bitrate_kbps),
    ]
    if message:
        cells.append(message)
    return "  ".join(cells) + "\n"


class LineView:
    """One plain line per event (for logs and pipes)."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def message(self, message: recorder_service_pb2.WatchSessionsResponse) -> None:
        kind = message.WhichOneof("payload")
        if kind == "event":
            e = message.event
            when = _local_clock(e.event_time, e.HasField("event_time"))
            self.out.write(event_line(when, e.sequence, shapes.event_type(e), e.session, e.message))
        elif kind == "snapshot":
            snap = message.snapshot
            when = datetime.now().astimezone().strftime("%H:%M:%S")
            count = len(snap.sessions)
            self.out.write(
                f"{when}  {f'#{snap.sequence}'.rjust(6)}  SNAPSHOT      {count} running\n"
            )
            for s in snap.sessions:
                self.out.write(event_line(when, snap.sequence, "SESSION", s))
        else:
            return
        self.out.flush()

    def notice(self, text: str) -> None:
        self.err.write(f"streamrec: watch: {text}\n")
        self.err.flush()

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class Sessions:
    """The sessions as the stream tells them: a snapshot replaces them all, an event replaces
    one. Ended sessions stay for ``keep_ended`` seconds."""

    def __init__(self, keep_ended: float = KEEP_ENDED_S, clock: Callable[[], float] = time.time):
        self.by_id: dict[str, session_pb2.Session] = {}
        self.ended_at: dict[str, float] = {}
        self.sequence = 0
        self.last_event = ""
        self.keep_ended = keep_ended
        self.clock = clock

    def apply(self, message: recorder_service_pb2.WatchSessionsResponse) -> None:
        kind = message.WhichOneof("payload")
        if kind == "snapshot":
            self.by_id = {s.session_id: s for s in message.snapshot.sessions}
            self.ended_at = {}
            self.sequence = message.snapshot.sequence
        elif kind == "event":
            e = message.event
            s = e.session
            self.by_id[s.session_id] = s
            if shapes.session_state(s) in shapes.RUNNING_STATES:
                self.ended_at.pop(s.session_id, None)
            else:
                self.ended_at.setdefault(s.session_id, self.clock())
            self.sequence = e.sequence
            when = _local_clock(e.event_time, e.HasField("event_time"))
            self.last_event = f"{when} {shapes.event_type(e)} {s.person} {e.message}".strip()

    def visible(self) -> list[session_pb2.Session]:
        """Newest first, without sessions that ended more than ``keep_ended`` seconds ago."""
        now = self.clock()
        for sid, ended in list(self.ended_at.items()):
            if now - ended > self.keep_ended:
                del self.ended_at[sid]
                self.by_id.pop(sid, None)
        return sorted(
            self.by_id.values(),
            key=lambda s: (s.start_time.seconds, s.start_time.nanos),
            reverse=True,
        )


LIVE_HEADERS = ("ID", "PERSON", "STATE", "SIZE", "MEDIA", "BITRATE", "SPEED", "UPDATED")


def live_row(s: session_pb2.Session, now: datetime) -> list[str]:
    running = shapes.session_state(s) in shapes.RUNNING_STATES
    if running:
        updated = render.format_age(s.last_progress_time, s.HasField("last_progress_time"), now)
    else:
        updated = "ended " + render.format_age(s.end_time, s.HasField("end_time"), now)
    return [
        s.session_id,
        s.person,
        shapes.session_state(s),
        render.format_size(s.bytes_written),
        render.format_duration(shapes.seconds(s.media_duration)),
        render.format_bitrate(s.bitrate_kbps) if running else render.NONE,
        render.format_speed(s.speed) if running else render.NONE,
        updated,
    ]


def live_table(
    sessions: Sessions, *, addr: str, status: str, now: datetime | None = None
) -> list[str]:
    """The lines of the live view (without escapes)."""
    now = now or datetime.now(UTC)
    shown = sessions.visible()
    running = sum(shapes.session_state(s) in shapes.RUNNING_STATES for s in shown)
    clock = now.astimezone().strftime("%H:%M:%S")
    lines = [f"streamrec watch  {addr}  #{sessions.sequence}  {running} running  {clock}"]
    lines.append(status)
    lines.append("")
    if shown:
        rows = [live_row(s, now) for s in shown]
        lines += render.table(LIVE_HEADERS, rows, right=(3, 4, 5, 6))
    else:
        lines.append("no sessions")
    lines.append("")
    lines.append(f"last event: {sessions.last_event or '-'}   (Ctrl-C to quit)")
    return lines


class TtyView:
    """The live table, redrawn in place with ANSI escapes (cursor up, clear to the end)."""

    def __init__(self, out: TextIO, addr: str) -> None:
        self.out = out
        self.addr = addr
        self.sessions = Sessions()
        self.status = "connecting..."
        self.drawn = 0
        self.out.write("\x1b[?25l")  # hide the cursor while drawing

    def message(self, message: recorder_service_pb2.WatchSessionsResponse) -> None:
        self.sessions.apply(message)
        self.status = "connected"
        self.draw()

    def notice(self, text: str) -> None:
        self.status = text
        self.draw()

    def tick(self) -> None:
        self.draw()

    def draw(self) -> None:
        size = shutil.get_terminal_size()
        width = max(size.columns - 1, 20)
        lines = [
            line[:width] for line in live_table(self.sessions, addr=self.addr, status=self.status)
        ]
        lines = lines[: max(size.lines - 1, 1)]
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self.out.write(up + "\x1b[J" + "".join(line + "\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        self.out.write("\x1b[?25h")
        self.out.flush()
