"""Manual sessions go on after a recorder restart.

Watch-list channels are recorded again by auto-record once the recorder is back. A session
started by hand (``POST /api/start``) would simply end: stopped by the shutdown ("recorder
shutting down") or, after a crash, marked INTERRUPTED at start-up. Each such session that ended
that way recently (``RESUME_WINDOW``) is started again, once, for the same person, from what
its start asked for (``Session.resume``, kept in the store only): a new session with new files,
which the resolver refuses with a clear reason when the channel is no longer live."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from recorder_service.manager import SessionManager, StartRequest
from recorder_service.model import Session, SessionState
from recorder_service.ports import QualityWish
from recorder_service.store import Store
from servicekit import correlation
from servicekit.errors import DomainError

log = logging.getLogger(__name__)

SHUTDOWN_REASON = "recorder shutting down"


def resumable(sessions: Iterable[Session], now: datetime, window_s: float) -> list[Session]:
    """The manual sessions a restart cut short within the last ``window_s`` seconds, oldest
    first, one per person (its latest)."""
    if window_s <= 0:
        return []
    since = now - timedelta(seconds=window_s)
    latest: dict[str, Session] = {}
    for s in sessions:
        if s.channel or not s.resume:
            continue
        shut_down = s.state is SessionState.STOPPED and s.end_reason == SHUTDOWN_REASON
        # INTERRUPTED: marked at this start-up, ending when its files were last written.
        if not (shut_down or s.state is SessionState.INTERRUPTED):
            continue
        when = s.end_time
        if when is None or when < since:
            continue
        if s.person not in latest or latest[s.person].start_time < s.start_time:
            latest[s.person] = s
    return sorted(latest.values(), key=lambda s: s.start_time)


async def resume_sessions(
    manager: SessionManager, store: Store, window_s: float, now: datetime | None = None
) -> list[str]:
    """Start again what ``resumable`` picks; returns the new session ids. Each old session is
    marked first (its ``resume`` cleared), so nothing is resumed twice, even if this start
    fails or the recorder stops again meanwhile."""
    picked = resumable(
        store.sessions_in_states([SessionState.STOPPED, SessionState.INTERRUPTED]),
        now or datetime.now(UTC),
        window_s,
    )
    started = []
    for old in picked:
        spec = old.resume or {}
        old.resume = None
        store.save_session(old)
        with correlation.bound(correlation.new_id("resume-")):
            extra = {
                "event.action": "session.resume_after_restart",
                "session_id": old.session_id,
                "person": old.person,
            }
            try:
                new = await manager.start(
                    StartRequest(
                        target=str(spec.get("target", "")),
                        source_type=str(spec.get("source_type", "auto")),
                        name=str(spec.get("name", "")),
                        person=old.person,
                        quality=QualityWish(**dict(spec.get("quality") or {})),
                    )
                )
            except DomainError as exc:
                log.warning(
                    "not resumed after the restart: %s (%s)",
                    exc.message,
                    exc.reason,
                    extra={**extra, "error.code": exc.reason},
                )
                continue
            except Exception:
                log.exception("could not resume a session after the restart", extra=extra)
                continue
            log.info(
                "resumed after the restart as session %s",
                new.session_id,
                extra={**extra, "resumed_as": new.session_id},
            )
            started.append(new.session_id)
    return started
