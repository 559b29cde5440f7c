"""A real local proxy server for tests: pproxy (HTTP and SOCKS5, with a password) in a process
of its own, started and stopped by the test, logging every connection it relays."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from simlab.harness import free_port, wait_for

_RELAYED = re.compile(r"^(?P<scheme>\w+) (?P<client>[\d.]+:\d+) -> (?P<dest>\S+)$")


@dataclass
class ProxyServer:
    """``scheme`` is ``http`` or ``socks5``; ``url`` carries the user and password."""

    scheme: str
    log_path: Path
    user: str = "streamrec"
    password: str = "pr0xy-s3cret"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def start(self) -> ProxyServer:
        listen = f"{self.scheme}://127.0.0.1:{self.port}#{self.user}:{self.password}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "pproxy", "-l", listen, "--auth", "0", "-v"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for("the proxy to listen", lambda: "Serving on" in self.log_path.read_text(), 15)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def relayed(self) -> list[tuple[str, str]]:
        """(client address, destination) of every connection relayed so far."""
        out = []
        for line in self.log_path.read_text().splitlines():
            match = _RELAYED.match(line.strip())
            if match:
                out.append((match["client"], match["dest"]))
        return out

    def refused(self) -> int:
        """Connections refused for want of the password."""
        return self.log_path.read_text().count("Unauthorized")

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
