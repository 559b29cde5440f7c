"""The resolver's domain entry point: classify a target, hand it to its source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from resolver_service.quality import QualityPreference
from resolver_service.sources.base import Resolution, Source
from resolver_service.targets import Target, classify_target, suggest_person
from servicekit.errors import FailedPrecondition


@dataclass(frozen=True)
class Resolved:
    resolution: Resolution
    target: Target
    person_hint: str


class Resolver:
    """Resolves any target through the source instances it was built with."""

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self._sources = dict(sources)

    async def resolve(
        self, target: str, source_type: str | None, pref: QualityPreference
    ) -> Resolved:
        """Validate and classify ``target`` (no network call for bad input), then resolve it."""
        classified = classify_target(target, source_type)  # unknown source types: InvalidArgument
        source = self._sources.get(classified.source)
        if source is None:
            raise FailedPrecondition(
                f"the {classified.source} source is not enabled on this resolver",
                reason="SOURCE_NOT_ENABLED",
                metadata={"source": classified.source},
            )
        resolution = await source.resolve(classified, pref)
        return Resolved(resolution, classified, suggest_person(classified))
