"""One way to build and run a streamrec gRPC server: interceptors, health, reflection,
graceful SIGTERM (health NOT_SERVING, then drain, then stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from servicekit.grpc_interceptors import ServerInterceptor
from servicekit.reflection import enable_reflection

log = logging.getLogger("servicekit.server")

Register = Callable[[aio.Server], None]


@dataclass
class GrpcApp:
    """A built server plus its health servicer and the names of the services it serves."""

    server: aio.Server
    health: HealthServicer
    service_names: Sequence[str]
    port: int
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING for every service (and the server as a whole)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (*self.service_names, ""):
            await self.health.set(name, status)

    async def shutdown(self, grace: float) -> None:
        """Stop taking work, run the shutdown hooks, then stop the server: all of it within
        ``grace`` (the hooks are expected to keep to it; the server gets what is left)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        await self.set_serving(False)
        for hook in self.on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed", extra={"event.action": "server.shutdown"})
        await self.server.stop(max(0.5, grace - (loop.time() - began)))


def build_server(
    register: Register,
    service_names: Sequence[str],
    *,
    host: str,
    port: int,
    credentials: grpc.ServerCredentials | None = None,
) -> GrpcApp:
    """Create an aio server on ``host:port`` (port 0 picks a free one) with the house
    interceptors, health checking and reflection (v1 and v1alpha), and ``register`` adding
    the servicers."""
    server = aio.server(
        interceptors=[ServerInterceptor()],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 2**20),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    enable_reflection(
        server, (*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    )
    address = f"{host}:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise OSError(f"could not bind gRPC server to {host}:{port}")
    return GrpcApp(server=server, health=health, service_names=service_names, port=bound)


async def serve(app: GrpcApp, *, name: str, grace: float) -> None:
    """Start ``app`` and run until SIGTERM or SIGINT, then shut down gracefully."""
    await app.server.start()
    await app.set_serving(True)
    log.info(
        "%s listening on port %d",
        name,
        app.port,
        extra={"event.action": "server.start", "server.port": app.port},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(app.server.wait_for_termination())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info(
            "%s shutting down (grace %.0fs)",
            name,
            grace,
            extra={"event.action": "server.stop"},
        )
        await app.shutdown(grace)
        for task in (waiter, stopper):
            task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("%s stopped", name, extra={"event.action": "server.stopped"})
