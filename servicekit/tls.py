"""Optional TLS between the services (gateway -> recorder -> resolver).

Off unless certificate paths are set; the same four settings serve every service:
``GRPC_TLS_CERT`` / ``GRPC_TLS_KEY`` (this service's certificate, for its server and, with
client authentication, as its client certificate), ``GRPC_TLS_CA`` (the CA that signed the
peers' certificates: turns on TLS for outgoing channels), and ``GRPC_TLS_CLIENT_AUTH``
(servers require a client certificate signed by that CA: mutual TLS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from servicekit.settings import Env, SettingsError


def _read(path: Path | None, name: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class TlsConfig:
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    client_auth: bool = False

    @classmethod
    def from_env(cls, env: Env | None = None) -> TlsConfig:
        e = env or Env()
        cert, key, ca = (e.text(n, "") for n in ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA"))
        if bool(cert) != bool(key):
            raise SettingsError("GRPC_TLS_CERT and GRPC_TLS_KEY go together")
        config = cls(
            cert_file=Path(cert) if cert else None,
            key_file=Path(key) if key else None,
            ca_file=Path(ca) if ca else None,
            client_auth=e.flag("GRPC_TLS_CLIENT_AUTH", False),
        )
        if config.client_auth and config.ca_file is None:
            raise SettingsError("GRPC_TLS_CLIENT_AUTH needs GRPC_TLS_CA (to check clients)")
        # Read once now, so a wrong path stops the service at start, not at its first call.
        _read(config.cert_file, "GRPC_TLS_CERT")
        _read(config.key_file, "GRPC_TLS_KEY")
        _read(config.ca_file, "GRPC_TLS_CA")
        return config

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None or self.ca_file is not None

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """None: serve in plaintext."""
        cert = _read(self.cert_file, "GRPC_TLS_CERT")
        key = _read(self.key_file, "GRPC_TLS_KEY")
        if cert is None or key is None:
            return None
        return grpc.ssl_server_credentials(
            [(key, cert)],
            root_certificates=_read(self.ca_file, "GRPC_TLS_CA") if self.client_auth else None,
            require_client_auth=self.client_auth,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """None: connect in plaintext."""
        ca = _read(self.ca_file, "GRPC_TLS_CA")
        if ca is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=_read(self.key_file, "GRPC_TLS_KEY"),
            certificate_chain=_read(self.cert_file, "GRPC_TLS_CERT"),
        )
