"""Source modules that only tests load (``RESOLVER_PLUGINS``), never registered by default."""
