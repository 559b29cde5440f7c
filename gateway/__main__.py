"""Entry point: ``python -m gateway`` (or the ``streamrec-gateway`` script)."""

from __future__ import annotations

import socket
import sys

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from gateway.app import create_app
from gateway.routes.events import shutdown_event
from gateway.settings import GatewaySettings
from servicekit.logs import setup_logging
from servicekit.settings import load_or_exit


class _Server(uvicorn.Server):
    """uvicorn's server, which first tells the app's event streams to end: uvicorn waits for
    open responses before anything reaches the app, and an SSE stream never ends by itself
    (it would be cut off after the grace, with an ERROR and no access line)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        shutdown_event(self._app).set()
        await super().shutdown(sockets)


def main() -> None:
    """Read settings, set up logging, serve HTTP until SIGTERM/SIGINT."""
    setup_logging("gateway")
    settings = load_or_exit(GatewaySettings.from_env)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our root logger already formats everything
        access_log=False,  # the middleware writes one http.request line per request
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, app)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # as uvicorn.run: a port in use is a failed start
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
