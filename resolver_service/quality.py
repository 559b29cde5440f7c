"""Choosing one variant of a master playlist from a user's quality preference."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from servicekit.errors import InvalidArgument, NotFound

from .playlist import Variant

__all__ = ["MAX_HEIGHT", "QualityPolicy", "QualityPreference", "choose_variant"]

MAX_HEIGHT = 10000


class QualityPolicy(enum.Enum):
    """How a wanted height selects a variant."""

    BEST = "BEST"  # highest resolution, then bandwidth; the wanted height is ignored
    EXACT = "EXACT"  # height == wanted
    CLOSEST = "CLOSEST"  # smallest |height - wanted|; on a tie the higher one
    HIGHEST_BELOW = "HIGHEST_BELOW"  # the highest height <= wanted
    LOWEST_ABOVE = "LOWEST_ABOVE"  # the lowest height >= wanted


@dataclass(frozen=True)
class QualityPreference:
    """What the user wants; validated on construction so an invalid preference cannot exist.

    Raises InvalidArgument(reason="INVALID_QUALITY") for a height outside 1..10000, an fps that
    is not a positive finite number, or a height-based policy without a height.
    """

    height: int | None = None
    policy: QualityPolicy = QualityPolicy.BEST
    fps: float | None = None
    fallback: bool = True

    def __post_init__(self) -> None:
        # bool is an int subclass; True must not pass for a height of 1.
        if self.height is not None and (
            isinstance(self.height, bool)
            or not isinstance(self.height, int)
            or not 0 < self.height <= MAX_HEIGHT
        ):
            raise InvalidArgument(
                f"height must be between 1 and {MAX_HEIGHT}, got {self.height!r}",
                reason="INVALID_QUALITY",
            )
        if self.fps is not None and (
            isinstance(self.fps, bool)
            or not isinstance(self.fps, int | float)
            or not math.isfinite(self.fps)
            or self.fps <= 0
        ):
            raise InvalidArgument(
                f"fps must be a positive number, got {self.fps!r}", reason="INVALID_QUALITY"
            )
        if not isinstance(self.policy, QualityPolicy):
            raise InvalidArgument(
                f"unknown quality policy {self.policy!r}", reason="INVALID_QUALITY"
            )
        if self.policy is not QualityPolicy.BEST and self.height is None:
            raise InvalidArgument(
                f"quality policy {self.policy.value} needs a height", reason="INVALID_QUALITY"
            )


def choose_variant(variants: Sequence[Variant], pref: QualityPreference) -> Variant:
    """Pick the variant that best matches ``pref``.

    - BEST: the highest height (then width), then the fps rule, then the highest bandwidth.
      Variants without RESOLUTION rank below those with one and among themselves by bandwidth.
    - EXACT / CLOSEST / HIGHEST_BELOW / LOWEST_ABOVE select a height among the variants that
      declare one (see QualityPolicy); CLOSEST breaks an equal distance towards the higher one.
    - Among variants of the selected height, fps decides: the closest to ``pref.fps`` (equal
      distance: the higher fps), or the highest fps when none is wanted; then the bandwidth.
    - When the policy finds nothing and ``pref.fallback`` is True, the result is what CLOSEST
      would give for the wanted height (the nearest height, the higher one on a tie); when no
      variant declares a resolution at all, the result is what BEST gives (highest bandwidth).
      With ``fallback`` False, NotFound(reason="NO_MATCHING_VARIANT") is raised instead.

    Raises NotFound(reason="NO_MATCHING_VARIANT") as well when ``variants`` is empty.
    """
    if not variants:
        raise NotFound("the playlist offers no variant", reason="NO_MATCHING_VARIANT")
    within = _within_height_key(pref.fps)

    def best(v: Variant) -> tuple[float, ...]:
        if v.height is None:
            return (0, v.bandwidth, *within(v))
        return (1, v.height, v.width or 0, *within(v))

    if pref.policy is QualityPolicy.BEST or pref.height is None:
        return max(variants, key=best)

    sized = [v for v in variants if v.height is not None]
    height = _select_height(pref.policy, pref.height, sized)
    if height is None:
        if not pref.fallback:
            raise NotFound(
                f"no variant matches {pref.policy.value} {pref.height}p"
                f" (offered: {_describe(variants)})",
                reason="NO_MATCHING_VARIANT",
            )
        height = _select_height(QualityPolicy.CLOSEST, pref.height, sized)
        if height is None:  # no variant declares a resolution
            return max(variants, key=best)
    return max((v for v in sized if v.height == height), key=within)


def _select_height(policy: QualityPolicy, wanted: int, sized: Sequence[Variant]) -> int | None:
    heights = {v.height for v in sized if v.height is not None}
    if not heights:
        return None
    if policy is QualityPolicy.EXACT:
        return wanted if wanted in heights else None
    if policy is QualityPolicy.HIGHEST_BELOW:
        return max((h for h in heights if h <= wanted), default=None)
    if policy is QualityPolicy.LOWEST_ABOVE:
        return min((h for h in heights if h >= wanted), default=None)
    # CLOSEST: the smaller distance; on equal distance the higher height looks better.
    return min(heights, key=lambda h: (abs(h - wanted), -h))


def _within_height_key(wanted_fps: float | None) -> Callable[[Variant], tuple[float, ...]]:
    """Sort key (higher is better) among variants of one height: the fps rule, then bandwidth."""

    def key(v: Variant) -> tuple[float, ...]:
        fps = v.frame_rate
        if wanted_fps is None:
            return (fps or 0.0, v.bandwidth)
        # Unknown fps ranks after any known one: we cannot tell it is close.
        distance = abs(fps - wanted_fps) if fps is not None else math.inf
        return (-distance, fps or 0.0, v.bandwidth)

    return key


def _describe(variants: Sequence[Variant]) -> str:
    labels = sorted({f"{v.height}p" if v.height else f"{v.bandwidth}bps" for v in variants})
    return ", ".join(labels)
