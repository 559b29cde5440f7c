"""Assembling the resolver from its settings: the HTTP clients, the budgets, every source.

Each enabled source is built by its own ``create`` from a :class:`SourceContext`: its settings
under its prefix, a client for its site's API (a request budget of its own, its API proxy) and
one for its CDN's playlists (the CDN budget, larger and shared by every CDN host, and its CDN
proxy). Which sources exist is the registry's business (plus ``RESOLVER_PLUGINS``); this module
names none.
"""

from __future__ import annotations

import logging

import httpx

from resolver_service.budget import RequestBudget
from resolver_service.core import Resolver
from resolver_service.relay import PlaylistRelay
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import SiteClient
from resolver_service.site_settings import read_site_settings, redact_proxy
from resolver_service.sources.base import Source, SourceContext, load_plugins, sources_by_name
from resolver_service.sources.hls import HlsSource
from resolver_service.status import StatusCache
from servicekit.settings import Env, SettingsError

__all__ = ["ClientPool", "build_relay", "build_resolver", "enabled_sources", "http_client"]

log = logging.getLogger(__name__)


def http_client(settings: ResolverSettings, proxy: str | None = None) -> httpx.AsyncClient:
    """An HTTP client with the resolver's defaults (close it when done)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        headers={"User-Agent": settings.user_agent},
        follow_redirects=False,  # sources follow redirects themselves, checking each hop
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        proxy=proxy,
    )


class ClientPool:
    """One HTTP client per proxy (httpx binds a proxy to a client); ``aclose`` closes those it
    made. ``direct`` is the client without a proxy (given, or made here)."""

    def __init__(self, settings: ResolverSettings, direct: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._owned: list[httpx.AsyncClient] = []
        if direct is None:
            direct = http_client(settings)
            self._owned.append(direct)
        self._clients: dict[str | None, httpx.AsyncClient] = {None: direct}

    def get(self, proxy: str | None) -> httpx.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            client = http_client(self._settings, proxy)
            self._owned.append(client)
            self._clients[proxy] = client
        return client

    async def aclose(self) -> None:
        for client in self._owned:
            await client.aclose()
        self._owned.clear()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def build_relay(settings: ResolverSettings) -> PlaylistRelay:
    """The playlist relay as the settings say (``RELAY_*``); ``start`` it on the event loop."""
    return PlaylistRelay(
        host=settings.relay_host,
        port=settings.relay_port,
        public_url=settings.relay_public_url,
        idle_ttl=settings.relay_idle_ttl,
    )


def enabled_sources(settings: ResolverSettings) -> dict[str, type[Source]]:
    """The registered sources this resolver serves (``RESOLVER_SOURCES``; all by default)."""
    load_plugins(settings.plugins)
    known = sources_by_name()
    wanted = settings.sources if settings.sources is not None else tuple(sorted(known))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SettingsError(
            f"RESOLVER_SOURCES: no source named {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    return {name: known[name] for name in wanted}


def build_resolver(
    settings: ResolverSettings,
    clients: ClientPool | httpx.AsyncClient,
    relay: PlaylistRelay | None = None,
) -> Resolver:
    """A Resolver with every enabled source (``relay``: the playlist relay they may publish
    to, started by the caller). SettingsError for a bad site setting."""
    pool = clients if isinstance(clients, ClientPool) else ClientPool(settings, clients)
    env = Env(settings.env)
    cdn_budget = RequestBudget(settings.cdn_budget)
    sources: dict[str, Source] = {}
    for name, cls in enabled_sources(settings).items():
        prefix = f"{name.upper()}_"
        site = read_site_settings(
            env, prefix, user_agent=settings.user_agent, budget=settings.budget
        )
        api = SiteClient(pool.get(site.api_proxy), RequestBudget(site.budget), settings.retry)
        cdn = SiteClient(pool.get(site.cdn_proxy), cdn_budget, settings.retry)
        hls = HlsSource(cdn, http_headers={"User-Agent": site.user_agent}, cdn_proxy=site.cdn_proxy)
        context = SourceContext(
            name=name, prefix=prefix, env=env, site=site, api=api, cdn=cdn, hls=hls, relay=relay
        )
        sources[name] = cls.create(context)
        log.info(
            "source %s: %.2f req/s (burst %d)%s%s",
            name,
            site.budget.rate,
            site.budget.burst,
            f", API proxy {redact_proxy(site.api_proxy)}" if site.api_proxy else "",
            f", CDN proxy {redact_proxy(site.cdn_proxy)}" if site.cdn_proxy else "",
            extra={"event.action": "resolver.source", "resolver.source": name},
        )
    return Resolver(sources, StatusCache(settings.status_cache_ttl))
