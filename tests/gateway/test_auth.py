"""API_TOKEN: every /api and /streams route wants it (Bearer or X-API-Key), compared in
constant time; a refusal is a 401 with the usual error body and reaches no backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.settings import GatewaySettings
from servicekit.settings import Env, SettingsError
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import Fakes, assert_error

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
async def locked(fakes: Fakes, output_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    (output_dir / "records" / "ann").mkdir()
    (output_dir / "records" / "ann" / "a.ts").write_bytes(b"G" * 1000)
    async with gateway_client(f"127.0.0.1:{fakes.port}", output_dir, api_token=TOKEN) as c:
        yield c


PROTECTED = [
    ("GET", "/api/models"),
    ("POST", "/api/models"),
    ("DELETE", "/api/models/ann"),
    ("GET", "/api/recordings/ann"),
    ("POST", "/api/cleanup"),
    ("GET", "/api/status"),
    ("POST", "/api/start"),
    ("GET", "/api/events"),
    ("GET", "/api/version"),
    ("GET", "/streams/records/ann/a.ts"),
    ("GET", "/streams/sessions/abc/stream.m3u8"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_without_the_token_every_api_and_streams_route_is_401(
    locked: httpx.AsyncClient, fakes: Fakes, method: str, path: str
) -> None:
    response = await locked.request(method, path)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fakes.calls() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"X-API-Key": TOKEN[:-1]},
        {"X-API-Key": TOKEN + "x"},
    ],
)
async def test_a_wrong_token_is_401(locked: httpx.AsyncClient, fakes: Fakes, headers) -> None:
    assert_error(await locked.get("/api/models", headers=headers), 401, "UNAUTHENTICATED")
    assert fakes.calls() == []


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {TOKEN}"}, {"X-API-Key": TOKEN}])
async def test_the_token_opens_the_api_and_the_files(
    locked: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (await locked.get("/api/models", headers=headers)).status_code == 200
    file = await locked.get("/streams/records/ann/a.ts", headers={**headers, "Range": "bytes=0-9"})
    assert file.status_code == 206 and file.content == b"G" * 10


async def test_health_and_docs_stay_open(locked: httpx.AsyncClient) -> None:
    assert (await locked.get("/healthz")).status_code == 200
    assert (await locked.get("/openapi.json")).status_code == 200


async def test_without_a_token_setting_nothing_is_asked(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/models")).status_code == 200


def test_a_short_or_odd_token_is_refused_at_start_and_never_shown() -> None:
    for bad in ("short", "x" * 15, "tab\there-0123456789", "é" * 20):
        with pytest.raises(SettingsError, match="API_TOKEN"):
            GatewaySettings.from_env(Env({"API_TOKEN": bad}))
    settings = GatewaySettings.from_env(Env({"API_TOKEN": TOKEN}))
    assert settings.api_token == TOKEN and TOKEN not in repr(settings)
