"""Entry point: ``python -m gateway`` (or the ``streamrec-gateway`` script)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from servicekit.logs import setup_logging


def main() -> None:
    """Read settings, set up logging, serve HTTP until SIGTERM/SIGINT."""
    setup_logging("gateway")
    settings = GatewaySettings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # our root logger already formats everything
        access_log=False,  # the middleware writes one http.request line per request
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
