"""Recorder settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recorder_service.notify.settings import NotifySettings
from recorder_service.picture_settings import PictureSettings
from servicekit.settings import Env, SettingsError
from servicekit.tls import TlsConfig


@dataclass(frozen=True)
class RecorderSettings:
    host: str = "127.0.0.1"
    port: int = 50052
    metrics_port: int = 9092
    resolver_addr: str = "127.0.0.1:50051"
    output_dir: Path = Path("data")
    ffmpeg_path: str | None = None
    hls_time: int = 4
    hls_list_size: int = 6
    preview: str = "on_demand"
    preview_idle: float = 30.0
    resume_window: float = 600.0
    progress_interval: float = 5.0
    stop_timeout: float = 10.0
    shutdown_grace: float = 25.0
    event_ring_size: int = 10_000
    subscriber_queue_size: int = 2_000
    heartbeat_interval: float = 10.0
    http_timeout: float = 15.0
    database_path: Path | None = None
    autorecord_interval: float = 60.0
    autorecord_jitter: float = 0.1
    autorecord_concurrency: int = 4
    autorecord_backoff_max: float = 1800.0
    split_at_midnight: bool = False
    split_every: int = 0
    split_size: int = 0
    remux_mp4: bool = False
    keep_ts: bool = False
    finalize_concurrency: int = 2
    retention_interval: float = 1800.0
    retention_days: float = 0.0
    session_history_days: float = 90.0
    min_free_bytes: int = 1 << 30
    disk_check_interval: float = 10.0
    stall_timeout: float = 20.0
    restart_limit: int = 10
    restart_backoff_max: float = 30.0
    end_grace: float = 20.0
    tls: TlsConfig = field(default_factory=TlsConfig)
    pictures: PictureSettings = field(default_factory=PictureSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @property
    def db_path(self) -> Path:
        return self.database_path or self.output_dir / "streamrec.db"

    @classmethod
    def from_env(cls, env: Env | None = None) -> RecorderSettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        return cls(
            host=e.text("RECORDER_HOST", d.host),
            port=e.integer("RECORDER_PORT", d.port, minimum=0),
            metrics_port=e.integer("RECORDER_METRICS_PORT", d.metrics_port, minimum=0),
            resolver_addr=e.text("RESOLVER_ADDR", d.resolver_addr),
            output_dir=Path(e.text("OUTPUT_DIR", str(d.output_dir))),
            ffmpeg_path=e.text("FFMPEG_PATH", "") or None,
            hls_time=e.integer("HLS_TIME", d.hls_time, minimum=1),
            hls_list_size=e.integer("HLS_LIST_SIZE", d.hls_list_size, minimum=1),
            preview=_preview_mode(e.text("PREVIEW", d.preview)),
            preview_idle=e.number("PREVIEW_IDLE", d.preview_idle, minimum=1.0),
            resume_window=e.number("RESUME_WINDOW", d.resume_window, minimum=0.0),
            progress_interval=e.number("PROGRESS_INTERVAL", d.progress_interval, minimum=0.5),
            stop_timeout=e.number("STOP_TIMEOUT", d.stop_timeout, minimum=0.5),
            shutdown_grace=e.number("SHUTDOWN_GRACE", d.shutdown_grace, minimum=1.0),
            event_ring_size=e.integer("EVENT_RING_SIZE", d.event_ring_size, minimum=100),
            subscriber_queue_size=e.integer(
                "SUBSCRIBER_QUEUE_SIZE", d.subscriber_queue_size, minimum=10
            ),
            heartbeat_interval=e.number("HEARTBEAT_INTERVAL", d.heartbeat_interval, minimum=0.1),
            http_timeout=e.number("FFMPEG_RW_TIMEOUT", d.http_timeout, minimum=1.0),
            database_path=Path(db) if (db := e.text("DATABASE_PATH", "")) else None,
            autorecord_interval=e.number("AUTORECORD_INTERVAL", d.autorecord_interval, minimum=0.2),
            autorecord_jitter=e.number("AUTORECORD_JITTER", d.autorecord_jitter, minimum=0.0),
            autorecord_concurrency=e.integer(
                "AUTORECORD_CONCURRENCY", d.autorecord_concurrency, minimum=1
            ),
            autorecord_backoff_max=e.number(
                "AUTORECORD_BACKOFF_MAX", d.autorecord_backoff_max, minimum=1.0
            ),
            split_at_midnight=e.flag("SPLIT_AT_MIDNIGHT", d.split_at_midnight),
            split_every=_split_every(e.integer("SPLIT_EVERY", d.split_every, minimum=0), e),
            split_size=_split_size(e.integer("SPLIT_SIZE", d.split_size, minimum=0), e),
            remux_mp4=e.flag("REMUX_MP4", d.remux_mp4),
            keep_ts=e.flag("KEEP_TS", d.keep_ts),
            finalize_concurrency=e.integer(
                "FINALIZE_CONCURRENCY", d.finalize_concurrency, minimum=1
            ),
            retention_interval=e.number("RETENTION_INTERVAL", d.retention_interval, minimum=1.0),
            retention_days=e.number("RETENTION_DAYS", d.retention_days, minimum=0.0),
            session_history_days=e.number(
                "SESSION_HISTORY_DAYS", d.session_history_days, minimum=0.0
            ),
            min_free_bytes=e.integer("MIN_FREE_BYTES", d.min_free_bytes, minimum=0),
            stall_timeout=e.number("STALL_TIMEOUT", d.stall_timeout, minimum=1.0),
            restart_limit=e.integer("RESTART_LIMIT", d.restart_limit, minimum=0),
            restart_backoff_max=e.number("RESTART_BACKOFF_MAX", d.restart_backoff_max, minimum=0.1),
            end_grace=e.number("STREAM_END_GRACE", d.end_grace, minimum=0.0),
            disk_check_interval=e.number("DISK_CHECK_INTERVAL", d.disk_check_interval, minimum=0.1),
            tls=TlsConfig.from_env(e),
            pictures=PictureSettings.from_env(e),
            notify=NotifySettings.from_env(e),
        )


PREVIEW_MODES = ("on_demand", "always", "off")


def _preview_mode(value: str) -> str:
    mode = value.strip().lower().replace("-", "_")
    if mode not in PREVIEW_MODES:
        raise SettingsError(f"PREVIEW must be one of {', '.join(PREVIEW_MODES)}, not {value!r}")
    return mode


def _split_size(size: int, e: Env) -> int:
    if size and (e.integer("SPLIT_EVERY", 0) or e.flag("SPLIT_AT_MIDNIGHT", False)):
        raise SettingsError("SPLIT_SIZE cannot be combined with SPLIT_EVERY or SPLIT_AT_MIDNIGHT")
    if size and size < 65_536:
        raise SettingsError(f"SPLIT_SIZE must be 0 or at least 65536 bytes, not {size}")
    return size


def _split_every(seconds: int, e: Env) -> int:
    # With the midnight split, parts are cut on the clock: the interval must divide a day.
    if seconds and e.flag("SPLIT_AT_MIDNIGHT", False) and 86_400 % seconds:
        raise SettingsError(f"SPLIT_EVERY={seconds} must divide 86400 when SPLIT_AT_MIDNIGHT is on")
    return seconds
