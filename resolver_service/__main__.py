"""Entry point: ``python -m resolver_service`` (or the ``streamrec-resolver`` script)."""

from __future__ import annotations

import asyncio
import logging

import httpx

from resolver_service.core import Resolver
from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.sources.hls import HlsSource
from servicekit.grpc_server import build_server, serve
from servicekit.logs import setup_logging
from streamrec.v1 import resolver_service_pb2, resolver_service_pb2_grpc

log = logging.getLogger("resolver_service")
SERVICE_NAME = resolver_service_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name


async def run(settings: ResolverSettings) -> None:
    """Build the resolver and serve until SIGTERM/SIGINT."""
    headers = {"User-Agent": settings.user_agent}
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        headers=headers,
        follow_redirects=False,  # sources follow redirects themselves, checking each hop
    ) as client:
        resolver = Resolver({"hls": HlsSource(client, http_headers=headers)})
        servicer = ResolverServicer(resolver)
        app = build_server(
            lambda server: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(
                servicer, server
            ),
            [SERVICE_NAME],
            host=settings.host,
            port=settings.port,
        )
        await serve(app, name="resolver", grace=settings.shutdown_grace)


def main() -> None:
    """Read settings, set up logging, run."""
    setup_logging("resolver")
    asyncio.run(run(ResolverSettings.from_env()))


if __name__ == "__main__":
    main()
