"""Container health checks for Docker and docker compose ``HEALTHCHECK``\\s.

    python -m servicekit.healthcheck grpc HOST:PORT [SERVICE]   # grpc.health.v1 Check
    python -m servicekit.healthcheck http URL                   # any 2xx

Exit 0 when healthy, 1 otherwise (with one line on stderr saying why: Docker keeps it in
``docker inspect``), 2 on bad usage. Each check gives up after ``--timeout`` seconds (3 by
default). ``SERVICE`` defaults to ``""``, the server as a whole, which the services report
NOT_SERVING while they drain. Kubernetes does not need this module: it probes gRPC health and
HTTP natively (but its gRPC probe cannot speak TLS: with GRPC_TLS_* set, use this module as an
exec probe; it reads the same settings).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from servicekit.tls import TlsConfig

HEALTHY = 0
UNHEALTHY = 1
DEFAULT_TIMEOUT = 3.0


def check_grpc(target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """Ask ``target``'s health service about ``service``: None when SERVING, else why not."""
    what = f"{target} {service!r}" if service else target
    # With GRPC_TLS_* set (servicekit.tls), the service only speaks TLS: so does the check.
    credentials = TlsConfig.from_env().channel_credentials()
    opened = (
        grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    )
    with opened as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            details = " ".join(str(exc.details() or "").split())
            return f"{what}: {exc.code().name} {details}".rstrip()
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return None
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return f"{what}: {status}"


def check_http(url: str, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """GET ``url`` (redirects followed, proxies ignored): None on a 2xx, else why not."""
    if not url.startswith(("http://", "https://")):
        return f"{url}: not an http(s) URL"
    # A container's HTTP(S)_PROXY must not capture a check of its own loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"User-Agent": "streamrec-healthcheck"})
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"{url}: HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return f"{url}: {exc.reason}"
    except (OSError, ValueError) as exc:
        return f"{url}: {type(exc).__name__}: {exc}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.healthcheck",
        description="Exit 0 when a streamrec service is healthy, 1 when it is not.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds before giving up (default {DEFAULT_TIMEOUT:g})",
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    grpc_check = kinds.add_parser("grpc", help="grpc.health.v1 Check: healthy when SERVING")
    grpc_check.add_argument("target", help="HOST:PORT")
    grpc_check.add_argument("service", nargs="?", default="", help="service name (default: all)")
    http_check = kinds.add_parser("http", help="HTTP GET: healthy on a 2xx")
    http_check.add_argument("url")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one check; return the exit code (0 healthy, 1 not)."""
    args = _parser().parse_args(argv)
    if args.kind == "grpc":
        problem = check_grpc(args.target, args.service, args.timeout)
    else:
        problem = check_http(args.url, args.timeout)
    if problem is None:
        return HEALTHY
    sys.stderr.write(f"unhealthy: {problem}\n")
    return UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
