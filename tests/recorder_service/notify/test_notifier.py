"""Targets (validated, secrets kept in) and emit: per-target decisions written to the outbox in
the caller's transaction."""

from __future__ import annotations

import pytest

from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.model import DeliveryState, TargetKind
from recorder_service.notify.notifier import masked_url
from recorder_service.notify.signing import new_secret
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.recorder_service.notify.conftest import make_notifier

SECRET = new_secret()


def webhook(notifier, **fields):
    return notifier.create(
        {
            "kind": "webhook",
            "url": "https://hooks.example.com/in?token=abc",
            "secret": SECRET,
            **fields,
        }
    )


def online(channel: str = "alice") -> Notification:
    return Notification("channel.online", {**common(channel=channel), "availability": "ONLINE"})


def test_a_webhook_target_needs_a_valid_secret_that_never_shows(notifier) -> None:
    with pytest.raises(InvalidArgument) as caught:
        notifier.create({"kind": "webhook", "url": "https://hooks.example.com/in"})
    assert caught.value.reason == "SECRET_REQUIRED"
    t = webhook(notifier, name="home")
    assert t.id.startswith("tgt_") and t.kind is TargetKind.WEBHOOK and t.enabled
    assert SECRET not in repr(t) and "token=abc" not in repr(t)
    assert masked_url(t) == "https://hooks.example.com/in?token=***"
    with pytest.raises(InvalidArgument) as caught:
        notifier.create({"kind": "apprise", "url": "json://example.com/x", "secret": SECRET})
    assert caught.value.reason == "INVALID_SECRET"


def test_a_retried_create_with_the_same_request_id_returns_the_first(notifier) -> None:
    fields = {"kind": "apprise", "url": "json://example.com/x"}
    first = notifier.create(fields, request_id="req-1")
    assert notifier.create(fields, request_id="req-1").id == first.id
    assert len(notifier.targets()) == 1


def test_an_update_keeps_the_url_sent_back_masked_and_an_empty_secret(notifier, store) -> None:
    t = webhook(notifier)
    updated = notifier.update(
        t.id, {"url": masked_url(t), "secret": "", "name": "renamed", "cooldown_s": 60}
    )
    assert updated.url == t.url and updated.secret == SECRET
    assert (updated.name, updated.cooldown_s) == ("renamed", 60)
    # It is what a restart reads back.
    again = make_notifier(store).get(t.id)
    assert (again.url, again.secret, again.name) == (t.url, SECRET, "renamed")
    with pytest.raises(InvalidArgument):
        notifier.update(t.id, {"url": "ftp://example.com/"})
    with pytest.raises(NotFound):
        notifier.update("tgt_nope", {"name": "x"})


def test_emit_queues_one_delivery_per_target_that_takes_it(notifier) -> None:
    everything = webhook(notifier)
    alice_only = webhook(notifier, channels=("alice",))
    recordings = webhook(notifier, events=("recording.*",))
    disabled = webhook(notifier, enabled=False)
    assert notifier.emit(online("alice")) == 2
    assert notifier.emit(online("bob")) == 1
    by_target = {
        t.id: [
            d.channel for d in notifier.deliveries(state=None, target_id=t.id, offset=0, limit=10)
        ]
        for t in (everything, alice_only, recordings, disabled)
    }
    assert by_target == {
        everything.id: ["bob", "alice"],
        alice_only.id: ["alice"],
        recordings.id: [],
        disabled.id: [],
    }
    assert notifier.wants("recording.gap", "zed")  # the recordings target wants it


def test_a_cooldown_holds_back_the_same_key_and_counts_it(notifier, clock) -> None:
    t = webhook(notifier, cooldown_s=300)
    assert notifier.emit(online("alice")) == 1
    clock.now += 10
    assert notifier.emit(online("alice")) == 0  # held back
    assert notifier.emit(online("bob")) == 1  # another key
    clock.now += 300
    assert notifier.emit(online("alice")) == 1
    assert notifier.get(t.id).suppressed == 0  # the cached row; the count is in the store
    assert notifier.outbox.targets()[0].suppressed == 1


def test_a_full_queue_refuses_and_counts_the_overflow(notifier) -> None:
    t = webhook(notifier, queue_limit=3)
    assert [notifier.emit(online(f"c{i}")) for i in range(5)] == [1, 1, 1, 0, 0]
    assert notifier.outbox.targets()[0].overflowed == 2
    assert notifier.outbox.pending(t.id, 100) == 3


def test_notifications_commit_with_the_callers_transaction(notifier, store) -> None:
    webhook(notifier)
    with pytest.raises(RuntimeError), store.transaction():
        assert notifier.emit(online()) == 1
        raise RuntimeError("the change failed")
    assert notifier.deliveries(state=None, target_id="", offset=0, limit=10) == []
    with store.transaction():
        notifier.emit(online())
    assert len(notifier.deliveries(state=None, target_id="", offset=0, limit=10)) == 1


def test_a_dead_delivery_can_be_retried_by_hand_under_the_same_id(notifier, clock) -> None:
    t = webhook(notifier)
    notifier.emit(online())
    (d,) = notifier.deliveries(state=None, target_id=t.id, offset=0, limit=10)
    with pytest.raises(FailedPrecondition) as caught:
        notifier.retry(d.id)
    assert caught.value.reason == "DELIVERY_NOT_DEAD"
    notifier.outbox.failed(d.id, at=clock.now, status=503, error="HTTP 503", next_at=None)
    (dead,) = notifier.deliveries(state=DeliveryState.DEAD, target_id="", offset=0, limit=10)
    assert (dead.last_error, dead.last_status, dead.attempts) == ("HTTP 503", 503, 1)
    clock.now += 100
    again = notifier.retry(d.id)
    assert again.state is DeliveryState.PENDING and again.message_id == d.message_id
    assert again.deadline.timestamp() == clock.now + notifier.settings.retry_for
    for unknown in (12345, 0, 2**64 - 1):
        with pytest.raises(NotFound):
            notifier.retry(unknown)


def test_deleting_a_target_drops_its_queue(notifier) -> None:
    t = webhook(notifier)
    notifier.emit(online())
    notifier.delete(t.id)
    assert notifier.deliveries(state=None, target_id="", offset=0, limit=10) == []
    with pytest.raises(NotFound):
        notifier.get(t.id)
