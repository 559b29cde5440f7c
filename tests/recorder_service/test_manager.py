"""The session manager against real ffmpeg and the fake origin."""

import asyncio

import pytest

from recorder_service.manager import StartRequest
from recorder_service.model import EventType, SessionState
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from simlab.media_check import decode


async def wait_state(manager, sid, state, within=15.0):
    end = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < end:
        if manager.get(sid).state is state:
            return manager.get(sid)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sid} never reached {state}; is {manager.get(sid).state}")


async def test_start_records_then_stop_finalizes_a_decodable_file(origin, manager):
    origin.add_stream("m1")
    session = await manager.start(StartRequest(target="m1"))
    assert session.state is SessionState.STARTING and session.person == "m1"
    await wait_state(manager, session.session_id, SessionState.RECORDING)
    await asyncio.sleep(2)
    stopped = await manager.stop(session.session_id)
    assert stopped.state is SessionState.STOPPED and stopped.end_reason == "stopped by request"
    path = manager.output_dir / stopped.record_paths[0]
    assert stopped.bytes_written == path.stat().st_size > 0
    assert decode(path).ok
    types = [e.type for e in manager.bus._ring if e.session.session_id == session.session_id]
    assert types[:2] == [EventType.STARTING, EventType.RECORDING]
    assert types[-2:] == [EventType.STOPPING, EventType.STOPPED]


async def test_one_running_session_per_person(origin, manager):
    origin.add_stream("m2")
    first = await manager.start(StartRequest(target="m2"))
    with pytest.raises(AlreadyExists) as err:
        await manager.start(StartRequest(target="m2"))
    assert err.value.reason == "PERSON_ALREADY_RECORDING"
    with pytest.raises(AlreadyExists):  # explicit person: refused before resolving
        await manager.start(StartRequest(target="m1", person="M2"))
    await manager.stop(first.session_id)
    again = await manager.start(StartRequest(target="m2"))  # free again once stopped
    assert again.session_id != first.session_id


async def test_concurrent_starts_for_one_person_start_one_session(origin, manager):
    origin.add_stream("m3")
    results = await asyncio.gather(
        *(manager.start(StartRequest(target="m3")) for _ in range(5)), return_exceptions=True
    )
    started = [r for r in results if not isinstance(r, BaseException)]
    assert len(started) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if r not in started)
    assert len(manager.running()) == 1


async def test_a_retried_start_with_the_same_request_id_returns_the_same_session(origin, manager):
    origin.add_stream("m4")
    first = await manager.start(StartRequest(target="m4", request_id="req-1"))
    second = await manager.start(StartRequest(target="m4", request_id="req-1"))
    assert second.session_id == first.session_id
    assert manager._resolver.calls == 1


async def test_bad_person_is_refused_before_resolving(manager):
    with pytest.raises(InvalidArgument):
        await manager.start(StartRequest(target="m1", person="../../etc"))
    with pytest.raises(InvalidArgument):
        await manager.start(StartRequest(target=" "))
    assert manager._resolver.calls == 0
    assert manager.running() == []


async def test_unknown_session_is_not_found_and_stopping_twice_is_harmless(origin, manager):
    with pytest.raises(NotFound):
        manager.get("nope")
    with pytest.raises(NotFound):
        await manager.stop("nope")
    origin.add_stream("m5")
    s = await manager.start(StartRequest(target="m5"))
    await wait_state(manager, s.session_id, SessionState.RECORDING)
    first, second = await asyncio.gather(manager.stop(s.session_id), manager.stop(s.session_id))
    assert first.state is second.state is SessionState.STOPPED
    assert (await manager.stop(s.session_id)).state is SessionState.STOPPED


async def test_the_stream_ending_ends_the_session(origin, manager):
    origin.add_stream("m6", window=3)
    s = await manager.start(StartRequest(target="m6"))
    await wait_state(manager, s.session_id, SessionState.RECORDING)
    origin.stream("m6").end()
    ended = await wait_state(manager, s.session_id, SessionState.STOPPED, within=20)
    assert ended.end_reason == "stream ended"
    assert not (manager.output_dir / "sessions" / s.session_id).exists()


async def test_list_paginates_newest_first(origin, manager):
    for name in ("p1", "p2", "p3"):
        origin.add_stream(name)
        await manager.start(StartRequest(target=name))
    page1, token = manager.list(page_size=2)
    page2, last = manager.list(page_size=2, page_token=token)
    assert [s.person for s in page1] == ["p3", "p2"] and [s.person for s in page2] == ["p1"]
    assert last == ""
    with pytest.raises(InvalidArgument):
        manager.list(page_token="garbage")


async def test_shutdown_finalizes_everything_and_refuses_new_starts(origin, manager):
    origin.add_stream("m7")
    s = await manager.start(StartRequest(target="m7"))
    await wait_state(manager, s.session_id, SessionState.RECORDING)
    await manager.shutdown()
    assert manager.get(s.session_id).state is SessionState.STOPPED
    assert decode(manager.output_dir / s.record_paths[0]).ok
    with pytest.raises(FailedPrecondition):
        await manager.start(StartRequest(target="m7"))


async def test_a_start_still_resolving_when_shutdown_begins_starts_nothing(origin, manager):
    origin.add_stream("m8")
    resolver = manager._resolver
    gate = asyncio.Event()
    real = resolver.resolve

    async def slow_resolve(*args, **kwargs):
        await gate.wait()
        return await real(*args, **kwargs)

    resolver.resolve = slow_resolve
    start = asyncio.create_task(manager.start(StartRequest(target="m8")))
    await asyncio.sleep(0.05)
    shutdown = asyncio.create_task(manager.shutdown())
    await asyncio.sleep(0.05)
    gate.set()
    with pytest.raises(FailedPrecondition) as err:
        await start
    await shutdown
    assert err.value.reason == "SHUTTING_DOWN"
    assert manager.running() == []
    assert not (manager.output_dir / "records" / "m8").exists()
