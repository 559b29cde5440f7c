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
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.auth import AuthConfig, TokenAuthMiddleware
from gateway.backend import Backend
from gateway.cors import CorsMiddleware
from gateway.errors import domain_error_response, error_response, rpc_error_response
from gateway.middleware import RequestContextMiddleware
from gateway.routes import (
    dashboard,
    events,
    files,
    logs,
    media,
    model_status,
    notifications,
    playback,
    recordings,
    sessions,
    system,
    watchlist,
    watchlist_file,
)
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


_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "code", "correlation_id"],
    "properties": {
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "code": {"type": "string", "description": "machine-readable reason (UPPER_SNAKE)"},
        "correlation_id": {"type": "string", "description": "also in X-Request-ID"},
    },
}
# What any route may answer besides its success (FastAPI's own 422 is never sent: bad input
# is a 400 with the error body).
_ERRORS = {
    "400": "bad input",
    "401": "API token missing or wrong (when API_TOKEN is set)",
    "404": "unknown session, channel, recording or route",
    "409": "conflict (already recording, already watched, file being written)",
    "413": "request body too large",
    "429": "rate limited",
    "502": "the site or CDN kept the resolver from knowing",
    "503": "a service is down or shutting down",
    "504": "a service did not answer in time",
    "507": "free space below MIN_FREE_BYTES",
}


def _document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, declaring the error body every route really sends."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, text in _ERRORS.items():
                responses.setdefault(status, {"description": text, "content": error})
    app.openapi_schema = schema
    return schema


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
        # A path that ends in "/" after decoding is a 404 with the error body, not a redirect
        # to a URL built from the client's Host header.
        redirect_slashes=False,
    )
    # Added first, so it runs inside the correlation middleware (a 401 carries the id).
    auth = AuthConfig(token=settings.api_token, session_ttl=settings.session_ttl)
    app.state.auth = auth
    app.add_middleware(TokenAuthMiddleware, config=auth)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        larger={"/api/watchlist/import": watchlist_file.IMPORT_MAX_BYTES},
    )
    app.add_middleware(CorsMiddleware, allow_origins=settings.cors_allow_origins)

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

    app.include_router(sessions.router)
    app.include_router(model_status.router)
    app.include_router(events.router)
    app.include_router(files.router)
    app.include_router(watchlist.router)
    app.include_router(notifications.router)
    app.include_router(media.router)  # before recordings: its {filename:path} takes any tail
    app.include_router(recordings.router)
    app.include_router(system.router)
    app.include_router(playback.router)
    app.include_router(watchlist_file.router)
    app.include_router(logs.router)
    dashboard.mount(app, dashboard.Pages(settings.web_dir))

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

    app.openapi = lambda: _document(app)  # type: ignore[method-assign]

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/version", tags=["ops"], summary="Version, commit and build time")
    async def api_version() -> dict[str, str]:
        return version

    return app
