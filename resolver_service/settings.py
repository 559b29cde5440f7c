"""Resolver settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.settings import Env

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36"
)


@dataclass(frozen=True)
class ResolverSettings:
    host: str = "127.0.0.1"
    port: int = 50051
    http_timeout: float = 10.0
    user_agent: str = DEFAULT_USER_AGENT
    shutdown_grace: float = 5.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> ResolverSettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        return cls(
            host=e.text("RESOLVER_HOST", d.host),
            port=e.integer("RESOLVER_PORT", d.port, minimum=0),
            http_timeout=e.number("RESOLVER_HTTP_TIMEOUT", d.http_timeout, minimum=0.5),
            user_agent=e.text("RESOLVER_USER_AGENT", d.user_agent),
            shutdown_grace=e.number("RESOLVER_SHUTDOWN_GRACE", d.shutdown_grace, minimum=0.0),
        )
