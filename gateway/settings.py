"""Gateway settings, read once from the environment (see the README's table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.cors import parse_allow_origins
from gateway.loki import check_loki_url
from servicekit.settings import Env, SettingsError
from servicekit.tls import TlsConfig


@dataclass(frozen=True, repr=False)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 8080
    recorder_addr: str = "127.0.0.1:50052"
    output_dir: Path = Path("data")
    max_body_bytes: int = 64 * 1024
    rpc_timeout: float = 30.0
    build_commit: str = ""
    build_time: str = ""
    # Required on every /api and /streams request when set (never logged).
    api_token: str = ""
    # How long a dashboard sign-in lasts (seconds).
    session_ttl: int = 7 * 24 * 3600
    # The dashboard's built assets (gateway/web/dist and the pages).
    web_dir: Path = Path(__file__).resolve().parent / "web"
    # Origins whose pages may read the previews, recordings and read-only API (gateway.cors);
    # none by default.
    cors_allow_origins: tuple[str, ...] = ()
    # A Grafana with the logs in Loki: /api/logs links each query to its Explore page.
    loki_url: str = ""
    loki_datasource: str = "loki"

    tls: TlsConfig = field(default_factory=TlsConfig)

    def __repr__(self) -> str:
        # The token must never reach a log line or a traceback.
        shown = {k: v for k, v in self.__dict__.items() if k != "api_token"}
        return f"GatewaySettings({shown}, api_token={'set' if self.api_token else 'unset'})"

    @classmethod
    def from_env(cls, env: Env | None = None) -> GatewaySettings:
        """Read every setting from the environment, with the documented defaults."""
        e = env or Env()
        d = cls()
        return cls(
            host=e.text("GATEWAY_HOST", d.host),
            port=e.integer("GATEWAY_PORT", d.port, minimum=0),
            recorder_addr=e.text("RECORDER_ADDR", d.recorder_addr),
            output_dir=Path(e.text("OUTPUT_DIR", str(d.output_dir))),
            max_body_bytes=e.integer("MAX_BODY_BYTES", d.max_body_bytes, minimum=1024),
            rpc_timeout=e.number("RPC_TIMEOUT", d.rpc_timeout, minimum=0.1),
            build_commit=e.text("BUILD_COMMIT", ""),
            build_time=e.text("BUILD_TIME", ""),
            api_token=_token(e.text("API_TOKEN", "")),
            session_ttl=e.integer("SESSION_TTL", d.session_ttl, minimum=60),
            web_dir=Path(e.text("WEB_DIR", str(d.web_dir))),
            cors_allow_origins=parse_allow_origins(e.text("CORS_ALLOW_ORIGINS", "")),
            loki_url=check_loki_url(e.text("LOKI_URL", "")),
            loki_datasource=e.text("LOKI_DATASOURCE", d.loki_datasource),
            tls=TlsConfig.from_env(e),
        )


def _token(value: str) -> str:
    if value and (len(value) < 16 or not value.isascii() or not value.isprintable()):
        raise SettingsError("API_TOKEN must be at least 16 printable ASCII characters")
    return value
