"""Source plugins: one module per site, each a ``Source`` registered by name (see ``base``)."""

from .base import Resolution, Source, discover_sources, get_source, register, registered

__all__ = ["Resolution", "Source", "discover_sources", "get_source", "register", "registered"]
