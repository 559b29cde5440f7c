"""Builds the notification machinery from the recorder's settings and store, and hooks it to
the places events come from (``__main__`` calls :meth:`Notifications.build` and
:meth:`Notifications.attach`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from recorder_service.events import EventBus
from recorder_service.notify.apprise_sender import AppriseSender
from recorder_service.notify.dispatcher import Dispatcher, Sender
from recorder_service.notify.model import TargetKind
from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.servicer import NotificationServicer
from recorder_service.notify.sources import (
    AvailabilityNotices,
    DiskNotices,
    RetentionNotices,
    RuntimeView,
    SessionNotices,
)
from recorder_service.notify.thumbnails import Attachments
from recorder_service.notify.urls import UrlPolicy
from recorder_service.notify.webhook import WebhookSender
from recorder_service.settings import RecorderSettings
from recorder_service.sqlite_store import SqliteStore
from recorder_service.watchlist import parse_key
from servicekit.errors import InvalidArgument, NotFound


def _port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return addr, 0


def url_policy(settings: RecorderSettings) -> UrlPolicy:
    """The services' own ports on this host are no place for a notification."""
    n = settings.notify
    resolver_host, resolver_port = _port(settings.resolver_addr)
    return UrlPolicy.build(
        own_ports=[
            settings.port,
            settings.metrics_port,
            resolver_port,
            n.resolver_metrics_port,
            n.gateway_port,
        ],
        own_hosts=[settings.host, resolver_host],
        allow=n.allow_hosts,
    )


@dataclass
class Notifications:
    notifier: Notifier
    dispatcher: Dispatcher
    servicer: NotificationServicer
    attachments: Attachments
    webhooks: WebhookSender
    apprise: AppriseSender
    disk: DiskNotices
    settings: RecorderSettings

    @classmethod
    def build(cls, settings: RecorderSettings, store: SqliteStore) -> Notifications:
        n = settings.notify
        notifier = Notifier(Outbox(store.transaction), n, url_policy(settings))
        attachments = Attachments(settings.output_dir)
        webhooks = WebhookSender(timeout=n.timeout, policy=notifier.policy)
        apprise = AppriseSender(
            timeout=n.timeout, threads=n.apprise_threads, attachments=attachments
        )
        senders: dict[TargetKind, Sender] = {
            TargetKind.WEBHOOK: webhooks,
            TargetKind.APPRISE: apprise,
        }
        dispatcher = Dispatcher(notifier, senders, n)
        return cls(
            notifier=notifier,
            dispatcher=dispatcher,
            servicer=NotificationServicer(notifier, dispatcher),
            attachments=attachments,
            webhooks=webhooks,
            apprise=apprise,
            disk=DiskNotices(notifier, settings.output_dir, settings.min_free_bytes),
            settings=settings,
        )

    def attach(
        self,
        *,
        store: SqliteStore,
        bus: EventBus,
        availability_listeners: list[Callable[[str, str, str, Any], None]],
        runtime: Callable[[str], RuntimeView | None],
        retention_listeners: list[Callable[[Any, str, int], None]],
    ) -> None:
        """Listen where the events come from (the bus, the scheduler, retention)."""

        def source_of(key: str) -> tuple[str, str]:
            try:
                channel = store.get_channel(*parse_key(key))
            except (NotFound, InvalidArgument):
                return "auto", ""
            return channel.source, channel.target

        def thumbnail_of(username: str) -> str:
            return str(getattr(runtime(username), "last_thumbnail_url", "") or "")

        bus.add_listener(SessionNotices(self.notifier, store))
        availability_listeners.append(
            AvailabilityNotices(
                self.notifier, source_of=source_of, runtime=runtime, thumbnail_of=thumbnail_of
            )
        )
        retention_listeners.append(RetentionNotices(self.notifier))

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [
            self.dispatcher.run(stop),
            self.disk.run(self.settings.disk_check_interval, stop),
        ]

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.webhooks.close()
        self.apprise.close()
