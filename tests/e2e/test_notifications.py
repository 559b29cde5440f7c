"""Notifications end to end, with the three services as processes, the fake site and CDN,
and a real webhook receiver on loopback that verifies every signature with the
``standardwebhooks`` package and processes each ``webhook-id`` once:

- a channel going online at the fake site, recording, a gap, going offline and finalizing
  produce exactly the expected events, in order, each once;
- a receiver that answers 503, then refuses connections, then comes back gets everything, each
  id once; and so does one whose recorder is SIGKILLed while a delivery is in flight (the
  session that was recording then is told as interrupted after the restart);
- secrets appear in no service's log and no API answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from recorder_service.notify.signing import new_secret
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.receivers import FakeNtfy, WebhookReceiver
from simlab.harness import Stack, site_env
from simlab.harness import wait_for as harness_wait_for

pytestmark = pytest.mark.e2e

INTERVAL = 1.0
SECRET = new_secret()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {
        **site_env(site.base_url, autorecord_interval=INTERVAL),
        "NOTIFY_RETRY_INITIAL": "0.2",
        "NOTIFY_RETRY_MAX_WAIT": "1",
        "NOTIFY_TIMEOUT": "10",
        "LOG_LEVEL": "DEBUG",
        "RESUME_WINDOW": "0",  # the killed session is told, not started again
    }
    with Stack(tmp_path_factory.mktemp("notify"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    return harness_wait_for(what, probe, timeout)


def add_target(client: httpx.Client, receiver: WebhookReceiver, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "webhook",
        "url": f"{receiver.url}/hook?token=QueryT0ken",
        "secret": SECRET,
        **fields,
    }
    response = client.post("/api/notifications/targets", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def record(client: httpx.Client, origin: HlsOrigin, name: str, seconds: float = 3.0) -> str:
    """Start recording a stream of the fake CDN by hand; returns the session id."""
    started = client.post("/api/start", json={"target": origin.url(name), "person": name})
    assert started.status_code == 201, started.text
    sid: str = started.json()["session_id"]
    wait_for(
        "media on disk",
        lambda: client.get(f"/api/sessions/{sid}").json()["media_seconds"] >= seconds,
    )
    return sid


def test_a_channels_day_is_told_in_order_each_event_once(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        target = add_target(
            client, receiver, events=["channel.*", "recording.*"], channels=["nina"], maxInFlight=1
        )
        site.add_room("nina", room_status="offline")
        assert client.post("/api/models", json={"username": "nina"}).status_code == 201
        time.sleep(INTERVAL * 2.5)  # seen offline at once: not news
        assert receiver.received == []

        origin.add_stream("nina", window=6)
        site.set_room(
            "nina", room_status="public", hls_url=origin.url("nina"), title="hi", viewers=5
        )

        def session() -> dict[str, Any] | None:
            for s in client.get("/api/status").json():
                if s["person"] == "nina" and s["media_seconds"] > 4:
                    return s  # type: ignore[no-any-return]
            return None

        sid = wait_for("a recording with media", session)["session_id"]
        origin.stream("nina").set_fault("window_jump", segments=10)
        wait_for("the gap", lambda: "recording.gap" in receiver.types())
        time.sleep(3)  # a little more recording after the gap
        site.set_room("nina", room_status="offline")
        origin.stream("nina").end()
        wait_for("the end", lambda: "recording.finished" in receiver.types())
        wait_for("channel.offline", lambda: "channel.offline" in receiver.types())
        time.sleep(INTERVAL * 2)  # nothing more comes

        got = list(receiver.accepted)
        types = [p["type"] for p in got]
        # The scheduler looks at the channel again once its session ended, so channel.offline
        # may come before or after the finalization: each family is in order on its own.
        assert [t for t in types if t.startswith("recording.")] == [
            "recording.started",
            "recording.gap",
            "recording.file_closed",
            "recording.finished",
        ]
        assert [t for t in types if t.startswith("channel.")] == [
            "channel.online",
            "channel.offline",
        ]
        assert types.index("channel.online") < types.index("recording.started")
        assert types.index("channel.offline") > types.index("recording.gap")
        # Each once: one id per event, each processed and answered once, every signature good.
        assert len(set(receiver.ids())) == len(got) == 6
        assert all(n == 1 for n in receiver.answered_ok.values())
        assert receiver.bad_signatures == 0 and len(receiver.received) == 6
        by_type = {p["type"]: p["data"] for p in got}
        assert all(d["channel"] == "nina" and d["site"] == "chaturbate" for d in by_type.values())
        online = by_type["channel.online"]
        assert (online["previous"], online["title"], online["viewers"]) == ("OFFLINE", "hi", 5)
        assert online["thumbnailUrl"].endswith("/ri/nina.jpg")
        for kind in ("recording.started", "recording.gap", "recording.finished"):
            assert by_type[kind]["sessionId"] == sid and by_type[kind]["correlationId"]
        gap = by_type["recording.gap"]
        assert gap["durationSeconds"] > 0 and gap["cause"]
        finished = by_type["recording.finished"]
        assert finished["state"] == "STOPPED" and 0 < finished["completeness"] < 1
        assert finished["files"] == [by_type["recording.file_closed"]["file"]]
        stats = client.get(f"/api/notifications/targets/{target['id']}").json()["stats"]
        assert (stats["delivered"], stats["pending"], stats["dead"]) == (6, 0, 0)
        client.delete(f"/api/notifications/targets/{target['id']}")
        client.delete("/api/models/nina")


def test_nothing_is_lost_or_doubled_through_a_down_receiver_and_a_recorder_sigkill(
    client: httpx.Client, origin: HlsOrigin, stack: Stack
) -> None:
    names = [f"kilo{i}" for i in range(4)]
    with WebhookReceiver(SECRET) as receiver:
        target = add_target(client, receiver, events=["recording.*"], channels=names)
        for name in names:
            origin.add_stream(name, window=6)

        # Down: 503s, then a closed port; meanwhile two sessions start and finish.
        receiver.status = 503
        for name in names[:2]:
            client.post(f"/api/stop/{record(client, origin, name)}")
        wait_for("503s", lambda: sum(r.answered == 503 for r in receiver.received) >= 3)
        receiver.stop()
        wait_for(
            "retries pending",
            lambda: client.get("/api/notifications/deliveries?state=pending").json(),
        )
        time.sleep(2)
        receiver.status = 200
        receiver.start()
        wait_for("every event of the two sessions", lambda: len(receiver.accepted) >= 6)

        # A recorder SIGKILL while a delivery is held by the receiver, a session recording.
        receiver.hold_s = 30.0
        held = len(receiver.received)
        sid = record(client, origin, names[2])
        wait_for("a delivery in flight", lambda: len(receiver.received) > held)
        assert len(receiver.accepted) == 6  # held, not answered
        stack.services["recorder_service"].kill()
        receiver.hold_s = 0.0
        stack.restart_recorder()
        # Recovery tells the session it found interrupted; the held delivery goes out again.
        wait_for(
            "the interrupted session",
            lambda: "recording.interrupted" in receiver.types(),
            timeout=90,
        )
        client.post(f"/api/stop/{record(client, origin, names[3])}")
        wait_for(
            "the last session's end", lambda: receiver.types().count("recording.finished") >= 3
        )
        time.sleep(2)

        types = receiver.types()
        per_session: dict[str, list[str]] = {}
        for p in receiver.accepted:
            per_session.setdefault(p["data"]["sessionId"], []).append(p["type"])
        # Retries through an outage do not keep the order (the timestamps do): compare sets.
        interrupted = ["recording.file_closed", "recording.interrupted", "recording.started"]
        finished = ["recording.file_closed", "recording.finished", "recording.started"]
        assert sorted(per_session.pop(sid)) == interrupted
        assert [sorted(v) for v in per_session.values()] == [finished] * 3
        assert len(types) == 12
        # Nothing doubled: every id processed once, and answered 200 once.
        assert len(set(receiver.ids())) == 12
        assert all(n == 1 for n in receiver.answered_ok.values()), receiver.answered_ok
        # The kill cost a repeat of the held request (same id), never a second id.
        assert len(receiver.received) > 12 and receiver.bad_signatures == 0
        stats = client.get(f"/api/notifications/targets/{target['id']}").json()["stats"]
        assert (stats["delivered"], stats["dead"]) == (12, 0)
        client.delete(f"/api/notifications/targets/{target['id']}")


def test_secrets_are_in_no_log_and_no_answer(client: httpx.Client, stack: Stack) -> None:
    apprise_url = "ntfy://streamrec:Sup3rS3cretPassw0rd@127.0.0.1:9/alertsT0pic"
    created = client.post(
        "/api/notifications/targets", json={"kind": "apprise", "url": apprise_url}
    )
    assert created.status_code == 201, created.text
    client.post(f"/api/notifications/targets/{created.json()['id']}/test")
    answers = client.get("/api/notifications/targets").text + created.text
    answers += client.get("/api/notifications/deliveries").text
    logs = "".join(s.log_path.read_text() for s in stack.services.values())
    for secret in (SECRET, SECRET.removeprefix("whsec_"), "Sup3rS3cretPassw0rd", "QueryT0ken"):
        assert secret not in answers
        assert secret not in logs
    client.delete(f"/api/notifications/targets/{created.json()['id']}")


def test_apprise_to_ntfy_gets_the_text_and_the_recordings_poster(
    client: httpx.Client, origin: HlsOrigin
) -> None:
    with FakeNtfy() as ntfy:
        created = client.post(
            "/api/notifications/targets",
            json={
                "kind": "apprise",
                "url": f"ntfy://127.0.0.1:{ntfy.port}/streamrec",
                "events": ["recording.finished"],
                "channels": ["apr"],
            },
        )
        assert created.status_code == 201, created.text
        origin.add_stream("apr", window=6)
        client.post(f"/api/stop/{record(client, origin, 'apr')}")
        (message,) = wait_for("the ntfy message", lambda: list(ntfy.messages))
        assert message["topic"] == "streamrec" and message["title"] == "apr: recording finished"
        assert "100.0 % complete; 1 file(s)" in message["message"]
        # The poster the recorder makes after finalization, attached as a JPEG.
        assert message["attachment"][:2] == b"\xff\xd8"
        assert message["filename"].endswith(".poster.jpg")
        client.delete(f"/api/notifications/targets/{created.json()['id']}")
