"""Assembling the resolver from its settings: one HTTP client, one budget, the sources."""

from __future__ import annotations

import httpx

from resolver_service.budget import RequestBudget
from resolver_service.core import Resolver
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import SiteClient
from resolver_service.sources.base import Source
from resolver_service.sources.chaturbate import ChaturbateSource
from resolver_service.sources.hls import HlsSource
from resolver_service.status import StatusCache


def http_client(settings: ResolverSettings) -> httpx.AsyncClient:
    """The one HTTP client every source shares (close it when done)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        headers={"User-Agent": settings.user_agent},
        follow_redirects=False,  # sources follow redirects themselves, checking each hop
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )


def build_resolver(settings: ResolverSettings, client: httpx.AsyncClient) -> Resolver:
    """A Resolver with the enabled sources, all sharing one request budget."""
    site = SiteClient(client, RequestBudget(settings.budget), settings.retry)
    hls = HlsSource(site, http_headers={"User-Agent": settings.user_agent})
    sources: dict[str, Source] = {}
    if "hls" in settings.sources:
        sources["hls"] = hls
    if "chaturbate" in settings.sources:
        sources["chaturbate"] = ChaturbateSource(site, hls, settings.chaturbate)
    return Resolver(sources, StatusCache(settings.status_cache_ttl))
