"""``/streams/records/{person}/{file}``: recordings served from disk, with Range requests, and
no way out of OUTPUT_DIR/records."""

from __future__ import annotations

import os
import random
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Scope

from gateway.routes.files import SnapshotFileResponse
from tests.gateway.fake_recorder import Fakes, assert_error

SIZE = 200_000  # a few of Starlette's 64 KiB chunks
DATA = random.Random(7).randbytes(SIZE)
SECRET = b"TOP-SECRET-OUTSIDE-CONTENT"


@pytest.fixture
def records(output_dir: Path, tmp_path: Path) -> Path:
    folder = output_dir / "records" / "alice"
    folder.mkdir()
    (folder / "a.ts").write_bytes(DATA)
    (folder / "b.mp4").write_bytes(DATA[:1000])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.ts").write_bytes(SECRET)
    (folder / "leak.ts").symlink_to(outside / "secret.ts")
    (output_dir / "records" / "evil").symlink_to(outside, target_is_directory=True)
    (output_dir / "sessions").mkdir()
    (output_dir / "sessions" / "s.ts").write_bytes(SECRET)
    return folder


async def test_full_get(client: httpx.AsyncClient, records: Path, fakes: Fakes) -> None:
    response = await client.get("/streams/records/alice/a.ts")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "video/mp2t"
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == 'inline; filename="a.ts"'
    assert response.headers["x-request-id"]
    assert fakes.calls() == []  # served from disk, no recorder involved


async def test_mp4_and_case_insensitive_person(client: httpx.AsyncClient, records: Path) -> None:
    response = await client.get("/streams/records/Alice/b.mp4")
    assert response.status_code == 200 and response.content == DATA[:1000]
    assert response.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", SIZE - 100, SIZE - 1),
        ("bytes=150000-", 150_000, SIZE - 1),
        ("bytes=1000-70000", 1000, 70_000),  # crosses a chunk boundary
        ("bytes=5-5", 5, 5),
        (f"bytes=10-{SIZE * 2}", 10, SIZE - 1),  # end past the file: clipped
    ],
)
async def test_single_ranges(
    client: httpx.AsyncClient, records: Path, header: str, start: int, end: int
) -> None:
    response = await client.get("/streams/records/alice/a.ts", headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == "video/mp2t"


async def test_multiple_ranges(client: httpx.AsyncClient, records: Path) -> None:
    response = await client.get(
        "/streams/records/alice/a.ts", headers={"Range": "bytes=0-9,100-109"}
    )
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert DATA[0:10] in response.content and DATA[100:110] in response.content
    assert len(response.content) == int(response.headers["content-length"])


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"])
async def test_unsatisfiable_range_is_a_416(
    client: httpx.AsyncClient, records: Path, header: str
) -> None:
    response = await client.get("/streams/records/alice/a.ts", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert DATA[:16] not in response.content


async def test_head(client: httpx.AsyncClient, records: Path) -> None:
    response = await client.head("/streams/records/alice/a.ts")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    ranged = await client.head("/streams/records/alice/a.ts", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 0-99/{SIZE}"


async def test_missing_file_is_a_404(client: httpx.AsyncClient, records: Path) -> None:
    assert_error(await client.get("/streams/records/alice/nope.ts"), 404, "FILE_NOT_FOUND")
    assert_error(await client.get("/streams/records/nobody/a.ts"), 404, "FILE_NOT_FOUND")
    head = await client.head("/streams/records/alice/nope.ts")
    assert head.status_code == 404 and head.content == b""  # HEAD: no body, even for errors


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/streams/records/alice/..%2F..%2F..%2Fetc%2Fpasswd", "INVALID_FILE_NAME"),
        ("/streams/records/alice/..%2F..%2Fsessions%2Fs.ts", "INVALID_FILE_NAME"),
        ("/streams/records/alice/%2e%2e%2f%2e%2e%2foutside%2fsecret.ts", "INVALID_FILE_NAME"),
        ("/streams/records/%2e%2e/outside/secret.ts", "INVALID_PERSON"),
        ("/streams/records/..%2F..%2Fsessions/s.ts", "INVALID_PERSON"),
        ("/streams/records/alice/%2Fetc%2Fpasswd", "INVALID_FILE_NAME"),
        ("/streams/records/alice/a.ts%00.ts", "INVALID_FILE_NAME"),
        ("/streams/records/alice/a.ts%00", "INVALID_FILE_NAME"),
        ("/streams/records/alice/.hidden.ts", "INVALID_FILE_NAME"),
        ("/streams/records/alice/x.txt", "INVALID_FILE_NAME"),
        ("/streams/records/alice/a%5Cb.ts", "INVALID_FILE_NAME"),
        ("/streams/records/a%20b/a.ts", "INVALID_PERSON"),
        ("/streams/records/alice/a.TS", "INVALID_FILE_NAME"),
        ("/streams/records/alice/leak.ts", "INVALID_PATH"),  # symlink to outside OUTPUT_DIR
        ("/streams/records/evil/secret.ts", "INVALID_PATH"),  # symlinked folder
    ],
)
async def test_nothing_outside_the_records_folder_is_served(
    client: httpx.AsyncClient, records: Path, path: str, code: str
) -> None:
    for method in ("GET", "HEAD"):
        response = await client.request(method, path, headers={"Range": "bytes=0-"})
        assert response.status_code == 400, (method, path, response.text)
        assert SECRET not in response.content
    assert_error(await client.get(path), 400, code)


async def test_symlink_inside_the_records_folder_is_fine(
    client: httpx.AsyncClient, records: Path, output_dir: Path
) -> None:
    (output_dir / "records" / "bob").mkdir()
    (output_dir / "records" / "bob" / "same.ts").symlink_to(records / "a.ts")
    response = await client.get("/streams/records/bob/same.ts", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and response.content == DATA[:10]


async def test_a_growing_file_is_served_as_it_was_when_the_response_started(
    tmp_path: Path,
) -> None:
    """A recording being written grows between the stat and the last chunk: no more bytes than
    Content-Length may go out (the server would break the connection)."""
    path = tmp_path / "growing.ts"
    path.write_bytes(DATA)
    stat_result = os.stat(path)
    with path.open("ab") as f:
        f.write(b"\xff" * 100_000)  # written after the response took its snapshot
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "GET",
        "headers": [],
        "asgi": {"spec_version": "2.4"},
    }
    response = SnapshotFileResponse(path, media_type="video/mp2t", stat_result=stat_result)
    await response(scope, receive, send)
    start, *bodies = sent
    assert dict(start["headers"])[b"content-length"] == str(SIZE).encode()
    assert b"".join(m["body"] for m in bodies) == DATA
    assert [m.get("more_body", False) for m in bodies][-1] is False
    assert all(m.get("more_body", False) for m in bodies[:-1])
