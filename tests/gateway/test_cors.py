"""CORS_ALLOW_ORIGINS: pages of the listed origins may read the live preview, the recordings
and the read-only API (a player such as hls.js); nothing that changes state is ever approved,
preflights pass without the API token, and with the setting empty nothing changes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from servicekit.settings import Env, SettingsError
from tests.gateway.fake_recorder import Fakes

ALLOWED = "https://player.example"
OTHER = "http://127.0.0.1:3000"
STRANGER = "https://evil.example"
TOKEN = "s3cret-token-0123456789"
DATA = bytes(range(256)) * 40

RECORDING = "/streams/records/ann/a.ts"
PREVIEW = "/streams/sessions/s1/seg_0.ts"
# /api/status answers an error here (the fake recorder has no RecorderService): a page must be
# able to read errors too.
READS = [RECORDING, PREVIEW, "/api/status", "/api/models"]


@pytest.fixture
def files(output_dir: Path) -> Path:
    (output_dir / "records" / "ann").mkdir()
    (output_dir / "records" / "ann" / "a.ts").write_bytes(DATA)
    (output_dir / "sessions" / "s1").mkdir(parents=True)
    (output_dir / "sessions" / "s1" / "seg_0.ts").write_bytes(DATA[:188])
    return output_dir


@contextlib.asynccontextmanager
async def gateway(
    fakes: Fakes, output_dir: Path, origins: tuple[str, ...], api_token: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app, in-process, with ``CORS_ALLOW_ORIGINS`` = ``origins``."""
    settings = GatewaySettings(
        recorder_addr=f"127.0.0.1:{fakes.port}",
        output_dir=output_dir,
        rpc_timeout=5,
        build_commit="test",
        api_token=api_token,
        cors_allow_origins=origins,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=10
        ) as client,
    ):
        yield client


@pytest.fixture
async def open_cors(fakes: Fakes, files: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(fakes, files, (ALLOWED, OTHER)) as client:
        yield client


@pytest.fixture
async def locked_cors(fakes: Fakes, files: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(fakes, files, (ALLOWED, OTHER), api_token=TOKEN) as client:
        yield client


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(method: str, headers: str = "authorization, range", origin: str = ALLOWED):
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize("path", READS)
async def test_an_allowed_origin_gets_cors_headers_on_previews_recordings_and_api_reads(
    open_cors: httpx.AsyncClient, path: str
) -> None:
    response = await open_cors.get(path, headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == OTHER
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"Content-Range", "Accept-Ranges", "Content-Length", "X-Request-ID"}
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers.get_list("vary")


async def test_an_allowed_origin_with_the_token_reads_a_byte_range_of_a_recording(
    locked_cors: httpx.AsyncClient,
) -> None:
    headers = {"Origin": ALLOWED, "Authorization": f"Bearer {TOKEN}", "Range": "bytes=10-19"}
    response = await locked_cors.get(RECORDING, headers=headers)
    assert response.status_code == 206 and response.content == DATA[10:20]
    assert response.headers["access-control-allow-origin"] == ALLOWED
    head = await locked_cors.head(RECORDING, headers={"Origin": ALLOWED, "X-API-Key": TOKEN})
    assert head.status_code == 200 and head.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("path", READS)
async def test_an_origin_not_listed_gets_no_cors_headers(
    open_cors: httpx.AsyncClient, path: str
) -> None:
    response = await open_cors.get(path, headers={"Origin": STRANGER})
    assert cors_headers(response) == {}


@pytest.mark.parametrize("path", [*READS, "/api/events"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_preflight_for_reading_with_range_and_a_token_is_approved_without_the_token(
    locked_cors: httpx.AsyncClient, fakes: Fakes, path: str, method: str
) -> None:
    response = await locked_cors.options(path, headers=preflight(method))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "HEAD"}
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "x-api-key", "range"} <= allowed
    assert "access-control-allow-credentials" not in response.headers
    assert fakes.calls() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/start"),
        ("POST", "/api/stop/s1"),
        ("PUT", "/api/models/ann"),
        ("DELETE", "/api/recordings/ann/a.ts"),
        ("PATCH", "/api/models/ann"),
        ("DELETE", RECORDING),
    ],
)
@pytest.mark.parametrize("locked", [False, True], ids=["open", "token"])
async def test_a_preflight_for_a_state_changing_method_is_never_approved(
    fakes: Fakes, files: Path, method: str, path: str, locked: bool
) -> None:
    async with gateway(fakes, files, (ALLOWED,), api_token=TOKEN if locked else "") as client:
        response = await client.options(path, headers=preflight(method, "content-type"))
        assert response.status_code in (401, 405)  # what any OPTIONS got before
        assert cors_headers(response) == {}
        # Nor does the request itself, if a client sends it anyway, get a readable answer.
        sent = await client.request(method, path, headers={"Origin": ALLOWED})
        assert cors_headers(sent) == {}


