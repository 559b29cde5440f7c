"""Notification receivers on loopback, for tests: a Standard Webhooks receiver that verifies
every signature with the ``standardwebhooks`` package, and a fake ntfy server.

Both are threaded ``http.server`` servers, so sync (end-to-end) and async tests use them alike.
A receiver can answer an error status, hold requests before answering, or go away entirely
(its port then refuses connections) and come back on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simlab.harness import free_port


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int = 0  # the status answered (0: not answered: the client went away)
    payload: Any = None  # verified JSON (webhooks) or parsed body
    error: str = ""  # why verification failed
    query: dict[str, list[str]] = field(default_factory=dict)


class _Server:
    """A threaded HTTP server whose handler calls ``self.handle``; stop() closes the port."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._httpd: ThreadingHTTPServer | None = None
        self.connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle and delayed ACKs
                # add 40 ms to every answer on a kept-alive connection.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with server.lock:
                    server.connections.add(self.connection)

            def finish(self) -> None:
                with server.lock:
                    server.connections.discard(self.connection)
                super().finish()

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, reply = server.handle(self, body)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    self.wfile.flush()
                except OSError:
                    server.not_answered(self)

            do_POST = do_PUT = _any

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: connections are refused until start() again."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        # Kept-alive connections go too, as when a receiver's process dies.
        with self.lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def not_answered(self, request: BaseHTTPRequestHandler) -> None:
        """The client went away before the answer was written."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_for(self, what: str, predicate: Any, timeout: float = 30.0) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def _peer_gone(conn: socket.socket) -> bool:
    """Whether the other end closed the connection (without reading from it)."""
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class WebhookReceiver(_Server):
    """Verifies each request with ``standardwebhooks.Webhook(secret).verify`` and, like a real
    receiver, processes each ``webhook-id`` once: ``accepted`` holds the payloads processed,
    in arrival order; a repeat of an id is answered 200 and not processed again.

    ``status`` (default 200) is answered to every request; ``hold_s`` delays the answer."""

    def __init__(self, secret: str, port: int = 0) -> None:
        super().__init__(port)
        self.webhook = Webhook(secret)
        self.status = 200
        self.hold_s = 0.0
        self.accepted: list[dict[str, Any]] = []
        self.answered_ok: dict[str, int] = {}
        self.bad_signatures = 0

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        entry = Received(request.path, headers, body)
        try:
            entry.payload = self.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            entry.error = str(exc)
        with self.lock:
            self.received.append(entry)
            status, hold = self.status, self.hold_s
        if hold:
            time.sleep(hold)
            if _peer_gone(request.connection):
                # The sender went away while we held the answer (it was killed): like a
                # receiver that commits with its answer, this request is not processed.
                return 503, b'{"error": "sender gone"}'
        if entry.error:
            with self.lock:
                self.bad_signatures += 1
            entry.answered = 401
            return 401, b'{"error": "bad signature"}'
        if status >= 300:
            entry.answered = status
            return status, b'{"error": "not now"}'
        msg_id = headers["webhook-id"]
        with self.lock:
            if msg_id not in self.answered_ok:
                self.accepted.append(entry.payload)
            self.answered_ok[msg_id] = self.answered_ok.get(msg_id, 0) + 1
        entry.answered = 200
        return 200, b'{"ok": true}'

    def types(self) -> list[str]:
        with self.lock:
            return [p["type"] for p in self.accepted]

    def ids(self) -> list[str]:
        with self.lock:
            return [p["id"] for p in self.accepted]


class FakeNtfy(_Server):
    """Enough of an ntfy server for Apprise's ntfy:// plugin: JSON publishes to ``/`` and
    attachment uploads to ``/{topic}`` (the file as the body, the text in the query)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.messages: list[dict[str, Any]] = []

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(body or b"{}")
            message = {
                "topic": data.get("topic"),
                "title": data.get("title", ""),
                "message": data.get("message", ""),
                "attachment": None,
            }
        else:
            message = {
                "topic": parts.path.strip("/"),
                "title": query.get("title", ""),
                "message": query.get("message", ""),
                "attachment": body,
                "filename": query.get("filename", ""),
            }
        message["authorization"] = request.headers.get("authorization", "")
        with self.lock:
            self.messages.append(message)
            self.received.append(Received(request.path, dict(request.headers), body))
        return 200, b'{"id": "x", "event": "message"}'


class JsonSink(_Server):
    """Records JSON bodies (Apprise's json:// posts ``{"title", "message", "type", ...}``)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.bodies: list[dict[str, Any]] = []

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.bodies.append(json.loads(body or b"{}"))
            self.received.append(Received(request.path, dict(request.headers), body))
        return 200, b"{}"
