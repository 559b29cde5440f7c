"""Recorder settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from servicekit.settings import Env


@dataclass(frozen=True)
class RecorderSettings:
    host: str = "127.0.0.1"
    port: int = 50052
    resolver_addr: str = "127.0.0.1:50051"
    output_dir: Path = Path("data")
    ffmpeg_path: str | None = None
    hls_time: int = 4
    hls_list_size: int = 6
    progress_interval: float = 2.0
    stop_timeout: float = 10.0
    shutdown_grace: float = 25.0
    event_ring_size: int = 10_000
    subscriber_queue_size: int = 2_000
    heartbeat_interval: float = 10.0
    ended_sessions_kept: int = 500
    http_timeout: float = 15.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> RecorderSettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        return cls(
            host=e.text("RECORDER_HOST", d.host),
            port=e.integer("RECORDER_PORT", d.port, minimum=0),
            resolver_addr=e.text("RESOLVER_ADDR", d.resolver_addr),
            output_dir=Path(e.text("OUTPUT_DIR", str(d.output_dir))),
            ffmpeg_path=e.text("FFMPEG_PATH", "") or None,
            hls_time=e.integer("HLS_TIME", d.hls_time, minimum=1),
            hls_list_size=e.integer("HLS_LIST_SIZE", d.hls_list_size, minimum=1),
            progress_interval=e.number("PROGRESS_INTERVAL", d.progress_interval, minimum=0.5),
            stop_timeout=e.number("STOP_TIMEOUT", d.stop_timeout, minimum=0.5),
            shutdown_grace=e.number("SHUTDOWN_GRACE", d.shutdown_grace, minimum=1.0),
            event_ring_size=e.integer("EVENT_RING_SIZE", d.event_ring_size, minimum=100),
            subscriber_queue_size=e.integer(
                "SUBSCRIBER_QUEUE_SIZE", d.subscriber_queue_size, minimum=10
            ),
            heartbeat_interval=e.number("HEARTBEAT_INTERVAL", d.heartbeat_interval, minimum=0.1),
            ended_sessions_kept=e.integer("ENDED_SESSIONS_KEPT", d.ended_sessions_kept, minimum=0),
            http_timeout=e.number("FFMPEG_RW_TIMEOUT", d.http_timeout, minimum=1.0),
        )
