"""TLS between the services: with GRPC_TLS_* set, gateway -> recorder -> resolver all speak
mutual TLS (a recording goes through the whole chain), and a plaintext or untrusted client
is turned away."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack
from tests.tls_certs import Certs, make_certs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Stack]:
    env = {
        "GRPC_TLS_CERT": str(certs.cert),
        "GRPC_TLS_KEY": str(certs.key),
        "GRPC_TLS_CA": str(certs.ca),
        "GRPC_TLS_CLIENT_AUTH": "true",
    }
    with Stack(tmp_path_factory.mktemp("tls"), env_extra=env) as running:
        yield running


def test_a_recording_goes_through_the_whole_chain_over_mutual_tls(
    stack: Stack, origin: HlsOrigin
) -> None:
    origin.add_stream("tls_stream")
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        session = client.post("/api/start", json={"target": origin.url("tls_stream")})
        assert session.status_code == 201, session.text
        sid = session.json()["session_id"]
        end = time.monotonic() + 20
        while client.get(f"/api/sessions/{sid}").json()["bytes_written"] == 0:
            assert time.monotonic() < end
            time.sleep(0.2)
        assert client.post(f"/api/stop/{sid}").json()["state"] == "STOPPED"


def _health(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=3).status)


@pytest.mark.parametrize("port", ["recorder_port", "resolver_port"])
def test_plaintext_and_untrusted_clients_are_refused(stack: Stack, certs: Certs, port: str) -> None:
    addr = f"127.0.0.1:{getattr(stack, port)}"
    with grpc.insecure_channel(addr) as plain, pytest.raises(grpc.RpcError):
        _health(plain)
    # TLS, but no client certificate: mutual TLS says no.
    anonymous = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    with grpc.secure_channel(addr, anonymous) as channel, pytest.raises(grpc.RpcError):
        _health(channel)
    # A client that trusts another CA does not accept the server.
    wrong = grpc.ssl_channel_credentials(
        root_certificates=certs.other_ca.read_bytes(),
        private_key=certs.key.read_bytes(),
        certificate_chain=certs.cert.read_bytes(),
    )
    with grpc.secure_channel(addr, wrong) as channel, pytest.raises(grpc.RpcError):
        _health(channel)
    # The right credentials work.
    with grpc.secure_channel(addr, stack.credentials()) as channel:  # type: ignore[arg-type]
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
