"""The resolver's domain entry point: classify a target, hand it to its source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from resolver_service.metrics import RESOLVER_CALLS
from resolver_service.quality import QualityPreference
from resolver_service.room_image import RoomImage
from resolver_service.sources.base import Resolution, Source
from resolver_service.status import ChannelStatus, StatusCache
from resolver_service.targets import Target, classify_target, suggest_person
from servicekit.errors import DomainError, FailedPrecondition, InvalidArgument

MAX_BATCH = 10_000


@dataclass(frozen=True)
class Resolved:
    resolution: Resolution
    target: Target
    person_hint: str


class Resolver:
    """Resolves any target through the source instances it was built with, and answers
    channel status questions through a short-lived cache."""

    def __init__(self, sources: Mapping[str, Source], cache: StatusCache | None = None) -> None:
        self._sources = dict(sources)
        self.cache = cache or StatusCache()

    @property
    def sources(self) -> tuple[str, ...]:
        """The enabled sources' names."""
        return tuple(sorted(self._sources))

    async def resolve(
        self, target: str, source_type: str | None, pref: QualityPreference
    ) -> Resolved:
        """Validate and classify ``target`` (no network call for bad input), then resolve it."""
        classified = classify_target(target, source_type)  # unknown source types: InvalidArgument
        try:
            resolution = await self._source(classified).resolve(classified, pref)
        except DomainError as exc:
            RESOLVER_CALLS.labels(classified.source, "resolve", exc.reason).inc()
            raise
        RESOLVER_CALLS.labels(classified.source, "resolve", "ok").inc()
        return Resolved(resolution, classified, suggest_person(classified))

    def classify(self, target: str, source: str | None) -> tuple[Target, str]:
        """What ``target`` names and the folder its recordings go to, from its shape alone (no
        network call): InvalidArgument for bad input, FailedPrecondition for a source this
        resolver does not serve."""
        classified = classify_target(target, source)
        self._source(classified)
        return classified, suggest_person(classified)

    async def channel_status(
        self, target: str, source_type: str | None, *, skip_cache: bool = False
    ) -> ChannelStatus:
        """The channel's status, from the cache when a recent answer is there."""
        classified = classify_target(target, source_type)
        source = self._source(classified)
        status = await self.cache.lookup(
            classified.source,
            classified.value,
            lambda: source.channel_status(classified),
            skip_cache=skip_cache,
        )
        _count_status(classified.source, status)
        return status

    async def batch_channel_status(
        self, targets: Sequence[str], source_type: str | None, *, skip_cache: bool = False
    ) -> list[ChannelStatus]:
        """One status per target, in order. Every target is validated before any network
        call; cached answers are used, the rest go to their source's batch lookup (once per
        distinct channel)."""
        if len(targets) > MAX_BATCH:
            raise InvalidArgument(
                f"at most {MAX_BATCH} targets per batch, got {len(targets)}",
                reason="BATCH_TOO_LARGE",
            )
        classified: list[Target] = []
        for index, target in enumerate(targets):
            try:
                classified.append(classify_target(target, source_type))
            except DomainError as exc:
                raise InvalidArgument(
                    f"targets[{index}]: {exc.message}",
                    reason=exc.reason,
                    metadata={"index": str(index)},
                ) from exc
        answers: dict[tuple[str, str], ChannelStatus] = {}
        missing: dict[str, dict[str, Target]] = {}
        for t in classified:
            self._source(t)  # a disabled source fails the batch before any network call
            cached = None if skip_cache else self.cache.get(t.source, t.value)
            if cached is not None:
                answers[(t.source, t.value)] = cached
            else:
                missing.setdefault(t.source, {})[t.value] = t
        for name, wanted in missing.items():
            statuses = await self._sources[name].batch_channel_status(list(wanted.values()))
            for status in statuses:
                self.cache.put(status)
                answers[(name, status.target)] = status
        self.cache.hits += len(classified) - sum(len(w) for w in missing.values())
        self.cache.misses += sum(len(w) for w in missing.values())
        out = [_labelled(answers[(t.source, t.value)], t.value) for t in classified]
        for t, status in zip(classified, out, strict=True):
            _count_status(t.source, status)
        return out

    async def room_image(self, target: str, source_type: str | None) -> RoomImage:
        """The site's picture of the channel's room (no cache here: the recorder keeps the
        last good one)."""
        classified = classify_target(target, source_type)
        try:
            image = await self._source(classified).room_image(classified)
        except DomainError as exc:
            RESOLVER_CALLS.labels(classified.source, "room_image", exc.reason).inc()
            raise
        RESOLVER_CALLS.labels(classified.source, "room_image", "ok").inc()
        return image

    def _source(self, target: Target) -> Source:
        source = self._sources.get(target.source)
        if source is None:
            raise FailedPrecondition(
                f"the {target.source} source is not enabled on this resolver",
                reason="SOURCE_NOT_ENABLED",
                metadata={"source": target.source},
            )
        return source


def _count_status(source: str, status: ChannelStatus) -> None:
    RESOLVER_CALLS.labels(source, "status", status.availability.name.lower()).inc()


def _labelled(status: ChannelStatus, target: str) -> ChannelStatus:
    return status if status.target == target else replace(status, target=target)
