"""Entry point: ``python -m resolver_service`` (or the ``streamrec-resolver`` script)."""

from __future__ import annotations

import asyncio
import logging

from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.wiring import build_resolver, http_client
from servicekit.grpc_server import build_server, serve
from servicekit.logs import setup_logging
from servicekit.metrics import serve_metrics
from streamrec.v1 import resolver_service_pb2, resolver_service_pb2_grpc

log = logging.getLogger("resolver_service")
SERVICE_NAME = resolver_service_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name


async def run(settings: ResolverSettings) -> None:
    """Build the resolver and serve until SIGTERM/SIGINT."""
    async with http_client(settings) as client:
        servicer = ResolverServicer(build_resolver(settings, client))
        app = build_server(
            lambda server: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(
                servicer, server
            ),
            [SERVICE_NAME],
            host=settings.host,
            port=settings.port,
            credentials=settings.tls.server_credentials(),
        )
        log.info(
            "sources: %s; site budget %.2f req/s per host (burst %d)",
            ", ".join(settings.sources),
            settings.budget.rate,
            settings.budget.burst,
            extra={"event.action": "resolver.config"},
        )
        serve_metrics(settings.host, settings.metrics_port, service="resolver")
        await serve(app, name="resolver", grace=settings.shutdown_grace)


def main() -> None:
    """Read settings, set up logging, run."""
    setup_logging("resolver")
    asyncio.run(run(ResolverSettings.from_env()))


if __name__ == "__main__":
    main()
