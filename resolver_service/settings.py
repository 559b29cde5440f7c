"""Resolver settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from resolver_service.budget import BudgetConfig
from resolver_service.site_client import RetryPolicy
from resolver_service.targets import check_http_url
from servicekit.errors import InvalidArgument
from servicekit.settings import Env, SettingsError
from servicekit.tls import TlsConfig

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36"
)


@dataclass(frozen=True)
class ResolverSettings:
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9091
    http_timeout: float = 10.0
    user_agent: str = DEFAULT_USER_AGENT
    shutdown_grace: float = 5.0
    status_cache_ttl: float = 10.0
    #: The site APIs' budget per host (each site may set its own: ``<SITE>_RATE``, ...).
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    #: The CDN playlist reads' budget per host: larger, since a start reads two or three
    #: playlists and starts come in bursts (a restart, a popular hour).
    cdn_budget: BudgetConfig = field(
        default_factory=lambda: BudgetConfig(rate=20.0, burst=40, concurrency=16, jitter=0.0)
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: The enabled sources; None: every registered one.
    sources: tuple[str, ...] | None = None
    #: Modules to import for sources outside the package (third-party sites, tests).
    plugins: tuple[str, ...] = ()
    #: Where each source reads its own settings (``<SITE>_...``): the environment.
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    tls: TlsConfig = field(default_factory=TlsConfig)
    #: The playlist relay (``relay.py``): where it listens (port 0: any free one), the base URL
    #: the recorder reaches it by when that differs (compose, Kubernetes), and how long an
    #: unread playlist is kept.
    relay_host: str = "127.0.0.1"
    relay_port: int = 0
    relay_public_url: str = ""
    relay_idle_ttl: float = 120.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> ResolverSettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        user_agent = e.text("RESOLVER_USER_AGENT", d.user_agent)
        listed = e.text("RESOLVER_SOURCES", "")
        sources = tuple(s.strip().lower() for s in listed.split(",") if s.strip()) or None
        plugins = tuple(m.strip() for m in e.text("RESOLVER_PLUGINS", "").split(",") if m.strip())
        try:
            budget = BudgetConfig(
                rate=e.number("SITE_RATE", d.budget.rate, minimum=0.01),
                burst=e.integer("SITE_BURST", d.budget.burst, minimum=1),
                concurrency=e.integer("SITE_CONCURRENCY", d.budget.concurrency, minimum=1),
                jitter=e.number("SITE_JITTER", d.budget.jitter, minimum=0.0),
            )
            cdn_budget = BudgetConfig(
                rate=e.number("CDN_RATE", d.cdn_budget.rate, minimum=0.01),
                burst=e.integer("CDN_BURST", d.cdn_budget.burst, minimum=1),
                concurrency=e.integer("CDN_CONCURRENCY", d.cdn_budget.concurrency, minimum=1),
                jitter=e.number("CDN_JITTER", d.cdn_budget.jitter, minimum=0.0),
            )
        except ValueError as exc:
            raise SettingsError(f"resolver budget settings: {exc}") from exc
        return cls(
            host=e.text("RESOLVER_HOST", d.host),
            port=e.integer("RESOLVER_PORT", d.port, minimum=0),
            metrics_port=e.integer("RESOLVER_METRICS_PORT", d.metrics_port, minimum=0),
            http_timeout=e.number("RESOLVER_HTTP_TIMEOUT", d.http_timeout, minimum=0.1),
            user_agent=user_agent,
            shutdown_grace=e.number("RESOLVER_SHUTDOWN_GRACE", d.shutdown_grace, minimum=0.0),
            status_cache_ttl=e.number("STATUS_CACHE_TTL", d.status_cache_ttl, minimum=0.0),
            budget=budget,
            retry=RetryPolicy(
                retries=e.integer("SITE_RETRIES", d.retry.retries, minimum=0),
                backoff_initial=e.number("SITE_BACKOFF", d.retry.backoff_initial, minimum=0.0),
                backoff_max=e.number("SITE_BACKOFF_MAX", d.retry.backoff_max, minimum=0.0),
                max_retry_after=e.number(
                    "SITE_MAX_RETRY_AFTER", d.retry.max_retry_after, minimum=0.0
                ),
            ),
            cdn_budget=cdn_budget,
            sources=sources,
            plugins=plugins,
            env=e.snapshot(),
            tls=TlsConfig.from_env(e),
            relay_host=e.text("RELAY_HOST", d.relay_host),
            relay_port=e.integer("RELAY_PORT", d.relay_port, minimum=0),
            relay_public_url=_public_url(e.text("RELAY_PUBLIC_URL", d.relay_public_url)),
            relay_idle_ttl=e.number("RELAY_IDLE_TTL", d.relay_idle_ttl, minimum=1.0),
        )


def _public_url(value: str) -> str:
    if not value:
        return ""
    try:
        return check_http_url(value).rstrip("/")
    except InvalidArgument as exc:
        raise SettingsError(f"RELAY_PUBLIC_URL: {exc.message}") from None
