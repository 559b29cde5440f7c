"""The recorder's Prometheus metrics (served on RECORDER_METRICS_PORT).

Counters move from session events (one bus listener, so the supervisors know nothing of
metrics); gauges are read at scrape time from the live objects. No label carries a channel,
person or file name: the sets stay bounded however many channels are watched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from recorder_service.model import EventType, Session, SessionEvent, SessionState
from servicekit.metrics import LATENCY_BUCKETS

SESSIONS_STARTED = Counter(
    "streamrec_sessions_started_total",
    "Sessions started, by trigger (manual or auto).",
    ["trigger"],
)
SESSIONS_ENDED = Counter(
    "streamrec_sessions_ended_total", "Sessions ended, by final state.", ["state"]
)
RECORDED_BYTES = Counter("streamrec_recorded_bytes_total", "Bytes written to recordings.")
RECORDED_MEDIA = Counter(
    "streamrec_recorded_media_seconds_total", "Media time written to recordings, in seconds."
)
GAPS = Counter("streamrec_gaps_total", "Gaps in recordings, by cause.", ["cause"])
RESTARTS = Counter("streamrec_session_restarts_total", "ffmpeg restarts inside sessions.")
FILES_ROTATED = Counter("streamrec_parts_rotated_total", "New parts started by a split.")
FINALIZED_FILES = Counter(
    "streamrec_recordings_finalized_total", "Recording files finalized, by format.", ["format"]
)
RETENTION_FILES = Counter(
    "streamrec_retention_deleted_files_total", "Files deleted by retention, by rule.", ["reason"]
)
RETENTION_BYTES = Counter("streamrec_retention_freed_bytes_total", "Bytes freed by retention.")
AUTORECORD_CYCLES = Counter(
    "streamrec_autorecord_cycles_total",
    "Auto-record cycles, by outcome (ok, or status_error when the batch call failed).",
    ["outcome"],
)
AUTORECORD_STARTS = Counter(
    "streamrec_autorecord_starts_total", "Automatic starts, by outcome.", ["outcome"]
)
AUTORECORD_CYCLE_SECONDS = Histogram(
    "streamrec_autorecord_cycle_seconds",
    "Time one auto-record cycle took (status batch and starts).",
    buckets=LATENCY_BUCKETS,
)

_ENDED = {EventType.STOPPED, EventType.FAILED}


class EventCounters:
    """A bus listener turning session events into counters; bytes and media time are
    counted as deltas between a session's events."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float]] = {}

    def __call__(self, event: SessionEvent) -> None:
        s = event.session
        if event.type is EventType.STARTING:
            SESSIONS_STARTED.labels("auto" if s.channel else "manual").inc()
            self._seen[s.session_id] = (0, 0.0)
        elif event.type is EventType.RECONNECTING:
            RESTARTS.inc()
        elif event.type is EventType.FILE_ROTATED:
            FILES_ROTATED.inc()
        elif event.type is EventType.GAP:
            GAPS.labels(event.extra.get("cause", "UNSPECIFIED")).inc()
        elif event.type is EventType.FINALIZED:
            for path in s.record_paths:
                FINALIZED_FILES.labels(path.rsplit(".", 1)[-1]).inc()
        last = self._seen.get(s.session_id)
        if last is not None:
            bytes_before, media_before = last
            if s.bytes_written > bytes_before:
                RECORDED_BYTES.inc(s.bytes_written - bytes_before)
            if s.media_seconds > media_before:
                RECORDED_MEDIA.inc(s.media_seconds - media_before)
            self._seen[s.session_id] = (
                max(s.bytes_written, bytes_before),
                max(s.media_seconds, media_before),
            )
        if event.type in _ENDED:
            SESSIONS_ENDED.labels(s.state.value.lower()).inc()
            self._seen.pop(s.session_id, None)


class RecorderCollector(Collector):
    """Gauges read at scrape time: sessions by state, event subscribers, free disk space and
    the size of the watch list."""

    def __init__(
        self,
        running: Callable[[], Sequence[Session]],
        subscribers: Callable[[], int],
        channels: Callable[[], int],
        output_dir: Path,
    ) -> None:
        self._running = running
        self._subscribers = subscribers
        self._channels = channels
        self._output_dir = output_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "streamrec_sessions", "Running sessions, by state.", labels=["state"]
        )
        counts = {s: 0 for s in SessionState if not s.ended}
        for session in self._running():
            if session.state in counts:
                counts[session.state] += 1
        for state, count in counts.items():
            states.add_metric([state.value.lower()], count)
        yield states
        yield GaugeMetricFamily(
            "streamrec_event_subscribers",
            "Clients following WatchSessions right now.",
            value=self._subscribers(),
        )
        yield GaugeMetricFamily(
            "streamrec_watched_channels", "Channels in the watch list.", value=self._channels()
        )
        try:
            free = shutil.disk_usage(self._output_dir).free
        except OSError:
            return
        yield GaugeMetricFamily(
            "streamrec_disk_free_bytes", "Free bytes where recordings are written.", value=free
        )


def register_collector(collector: RecorderCollector) -> None:
    REGISTRY.register(collector)
