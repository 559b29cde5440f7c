"""How long the watchdog waits before restarting ffmpeg: tenacity's capped exponential backoff.

The watchdog keeps its own loop (a restart is not a retried call: the resolver is asked in
between and a stop must cut the wait short), so tenacity is used only as the delay policy.
"""

from __future__ import annotations

from tenacity import RetryCallState, Retrying
from tenacity.wait import wait_base, wait_exponential_jitter


def restart_backoff(initial: float, maximum: float, jitter: float) -> wait_base:
    """``initial`` seconds before the first restart in a row, doubling with each one, plus up
    to ``jitter`` seconds (sessions that lost the same CDN at once do not all return in the
    same instant), never more than ``maximum``."""
    return wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)


def wait_before(policy: wait_base, restart: int) -> float:
    """Seconds ``policy`` waits before restart number ``restart`` in a row (1: the first)."""
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = max(1, restart)
    return float(policy(state))
