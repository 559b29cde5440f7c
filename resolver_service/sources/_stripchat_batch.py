"""Stripchat status in bulk: the username -> id cache, user-ids for the unknown, the bulk list.

A batch costs one bulk request per 100 models whose ids are known, plus one user-ids request
for each model seen for the first time (each under the site's API budget). A model the list
leaves out (renamed, deleted, or an id gone stale) is asked alone through the cam API, which
also tells renames and deletions apart. When the list is rate limited, every model of the batch
is reported RATE_LIMITED rather than asked one by one: asking the same site again would only
deepen the hole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from ..status import Availability, ChannelStatus
from ._stripchat_site import Answer, CamInfo

if TYPE_CHECKING:
    from .stripchat import StripchatSource

__all__ = ["BULK_MAX_IDS", "batch_status", "chunks"]

logger = logging.getLogger(__name__)

BULK_MAX_IDS = 100
T = TypeVar("T")
R = TypeVar("R")
_CONCURRENCY = 8


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def _bounded(items: Sequence[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def batch_status(source: StripchatSource, usernames: Sequence[str]) -> list[ChannelStatus]:
    """One status per username, in order."""
    answers: dict[str, ChannelStatus] = {}
    unknown = [u for u in dict.fromkeys(usernames) if source.known_id(u) is None]
    found = await _bounded(unknown, source.api.user_id)
    for username, ident in zip(unknown, found, strict=True):
        if isinstance(ident, int):
            source.remember_id(username, ident)
        elif ident.availability is Availability.RATE_LIMITED:
            answers[username] = source.make_status(username, ident, "user-ids")
    by_id: dict[int, str] = {}
    for username in dict.fromkeys(usernames):
        known = source.known_id(username)
        if username not in answers and known is not None:
            by_id[known] = username
    alone = [u for u in dict.fromkeys(usernames) if u not in answers and u not in by_id.values()]
    for ids in chunks(list(by_id), BULK_MAX_IDS):
        listed = await source.api.bulk(ids)
        if isinstance(listed, Answer):
            _log_failure(listed, len(ids))
            if listed.availability is Availability.RATE_LIMITED:
                for ident in ids:
                    answers[by_id[ident]] = source.make_status(by_id[ident], listed, "bulk")
            else:  # the list failed, not the site: ask each model alone
                alone += [by_id[ident] for ident in ids]
            continue
        for ident in ids:
            username = by_id[ident]
            info = listed.get(ident)
            if info is None or (info.username and info.username.lower() != username):
                alone.append(username)  # not listed, or renamed: the cam API tells which
            else:
                answers[username] = _from_bulk(source, username, info)
    for username, status in zip(
        alone, await _bounded(alone, source.channel_status_of), strict=True
    ):
        answers[username] = status
    return [answers[u] for u in usernames]


def _from_bulk(source: StripchatSource, username: str, info: CamInfo) -> ChannelStatus:
    status = source.lookup_from(username, info, "bulk").status
    if status.availability is Availability.ONLINE:
        # The list does not say whether the cam is on: resolving asks the cam API anyway.
        return replace(status, message="public (bulk list; cam state not in the list)")
    return status


def _log_failure(answer: Answer, count: int) -> None:
    logger.warning(
        "stripchat bulk list failed for %d models: %s",
        count,
        answer.message,
        extra={"event.action": "stripchat.bulk", "error.type": answer.reason},
    )
