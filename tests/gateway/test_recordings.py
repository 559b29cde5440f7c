"""``/api/recordings`` and ``/api/cleanup`` over RecordingService, through real gRPC."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration

from streamrec.v1 import recording_service_pb2 as rec
from streamrec.v1 import session_pb2
from tests.gateway.fake_recorder import UNAVAILABLE, Fakes, assert_error, ts

RECORDING_KEYS = {
    "person",
    "file",
    "path",
    "url",
    "playbackUrl",
    "size",
    "duration",
    "startTime",
    "endTime",
    "state",
    "sessionId",
    "part",
    "parts",
    "pinned",
    "format",
    "gaps",
    "completeness",
    "posterUrl",
    "sheetUrl",
}


def recording(file_name: str = "alice_2025-06-01_12-00-00.mp4", **fields: Any) -> rec.Recording:
    values: dict[str, Any] = {
        "person": "alice",
        "file_name": file_name,
        "path": f"records/alice/{file_name}",
        "session_id": "sess-1",
        "part": 1,
        "parts": 2,
        "state": rec.RECORDING_STATE_COMPLETE,
        "size_bytes": 123_456_789,
        "media_duration": Duration(seconds=3600, nanos=123_456_789),
        "start_time": ts("2025-06-01T12:00:00Z"),
        "end_time": ts("2025-06-01T13:00:00.250Z"),
        "pinned": True,
        "format": "mp4",
        "gaps": [
            session_pb2.Gap(
                start_time=ts("2025-06-01T12:10:00Z"),
                duration=Duration(seconds=4, nanos=500_000_000),
                cause=session_pb2.GAP_CAUSE_FAILED_FETCH,
                detail="segment 42: HTTP 404",
            )
        ],
        "completeness": 0.99875,
    }
    values.update(fields)
    return rec.Recording(**values)


async def test_get_one_recording(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.recordings.add(recording())
    response = await client.get("/api/recordings/alice/alice_2025-06-01_12-00-00.mp4")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "person": "alice",
        "file": "alice_2025-06-01_12-00-00.mp4",
        "path": "records/alice/alice_2025-06-01_12-00-00.mp4",
        "url": "/streams/records/alice/alice_2025-06-01_12-00-00.mp4",
        "playbackUrl": "/streams/records/alice/alice_2025-06-01_12-00-00.mp4",
        "size": 123_456_789,
        "duration": 3600.123,
        "startTime": "2025-06-01T12:00:00.000Z",
        "endTime": "2025-06-01T13:00:00.250Z",
        "state": "COMPLETE",
        "sessionId": "sess-1",
        "part": 1,
        "parts": 2,
        "pinned": True,
        "format": "mp4",
        "gaps": [
            {
                "startTime": "2025-06-01T12:10:00.000Z",
                "duration": 4.5,
                "cause": "FAILED_FETCH",
                "detail": "segment 42: HTTP 404",
            }
        ],
        "completeness": 0.9988,
        "posterUrl": None,
        "sheetUrl": None,
    }
    request = fakes.recordings.seen.calls[0].request
    assert (request.person, request.file_name) == ("alice", "alice_2025-06-01_12-00-00.mp4")


async def test_a_file_being_written(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.recordings.add(
        rec.Recording(
            person="alice",
            file_name="live.ts",
            state=rec.RECORDING_STATE_WRITING,
            start_time=ts("2025-06-01T12:00:00Z"),
            format="ts",
        )
    )
    body = (await client.get("/api/recordings/alice/live.ts")).json()
    assert set(body) == RECORDING_KEYS
    assert body["state"] == "WRITING" and body["endTime"] is None
    assert body["sessionId"] is None and body["gaps"] == [] and body["duration"] == 0.0


async def test_list_walks_every_page_and_lowercases_the_person(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    for i in range(5):
        fakes.recordings.add(recording(f"alice_{i}.mp4"))
    fakes.recordings.add(recording("bob_0.mp4", person="bob"))
    response = await client.get("/api/recordings/Alice")
    assert response.status_code == 200
    assert [r["file"] for r in response.json()] == [f"alice_{i}.mp4" for i in range(5)]
    assert all(set(r) == RECORDING_KEYS for r in response.json())
    requests = [c.request for c in fakes.recordings.seen.calls]
    assert [(r.person, r.page_size, r.page_token) for r in requests] == [
        ("alice", 1000, ""),
        ("alice", 1000, "2"),
        ("alice", 1000, "4"),
    ]


async def test_list_of_nobody_is_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/recordings/nobody")
    assert response.status_code == 200 and response.json() == []


async def test_get_unknown_is_a_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/recordings/alice/nope.ts"), 404, "RECORDING_NOT_FOUND")


async def test_delete(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.recordings.add(recording("old.mp4", size_bytes=2048))
    response = await client.delete("/api/recordings/ALICE/old.mp4")
    assert response.status_code == 200
    assert response.json() == {"file": "old.mp4", "deleted": True, "bytesFreed": 2048}
    request = fakes.recordings.seen.calls[0].request
    assert (request.person, request.file_name) == ("alice", "old.mp4")
    assert_error(await client.delete("/api/recordings/alice/old.mp4"), 404, "RECORDING_NOT_FOUND")


async def test_deleting_a_file_being_written_is_a_409(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.recordings.add(recording("live.ts", state=rec.RECORDING_STATE_WRITING))
    response = await client.delete("/api/recordings/alice/live.ts")
    assert_error(response, 409, "RECORDING_IN_PROGRESS")
    assert ("alice", "live.ts") in fakes.recordings.recordings


@pytest.mark.parametrize("pinned", [True, False])
async def test_pin_and_unpin(client: httpx.AsyncClient, fakes: Fakes, pinned: bool) -> None:
    fakes.recordings.add(recording("a.mp4", pinned=not pinned))
    response = await client.put("/api/recordings/alice/a.mp4", json={"pinned": pinned})
    assert response.status_code == 200, response.text
    assert response.json()["pinned"] is pinned and set(response.json()) == RECORDING_KEYS
    request = fakes.recordings.seen.calls[0].request
    assert list(request.update_mask.paths) == ["pinned"]
    assert request.recording == rec.Recording(person="alice", file_name="a.mp4", pinned=pinned)


async def test_pin_unknown_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/recordings/alice/nope.mp4", json={"pinned": True})
    assert_error(response, 404, "RECORDING_NOT_FOUND")


@pytest.mark.parametrize(
    "body", [{}, {"pinned": True, "size": 1}, {"pinned": "maybe"}, {"pinned": None}, []]
)
async def test_bad_pin_bodies_are_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, body: Any
) -> None:
    response = await client.put("/api/recordings/alice/a.mp4", json=body)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert fakes.calls() == []


BAD_FILE_NAMES = [
    "%2e%2e",
    "x.txt",
    ".hidden.ts",
    "a%2Fb.ts",
    "..%2F..%2Fetc%2Fpasswd",
    "..%2Fbob%2Fx.ts",
    "a..b.ts",
    "%2Fetc%2Fpasswd",
    "a%00.ts",
    "a%20b.ts",
    "x.ts.txt",
    "noext",
    "x" * 198 + ".ts",
]


@pytest.mark.parametrize("filename", BAD_FILE_NAMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_bad_file_names_are_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, filename: str, method: str
) -> None:
    body = {"pinned": True} if method == "PUT" else None
    response = await client.request(method, f"/api/recordings/alice/{filename}", json=body)
    assert_error(response, 400, "INVALID_FILE_NAME")
    assert fakes.calls() == []


@pytest.mark.parametrize("person", ["%2e%2e", "a%20b", "x" * 65, "a.b", "%00"])
async def test_bad_persons_are_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, person: str
) -> None:
    assert_error(await client.get(f"/api/recordings/{person}"), 400, "INVALID_PERSON")
    assert_error(await client.get(f"/api/recordings/{person}/a.ts"), 400, "INVALID_PERSON")
    assert_error(await client.delete(f"/api/recordings/{person}/a.ts"), 400, "INVALID_PERSON")
    assert fakes.calls() == []


async def test_a_slash_in_the_person_is_caught_too(client: httpx.AsyncClient, fakes: Fakes) -> None:
    # "..%2Fbob" decodes to "../bob": the file route sees person "..", which is refused.
    assert_error(await client.get("/api/recordings/..%2Fbob"), 400, "INVALID_PERSON")
    assert fakes.calls() == []


async def test_good_odd_names_pass(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.recordings.add(recording("a_b-c.d.ts", person="x-y_z"))
    response = await client.get("/api/recordings/X-Y_Z/a_b-c.d.ts")
    assert response.status_code == 200, response.text
    assert response.json()["url"] == "/streams/records/x-y_z/a_b-c.d.ts"
    # A .ts plays in a browser through its byte-range playlist.
    assert response.json()["playbackUrl"] == "/streams/playback/x-y_z/a_b-c.d.ts"
    longest = "x" * 197 + ".ts"  # 200 characters: the limit
    assert_error(await client.get(f"/api/recordings/alice/{longest}"), 404, "RECORDING_NOT_FOUND")


async def test_bad_names_are_400_even_when_the_recorder_is_down(
    down_client: httpx.AsyncClient,
) -> None:
    assert_error(await down_client.get("/api/recordings/alice/x.txt"), 400, "INVALID_FILE_NAME")
    assert_error(await down_client.delete("/api/recordings/a%20b/x.ts"), 400, "INVALID_PERSON")


async def test_cleanup_without_a_body_runs_everything(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.recordings.retention = rec.RunRetentionResponse(
        files_deleted=3,
        bytes_freed=3000,
        free_bytes=10**12,
        channels=[
            rec.RetentionChannelReport(
                person="alice", files_deleted=2, bytes_freed=2000, files=["a.mp4", "b.mp4"]
            ),
            rec.RetentionChannelReport(
                person="bob", files_deleted=1, bytes_freed=1000, files=["c.ts"]
            ),
        ],
    )
    response = await client.post("/api/cleanup")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filesDeleted": 3,
        "bytesFreed": 3000,
        "freeBytes": 10**12,
        "dryRun": False,
        "channels": [
            {"person": "alice", "filesDeleted": 2, "bytesFreed": 2000, "files": ["a.mp4", "b.mp4"]},
            {"person": "bob", "filesDeleted": 1, "bytesFreed": 1000, "files": ["c.ts"]},
        ],
    }
    assert fakes.recordings.seen.calls[0].request == rec.RunRetentionRequest()


async def test_cleanup_of_one_person_dry(client: httpx.AsyncClient, fakes: Fakes) -> None:
    response = await client.post("/api/cleanup", json={"person": "Alice", "dryRun": True})
    assert response.status_code == 200, response.text
    assert response.json()["dryRun"] is True and response.json()["channels"] == []
    request = fakes.recordings.seen.calls[0].request
    assert request == rec.RunRetentionRequest(person="alice", dry_run=True)
    await client.post("/api/cleanup", json={})
    assert fakes.recordings.seen.calls[1].request == rec.RunRetentionRequest()


@pytest.mark.parametrize(
    "body",
    [
        {"person": "../x"},
        {"person": "a b"},
        {"person": "x" * 65},
        {"dry_run": True},
        {"dryRun": "sometimes"},
        {"everything": True},
    ],
)
async def test_bad_cleanup_bodies_are_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, body: dict[str, Any]
) -> None:
    assert_error(await client.post("/api/cleanup", json=body), 400, "INVALID_ARGUMENT")
    assert fakes.calls() == []


async def test_reads_are_retried_writes_are_not(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.recordings.add(recording("a.mp4"))
    seen = fakes.recordings.seen
    seen.fail_next("ListRecordings", UNAVAILABLE)
    assert (await client.get("/api/recordings/alice")).status_code == 200
    assert seen.methods() == ["ListRecordings", "ListRecordings"]

    seen.calls.clear()
    seen.fail_next("DeleteRecording", UNAVAILABLE)
    seen.fail_next("UpdateRecording", UNAVAILABLE)
    assert_error(await client.delete("/api/recordings/alice/a.mp4"), 503, "RECORDER_UNAVAILABLE")
    response = await client.put("/api/recordings/alice/a.mp4", json={"pinned": False})
    assert_error(response, 503, "RECORDER_UNAVAILABLE")
    assert seen.methods() == ["DeleteRecording", "UpdateRecording"]


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a duplicate operation id
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/models"]) == {"get", "post"}
    assert set(paths["/api/models/{username}"]) == {"get", "put", "delete"}
    assert set(paths["/api/recordings/{username}"]) == {"get"}
    assert set(paths["/api/recordings/{username}/{filename}"]) == {"get", "put", "delete"}
    assert set(paths["/api/cleanup"]) == {"post"}
    assert set(paths["/streams/records/{person}/{filename}"]) == {"get", "head"}
    patch = response.json()["components"]["schemas"]["ChannelPatch"]["properties"]
    assert {"autoRecord", "retentionDays", "sourceType", "maxBytes", "maxCount"} <= set(patch)
