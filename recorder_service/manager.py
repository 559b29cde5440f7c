"""The session manager: starts, stops, finds and lists recording sessions. No gRPC in here."""

from __future__ import annotations

import asyncio
import collections
import logging
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder_service.events import EventBus
from recorder_service.ffmpeg_cmd import RecordJob
from recorder_service.finalizer import Finalizer
from recorder_service.model import EventType, Session, SessionEvent, SessionState
from recorder_service.paths import (
    inferred_person,
    parse_record_name,
    record_file_glob,
    record_file_name,
    record_file_numbered,
    record_file_pattern,
    record_numbered_glob,
    record_rel,
    split_record_rel,
    validate_person,
)
from recorder_service.ports import QualityWish, ResolvedStream, Resolver
from recorder_service.recordings import page_bounds
from recorder_service.runner import SessionRunner, Watchdog
from recorder_service.settings import RecorderSettings
from recorder_service.socks_bridge import SocksBridges, is_socks
from recorder_service.store import Recording, RecordingState, Store
from servicekit import correlation
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from servicekit.redact import redact_text

log = logging.getLogger(__name__)

_REQUEST_IDS_KEPT = 10_000


@dataclass(frozen=True)
class StartRequest:
    target: str
    source_type: str = "auto"
    name: str = ""
    person: str = ""
    quality: QualityWish = field(default_factory=QualityWish)
    request_id: str = ""
    # The watch-list channel starting it (auto-record); "" for a manual start.
    channel: str = ""


def resume_spec(req: StartRequest) -> dict[str, Any]:
    """What starting ``req`` again after a recorder restart takes (``Session.resume``)."""
    return {
        "target": req.target.strip(),
        "source_type": req.source_type,
        "name": req.name,
        "quality": asdict(req.quality),
    }


def _new_session_id() -> str:
    return uuid.uuid4().hex[:12]


def _seconds_of_day(t: datetime) -> int:
    local = t.astimezone()
    return local.hour * 3600 + local.minute * 60 + local.second


