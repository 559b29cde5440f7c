"""What every fake server shares: a threaded HTTP server on loopback that can be stopped at
once (kept-alive connections included), run in a daemon thread by a small owner class."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

log = logging.getLogger(__name__)


class TrackedServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its open connections, to drop them on shutdown."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[TrackedHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """Shut down kept-alive client sockets so their handler threads end now."""
        with self.connections_lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (ffmpeg) hang up mid-response all the time; that is not worth a traceback.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that registers its connection with the server."""

    server: TrackedServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


ServerT = TypeVar("ServerT", bound=TrackedServer)


class Background(Generic[ServerT]):
    """Owns one server: ``start()`` serves it in a daemon thread, ``stop()`` sets ``stopping``
    (so delayed answers wake up), shuts it down, drops connections and joins the thread."""

    thread_name = "fake-server"

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def _make_server(self, address: tuple[str, int]) -> ServerT:
        raise NotImplementedError

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError(f"{self.thread_name} already started")
        self.stopping.clear()
        self._server = self._make_server(self._address)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        log.debug("%s listening on %s", self.thread_name, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed requests, close open connections, join the thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError(f"{self.thread_name} not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
