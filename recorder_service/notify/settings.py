"""Notification settings (``NOTIFY_*``), part of the recorder's settings."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.settings import Env


@dataclass(frozen=True)
class NotifySettings:
    #: Seconds a notification is retried before it is dead (24 h).
    retry_for: float = 86_400.0
    #: The first wait after a failure; it doubles (with jitter) up to retry_max_wait.
    retry_initial: float = 5.0
    retry_max_wait: float = 3_600.0
    #: Seconds one send may take (connect, send, answer), then it counts as failed.
    timeout: float = 10.0
    #: Deliveries in flight per target (a target can set fewer or more).
    concurrency: int = 4
    #: Pending deliveries per target; past it, new ones are refused and counted (overflow).
    queue_limit: int = 10_000
    #: Threads for Apprise (its plugins block).
    apprise_threads: int = 4
    #: Hosts, host:port or networks exempt from the address checks (comma-separated).
    allow_hosts: tuple[str, ...] = ()
    #: Days delivered (and dead) deliveries stay listed.
    history_days: float = 7.0
    dead_days: float = 30.0
    #: The gateway's and the resolver's metrics ports: refused as destinations on this host,
    #: like the recorder's own ports.
    gateway_port: int = 8080
    resolver_metrics_port: int = 9091

    @classmethod
    def from_env(cls, env: Env | None = None) -> NotifySettings:
        e = env or Env()
        d = cls()
        return cls(
            retry_for=e.number("NOTIFY_RETRY_FOR", d.retry_for, minimum=0.0),
            retry_initial=e.number("NOTIFY_RETRY_INITIAL", d.retry_initial, minimum=0.01),
            retry_max_wait=e.number("NOTIFY_RETRY_MAX_WAIT", d.retry_max_wait, minimum=0.01),
            timeout=e.number("NOTIFY_TIMEOUT", d.timeout, minimum=0.1),
            concurrency=e.integer("NOTIFY_CONCURRENCY", d.concurrency, minimum=1),
            queue_limit=e.integer("NOTIFY_QUEUE_LIMIT", d.queue_limit, minimum=1),
            apprise_threads=e.integer("NOTIFY_APPRISE_THREADS", d.apprise_threads, minimum=1),
            allow_hosts=tuple(
                h.strip() for h in e.text("NOTIFY_ALLOW_HOSTS", "").split(",") if h.strip()
            ),
            history_days=e.number("NOTIFY_HISTORY_DAYS", d.history_days, minimum=0.0),
            dead_days=e.number("NOTIFY_DEAD_DAYS", d.dead_days, minimum=0.0),
            gateway_port=e.integer("GATEWAY_PORT", d.gateway_port, minimum=0),
            resolver_metrics_port=e.integer(
                "RESOLVER_METRICS_PORT", d.resolver_metrics_port, minimum=0
            ),
        )
