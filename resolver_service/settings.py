"""Resolver settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resolver_service.budget import BudgetConfig
from resolver_service.site_client import RetryPolicy
from resolver_service.sources.chaturbate import METHODS, ChaturbateConfig
from servicekit.errors import DomainError
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
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chaturbate: ChaturbateConfig = field(
        default_factory=lambda: ChaturbateConfig(user_agent=DEFAULT_USER_AGENT)
    )
    sources: tuple[str, ...] = ("hls", "chaturbate")

    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def from_env(cls, env: Env | None = None) -> ResolverSettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        user_agent = e.text("RESOLVER_USER_AGENT", d.user_agent)
        methods = tuple(
            m.strip().lower()
            for m in e.text("CHATURBATE_METHODS", ",".join(METHODS)).split(",")
            if m.strip()
        )
        sources = tuple(
            s.strip().lower()
            for s in e.text("RESOLVER_SOURCES", ",".join(d.sources)).split(",")
            if s.strip()
        )
        if not set(sources) <= {"hls", "chaturbate"}:
            raise SettingsError(f"RESOLVER_SOURCES: unknown source in {sources!r}")
        try:
            budget = BudgetConfig(
                rate=e.number("SITE_RATE", d.budget.rate, minimum=0.01),
                burst=e.integer("SITE_BURST", d.budget.burst, minimum=1),
                concurrency=e.integer("SITE_CONCURRENCY", d.budget.concurrency, minimum=1),
                jitter=e.number("SITE_JITTER", d.budget.jitter, minimum=0.0),
            )
            chaturbate = ChaturbateConfig(
                base_url=e.text("CHATURBATE_BASE_URL", d.chaturbate.base_url),
                thumbnail_base_url=e.text(
                    "CHATURBATE_THUMBNAIL_BASE_URL", d.chaturbate.thumbnail_base_url
                ),
                user_agent=e.text("CHATURBATE_USER_AGENT", user_agent),
                cookie=e.text("CHATURBATE_COOKIE", ""),
                affiliate_code=e.text("CHATURBATE_AFFILIATE_CODE", ""),
                methods=methods,
                lookup_timeout=e.number(
                    "CHATURBATE_LOOKUP_TIMEOUT", d.chaturbate.lookup_timeout, minimum=0.5
                ),
            )
        except (ValueError, DomainError) as exc:
            raise SettingsError(f"resolver site settings: {exc}") from exc
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
            chaturbate=chaturbate,
            sources=sources,
            tls=TlsConfig.from_env(e),
        )
