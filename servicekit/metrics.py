"""Prometheus metrics shared by the three services: RPC and HTTP latency, and the exporter.

Each gRPC service serves its registry on its own port (RESOLVER_METRICS_PORT,
RECORDER_METRICS_PORT; 0 = off); the gateway serves ``/metrics`` on its HTTP port. Labels are
bounded sets (method names, codes, route templates), never channel or file names.
"""

from __future__ import annotations

import logging

from prometheus_client import Histogram, start_http_server

log = logging.getLogger(__name__)

# Latency buckets from 1 ms to 60 s: status checks, starts (a resolve) and long batch calls.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

RPC_SECONDS = Histogram(
    "streamrec_grpc_server_handling_seconds",
    "Time to answer a gRPC call (a server stream: its lifetime), by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
    buckets=LATENCY_BUCKETS,
)
HTTP_SECONDS = Histogram(
    "streamrec_http_request_duration_seconds",
    "Time to answer an HTTP request at the gateway, by method, route template and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)


def observe_rpc(full_method: str, seconds: float, code: str) -> None:
    """Record one gRPC call (``full_method`` is ``/package.Service/Method``)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    RPC_SECONDS.labels(service or "unknown", method or "unknown", code).observe(seconds)


def serve_metrics(host: str, port: int, *, service: str) -> None:
    """Serve this process's metrics on ``host:port`` (a daemon thread); ``port`` 0 = off."""
    if not port:
        return
    start_http_server(port, addr=host)
    # No "service" field: it would clash with service.name, which says it already.
    log.info(
        "%s metrics on http://%s:%d/metrics",
        service,
        host,
        port,
        extra={"event.action": "metrics.start", "server.port": port},
    )
