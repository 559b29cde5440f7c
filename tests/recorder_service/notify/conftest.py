from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.settings import NotifySettings
from recorder_service.notify.urls import UrlPolicy
from recorder_service.sqlite_store import SqliteStore


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "streamrec.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_notifier(store: SqliteStore, clock=None, **settings) -> Notifier:
    policy = UrlPolicy.build(own_ports=[50052, 9092], own_hosts=["127.0.0.1"], allow=[])
    kwargs = {"clock": clock} if clock is not None else {}
    return Notifier(Outbox(store.transaction), NotifySettings(**settings), policy, **kwargs)


@pytest.fixture
def notifier(store: SqliteStore, clock: Clock) -> Notifier:
    return make_notifier(store, clock)
