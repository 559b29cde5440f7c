"""A real grpc.aio server on a free loopback port, built the way the services build theirs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from grpc import aio

from servicekit.grpc_interceptors import insecure_channel
from servicekit.grpc_server import Register, build_server


@contextlib.asynccontextmanager
async def serving(register: Register, service_name: str) -> AsyncIterator[aio.Channel]:
    """Start a server with ``register``'s servicer; yield a client channel; stop both."""
    app = build_server(register, [service_name], host="127.0.0.1", port=0)
    await app.server.start()
    channel = insecure_channel(f"127.0.0.1:{app.port}")
    try:
        yield channel
    finally:
        await channel.close()
        await app.server.stop(0)
