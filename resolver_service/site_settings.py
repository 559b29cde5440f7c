"""Reading what every site has (User-Agent, cookie, proxies, request budget) under its prefix.

A site's settings are ``<NAME>_USER_AGENT``, ``<NAME>_COOKIE``, ``<NAME>_PROXY`` (the site
API's proxy: http, https, socks5 or socks5h), ``<NAME>_CDN_PROXY`` (the CDN's: http, socks5 or
socks5h; the recorder gives ffmpeg, which speaks only HTTP proxies, a loopback bridge to a
SOCKS5 one) and ``<NAME>_RATE``, ``_BURST``, ``_CONCURRENCY``, ``_JITTER`` (the site API's
budget; the ``SITE_*`` values are the defaults). Anything a site needs beyond these it reads
itself, under the same prefix.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from servicekit.settings import Env, SettingsError

from .budget import BudgetConfig
from .sources.base import SiteSettings

__all__ = ["check_proxy", "read_site_settings", "redact_proxy"]

_API_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_CDN_PROXY_SCHEMES = ("http", "socks5", "socks5h")


def read_site_settings(
    env: Env, prefix: str, *, user_agent: str, budget: BudgetConfig
) -> SiteSettings:
    """The settings under ``prefix`` ("STRIPCHAT_"), with the resolver-wide defaults."""
    try:
        site_budget = BudgetConfig(
            rate=env.number(f"{prefix}RATE", budget.rate, minimum=0.01),
            burst=env.integer(f"{prefix}BURST", budget.burst, minimum=1),
            concurrency=env.integer(f"{prefix}CONCURRENCY", budget.concurrency, minimum=1),
            jitter=env.number(f"{prefix}JITTER", budget.jitter, minimum=0.0),
        )
    except ValueError as exc:
        raise SettingsError(f"{prefix}* budget: {exc}") from None
    agent = env.text(f"{prefix}USER_AGENT", user_agent)
    cookie = env.text(f"{prefix}COOKIE", "")
    for key, value in (("USER_AGENT", agent), ("COOKIE", cookie)):
        # Header values: a newline or a non-ASCII byte would fail every request at send time.
        if any(not (" " <= ch <= "~") for ch in value):
            raise SettingsError(f"{prefix}{key} must be printable ASCII")
    return SiteSettings(
        user_agent=agent,
        cookie=cookie,
        api_proxy=check_proxy(f"{prefix}PROXY", env.text(f"{prefix}PROXY", ""), _API_PROXY_SCHEMES),
        cdn_proxy=check_proxy(
            f"{prefix}CDN_PROXY", env.text(f"{prefix}CDN_PROXY", ""), _CDN_PROXY_SCHEMES
        ),
        budget=site_budget,
    )


def check_proxy(name: str, value: str, schemes: tuple[str, ...]) -> str | None:
    """``value`` if it is a proxy URL with one of ``schemes``, a host and a port; None when
    empty. The message of a refusal never repeats the value (it may hold a password)."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise SettingsError(f"{name} is not a URL") from None
    if parts.scheme.lower() not in schemes:
        kinds = " or ".join(f"{scheme}://" for scheme in schemes)
        raise SettingsError(f"{name} must be a {kinds} proxy URL")
    if not parts.hostname or port is None:
        raise SettingsError(f"{name} needs a host and a port (scheme://[user:password@]host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be scheme://[user:password@]host:port, nothing more")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise SettingsError(f"{name} contains whitespace or control characters")
    return value


def redact_proxy(proxy: str | None) -> str | None:
    """``scheme://host:port`` of a proxy URL: its credentials left out, for logs."""
    if not proxy:
        return None
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"