@pytest.mark.parametrize(
    "headers",
    [
        preflight("GET", origin=STRANGER),
        preflight("GET", "authorization, x-secret"),
        preflight("PUT", ""),
    ],
    ids=["origin-not-listed", "header-not-allowed", "method-not-allowed"],
)
async def test_a_preflight_asking_for_more_than_reading_is_not_approved(
    open_cors: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await open_cors.options(RECORDING, headers=headers)
    assert response.status_code == 405
    assert cors_headers(response) == {}


async def test_routes_outside_the_previews_recordings_and_api_get_no_cors_headers(
    open_cors: httpx.AsyncClient,
) -> None:
    for path in ("/healthz", "/metrics", "/openapi.json"):
        response = await open_cors.get(path, headers={"Origin": ALLOWED})
        assert cors_headers(response) == {}, path
    response = await open_cors.options("/healthz", headers=preflight("GET"))
    assert response.status_code == 405 and cors_headers(response) == {}


async def test_with_the_setting_empty_no_response_carries_cors_headers(
    client: httpx.AsyncClient, files: Path
) -> None:
    for path in READS:
        response = await client.get(path, headers={"Origin": ALLOWED})
        assert cors_headers(response) == {}, path
        assert "Origin" not in response.headers.get_list("vary")
    response = await client.options(RECORDING, headers=preflight("GET"))
    assert response.status_code == 405 and cors_headers(response) == {}


async def test_any_origin_is_answered_with_a_star_and_still_only_for_reading(
    fakes: Fakes, files: Path
) -> None:
    async with gateway(fakes, files, ("*",)) as client:
        response = await client.get(RECORDING, headers={"Origin": STRANGER})
        assert response.headers["access-control-allow-origin"] == "*"
        approved = await client.options(RECORDING, headers=preflight("GET", origin=STRANGER))
        assert approved.status_code == 204
        assert approved.headers["access-control-allow-origin"] == "*"
        refused = await client.options("/api/start", headers=preflight("POST", origin=STRANGER))
        assert cors_headers(refused) == {}


def test_cors_allow_origins_is_read_as_origins_the_way_browsers_send_them() -> None:
    def read(value: str) -> tuple[str, ...]:
        return GatewaySettings.from_env(Env({"CORS_ALLOW_ORIGINS": value})).cors_allow_origins

    assert GatewaySettings.from_env(Env({})).cors_allow_origins == ()
    assert read(" ") == ()
    assert read(
        " https://A.Example , http://127.0.0.1:3000,https://b.example:443,http://[::1]:8000,"
    ) == ("https://a.example", "http://127.0.0.1:3000", "https://b.example", "http://[::1]:8000")
    assert read("http://x.example:80, http://x.example") == ("http://x.example",)
    assert read("*") == ("*",)


@pytest.mark.parametrize(
    "value",
    [
        "https://a.example/",
        "https://a.example/player",
        "a.example",
        "localhost:3000",
        "https://user:pw@a.example",
        "https://a.example?x=1",
        "https://a.example#top",
        "https://a.example:99999",
        "https://a b.example",
        "null",
        "https://a.example, *",
    ],
)
def test_a_cors_allow_origins_value_that_is_not_an_origin_list_is_refused_by_name(
    value: str,
) -> None:
    with pytest.raises(SettingsError, match="CORS_ALLOW_ORIGINS"):
        GatewaySettings.from_env(Env({"CORS_ALLOW_ORIGINS": value}))
