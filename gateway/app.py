"""The FastAPI application: routes, error mapping, health, version."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import api, channels, events, files, models, recordings
from gateway.auth import TokenAuthMiddleware
from gateway.backend import Backend
from gateway.errors import domain_error_response, error_response, rpc_error_response
from gateway.middleware import RequestContextMiddleware
from gateway.settings import GatewaySettings
from servicekit.errors import DomainError

log = logging.getLogger("gateway")


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=Path(__file__).resolve().parent,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway app; gRPC channels open in its lifespan."""
    version = {
        "version": importlib.metadata.version("streamrec"),
        "commit": settings.build_commit or _commit(),
        "build_time": settings.build_time or "unknown",
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backend = Backend.connect(settings)
        log.info(
            "gateway ready",
            extra={"event.action": "gateway.start", "recorder_addr": settings.recorder_addr},
        )
        try:
            yield
        finally:
            await app.state.backend.close()

    app = FastAPI(
        title="streamrec",
        version=version["version"],
        description="Record HLS live streams: REST over the streamrec gRPC services.",
        lifespan=lifespan,
    )
    # Added first, so it runs inside the correlation middleware (a 401 carries the id).
    app.add_middleware(TokenAuthMiddleware, token=settings.api_token)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)

    @app.exception_handler(grpc.RpcError)
    async def on_rpc_error(_request: Request, exc: grpc.RpcError) -> JSONResponse:
        return rpc_error_response(exc)

    @app.exception_handler(DomainError)
    async def on_domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_detail(exc), "INVALID_ARGUMENT")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return error_response(exc.status_code, str(exc.detail), code)

    app.include_router(api.router)
    app.include_router(channels.router)
    app.include_router(events.router)
    app.include_router(files.router)
    app.include_router(models.router)
    app.include_router(recordings.router)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the gateway process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: the recorder is serving")
    async def readyz(request: Request) -> Any:
        be: Backend = request.app.state.backend
        stub = health_pb2_grpc.HealthStub(be.recorder_channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError as exc:
            return error_response(503, f"recorder not reachable: {exc.code().name}", "NOT_READY")
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return error_response(503, "recorder not serving", "NOT_READY")
        return {"status": "ready"}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/version", tags=["ops"], summary="Version, commit and build time")
    async def api_version() -> dict[str, str]:
        return version

    return app
