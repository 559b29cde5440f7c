"""Entry point: ``python -m resolver_service`` (or the ``streamrec-resolver`` script)."""

from __future__ import annotations

import asyncio
import logging

from grpc import aio

from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.wiring import ClientPool, build_relay, build_resolver
from servicekit.grpc_server import build_server, serve
from servicekit.log_service import LogServicer
from servicekit.logs import log_ring, setup_logging
from servicekit.metrics import serve_metrics
from servicekit.settings import load_or_exit
from streamrec.v1 import (
    log_service_pb2,
    log_service_pb2_grpc,
    resolver_service_pb2,
    resolver_service_pb2_grpc,
)

log = logging.getLogger("resolver_service")
SERVICE_NAME = resolver_service_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name
LOG_SERVICE_NAME = log_service_pb2.DESCRIPTOR.services_by_name["LogService"].full_name


async def run(settings: ResolverSettings) -> None:
    """Build the resolver and serve until SIGTERM/SIGINT."""
    relay = build_relay(settings)
    async with ClientPool(settings) as clients, relay:
        resolver = load_or_exit(lambda: build_resolver(settings, clients, relay))
        servicer = ResolverServicer(resolver)
        logs = LogServicer("resolver", log_ring())

        def register(server: aio.Server) -> None:
            resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(servicer, server)
            log_service_pb2_grpc.add_LogServiceServicer_to_server(logs, server)

        app = build_server(
            register,
            [SERVICE_NAME, LOG_SERVICE_NAME],
            host=settings.host,
            port=settings.port,
            credentials=settings.tls.server_credentials(),
        )
        log.info(
            "sources: %s; site budget %.2f req/s per host (burst %d), CDN %.2f (burst %d)",
            ", ".join(resolver.sources),
            settings.budget.rate,
            settings.budget.burst,
            settings.cdn_budget.rate,
            settings.cdn_budget.burst,
            extra={"event.action": "resolver.config"},
        )
        serve_metrics(settings.host, settings.metrics_port, service="resolver")
        await serve(app, name="resolver", grace=settings.shutdown_grace)


def main() -> None:
    """Read settings, set up logging, run."""
    setup_logging("resolver")
    asyncio.run(run(load_or_exit(ResolverSettings.from_env)))


if __name__ == "__main__":
    main()