class SessionManager:
    """Every session of this recorder. One running session per person. Sessions and their
    files are saved in the store at every change of state (not at every progress tick)."""

    def __init__(
        self,
        settings: RecorderSettings,
        resolver: Resolver,
        bus: EventBus,
        ffmpeg: str,
        store: Store,
        *,
        finalizer: Finalizer,
        admission: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        self.bus = bus
        self._ffmpeg = ffmpeg
        self.store = store
        self.finalizer = finalizer
        # Raises (e.g. ResourceExhausted below the free-space watermark) to refuse a start.
        self._admission = admission
        self._runners: dict[str, SessionRunner] = {}
        self._bridges = SocksBridges()
        self._persons_busy: set[str] = set()
        self._request_ids: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._accepting = True
        # Starts between "runner registered" and "ffmpeg spawned": shutdown waits for them.
        self._spawning = 0
        self._spawned = asyncio.Event()
        self._spawned.set()
        bus.add_listener(self._persist)

    @property
    def output_dir(self) -> Path:
        return self._settings.output_dir

    # -- queries -----------------------------------------------------------------------------

    def running(self) -> list[Session]:
        return [r.session for r in self._runners.values()]

    def processes(self) -> list[tuple[Session, int | None]]:
        """Each running session with the pid of its ffmpeg (None between two ffmpegs)."""
        out = []
        for r in self._runners.values():
            process = getattr(r, "process", None)
            out.append((r.session, process.pid if process is not None else None))
        return out

    def active_paths(self) -> set[str]:
        """Files being written or finalized: nothing may delete them."""
        paths = {p for r in self._runners.values() for p in r.session.record_paths}
        return paths | self.finalizer.busy_paths

    def is_busy(self, person: str) -> bool:
        return person in self._persons_busy

    def get(self, session_id: str) -> Session:
        """A running or ended session; NotFound otherwise."""
        runner = self._runners.get(session_id)
        if runner is not None:
            return runner.session
        ended = self.store.get_session(session_id)
        if ended is not None:
            return ended
        raise NotFound(f"no session {session_id!r}", reason="SESSION_NOT_FOUND")

    def list(
        self, *, page_size: int = 0, page_token: str = "", include_ended: bool = False
    ) -> tuple[Sequence[Session], str]:
        """Sessions newest first, paginated; returns (page, next_page_token)."""
        offset, size = page_bounds(page_size, page_token)
        if include_ended:
            # Running sessions are in the store too; their live copy replaces the saved one.
            stored = self.store.list_sessions(offset, size + 1)
            more = len(stored) > size
            page = [self._live(s) for s in stored[:size]]
        else:
            running = sorted(self.running(), key=lambda s: s.start_time, reverse=True)
            page = running[offset : offset + size]
            more = offset + size < len(running)
        return [s.snapshot() for s in page], (str(offset + size) if more else "")

    def _live(self, stored: Session) -> Session:
        runner = self._runners.get(stored.session_id)
        return runner.session if runner is not None else stored

    # -- commands ----------------------------------------------------------------------------

    async def start(self, req: StartRequest) -> Session:
        """Resolve the target and start recording it."""
        if not self._accepting:
            raise FailedPrecondition("recorder is shutting down", reason="SHUTTING_DOWN")
        if not req.target or not req.target.strip():
            raise InvalidArgument("target must not be empty", reason="EMPTY_TARGET")
        if len(req.name) > 200 or any(unicodedata.category(c).startswith("C") for c in req.name):
            # As for a channel's name: no CR/LF, NUL, escapes or bidi controls in what is shown.
            raise InvalidArgument(
                "name must be at most 200 printable characters", reason="INVALID_NAME"
            )
        if req.request_id:
            known = self._request_ids.get(req.request_id)
            if known is not None:
                return self.get(known).snapshot()
        explicit_person = validate_person(req.person) if req.person else None
        if explicit_person is not None:
            self._check_person_free(explicit_person)
        self._admission()

        resolved = await self._resolve(req.target.strip(), req.source_type, req.quality)
        if not self._accepting:
            # Shutdown began while we were resolving: spawning now would outlive the drain.
            raise FailedPrecondition("recorder is shutting down", reason="SHUTTING_DOWN")

        person = explicit_person or inferred_person(resolved.person_hint, req.target)
        # No await between this check and the reservation: two starts for one person race here.
        self._check_person_free(person)
        if req.request_id and req.request_id in self._request_ids:
            return self.get(self._request_ids[req.request_id]).snapshot()
        session_id = _new_session_id()
        now = datetime.now(UTC)
        split = self._settings.split_every or (86_400 if self._settings.split_at_midnight else 0)
        split_bytes = self._settings.split_size
        glob = record_file_glob(person, session_id)
        if split_bytes:
            name = record_file_numbered(person, now, session_id)
            rel = record_rel(person, name)
            glob = record_numbered_glob(person, session_id)
        elif split:
            rel = record_rel(person, record_file_pattern(person, session_id))
        else:
            rel = record_rel(person, record_file_name(person, now, session_id))
        preview_rel = Path("sessions") / session_id
        session = Session(
            session_id=session_id,
            person=person,
            name=req.name or person,
            target=redact_text(req.target.strip()),
            source_type=resolved.source_type,
            start_time=now,
            correlation_id=correlation.get() or "",
            preview_path=str(preview_rel / "stream.m3u8"),
            # Split parts are listed as ffmpeg creates them.
            record_paths=() if split or split_bytes else (rel,),
            variant=resolved.variant,
            separate_audio=bool(resolved.audio_url),
            channel=req.channel,
            resume=None if req.channel else resume_spec(req),
        )
        job = RecordJob(
            media_url=resolved.media_url,
            audio_url=resolved.audio_url,
            headers=resolved.headers,
            http_proxy=resolved.cdn_proxy,
            direct_hosts=resolved.direct_hosts,
            record_path=self.output_dir / rel,
            preview_dir=self.output_dir / preview_rel,
            hls_time=self._settings.hls_time,
            hls_list_size=self._settings.hls_list_size,
            progress_interval=self._settings.progress_interval,
            rw_timeout_s=self._settings.http_timeout,
            split_seconds=split,
            split_on_clock=self._settings.split_at_midnight,
            split_from=_seconds_of_day(now),
            split_bytes=split_bytes,
            part_glob=glob,
            preview=self._settings.preview == "always",
        )
        target, source, quality = req.target.strip(), req.source_type, req.quality

        async def reresolve() -> ResolvedStream:
            return await self._resolve(target, source, quality)

        def next_job(
            stream: ResolvedStream, part: int, video_at: int | None, audio_at: int | None
        ) -> RecordJob:
            """The job of restart number ``part``: a fresh URL, a new part file."""
            path = job.record_path
            if not split and not split_bytes:
                path = path.with_name(record_file_name(person, now, session_id, part))
            return replace(
                job,
                media_url=stream.media_url,
                audio_url=stream.audio_url,
                headers=stream.headers,
                http_proxy=stream.cdn_proxy,
                direct_hosts=stream.direct_hosts,
                record_path=path,
                live_start_index=video_at,
                audio_live_start_index=audio_at,
                start_number=len(session.record_paths),
            )

        s = self._settings
        runner = SessionRunner(
            session,
            job,
            ffmpeg=self._ffmpeg,
            bus=self.bus,
            stop_timeout=s.stop_timeout,
            on_ended=self._ended_cb,
            watchdog=Watchdog(
                stall_timeout=s.stall_timeout,
                max_restarts=s.restart_limit,
                backoff_max=s.restart_backoff_max,
                end_grace=s.end_grace,
            ),
            reresolve=reresolve,
            next_job=next_job,
            on_gap=self.store.add_gap,
        )
        self._persons_busy.add(person)
        self._runners[session_id] = runner
        if req.request_id:
            self._remember_request(req.request_id, session_id)
        self.bus.publish(EventType.STARTING, session, f"recording {person}")
        self._spawning += 1
        self._spawned.clear()
        try:
            await runner.start()
        except Exception as exc:
            session.state = SessionState.FAILED
            session.end_reason = f"could not start ffmpeg: {exc}"
            session.end_time = datetime.now(UTC)
            self.bus.publish(EventType.FAILED, session, session.end_reason)
            self._ended_cb(session)
            raise
        finally:
            self._spawning -= 1
            if not self._spawning:
                self._spawned.set()
        return session.snapshot()

    async def stop(self, session_id: str, reason: str = "stopped by request") -> Session:
        """Stop a session and wait until its file is finalized. Stopping an ended one is a
        no-op that returns it."""
        runner = self._runners.get(session_id)
        if runner is None:
            return self.get(session_id).snapshot()
        return (await runner.stop(reason)).snapshot()

    async def shutdown(
        self, reason: str = "recorder shutting down", *, stop_timeout: float | None = None
    ) -> None:
        """Refuse new starts and stop every session, finalizing every file (``stop_timeout``:
        see SessionRunner.stop)."""
        self._accepting = False
        await self._spawned.wait()
        runners = list(self._runners.values())
        if runners:
            log.info(
                "stopping %d session(s)", len(runners), extra={"event.action": "recorder.drain"}
            )
        await asyncio.gather(
            *(r.stop(reason, stop_timeout) for r in runners), return_exceptions=True
        )
        await self._bridges.close()

    # -- internals ---------------------------------------------------------------------------

    async def _resolve(self, target: str, source: str, quality: QualityWish) -> ResolvedStream:
        """The resolver's answer, its CDN proxy made one ffmpeg speaks: a SOCKS5 proxy becomes
        the loopback HTTP bridge in front of it (``socks_bridge``)."""
        stream = await self._resolver.resolve(target, source, quality)
        if not is_socks(stream.cdn_proxy):
            return stream
        return replace(stream, cdn_proxy=await self._bridges.http_proxy_for(stream.cdn_proxy) or "")

    def _check_person_free(self, person: str) -> None:
        if person in self._persons_busy:
            raise AlreadyExists(
                f"{person} is already being recorded",
                reason="PERSON_ALREADY_RECORDING",
                metadata={"person": person},
            )

    def _remember_request(self, request_id: str, session_id: str) -> None:
        self._request_ids[request_id] = session_id
        while len(self._request_ids) > _REQUEST_IDS_KEPT:
            self._request_ids.popitem(last=False)

    def _ended_cb(self, session: Session) -> None:
        self._runners.pop(session.session_id, None)
        self._persons_busy.discard(session.person)
        self.finalizer.schedule(session, RecordingState.COMPLETE)

    def _persist(self, event: SessionEvent) -> None:
        """Save the session at every change of state, and index each file as it appears."""
        if event.type is EventType.PROGRESS:
            return
        s = event.session
        self.store.save_session(s)
        if event.type not in (EventType.STARTING, EventType.FILE_ROTATED, EventType.RECORDING):
            return
        for part, rel in enumerate(s.record_paths):
            person, name = split_record_rel(rel)
            if self.store.get_recording(person, name) is None:
                parsed = parse_record_name(name)
                self.store.save_recording(
                    Recording(
                        person=person,
                        file_name=name,
                        start_time=parsed.started if parsed and part else s.start_time,
                        state=RecordingState.WRITING,
                        session_id=s.session_id,
                        part=part,
                    )
                )
