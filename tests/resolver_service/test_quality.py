"""Variant choice: every policy, the fps tie-break, fallback on and off, invalid preferences."""

from __future__ import annotations

import math

import pytest

from resolver_service.playlist import Variant
from resolver_service.quality import QualityPolicy, QualityPreference, choose_variant
from servicekit.errors import InvalidArgument, NotFound

P = QualityPolicy


def v(
    height: int | None, bandwidth: int = 1000, fps: float | None = None, tag: str = ""
) -> Variant:
    width = None if height is None else height * 16 // 9
    return Variant(
        uri=f"http://h/{height}p{fps or ''}{tag}.m3u8",
        bandwidth=bandwidth,
        width=width,
        height=height,
        frame_rate=fps,
    )


LADDER = [v(360, 800), v(720, 2500, 30), v(720, 4000, 60), v(1080, 5000, 30), v(480, 1200)]


def pick(variants: list[Variant], **kwargs: object) -> Variant:
    return choose_variant(variants, QualityPreference(**kwargs))  # type: ignore[arg-type]


def test_best_is_the_highest_resolution() -> None:
    assert pick(LADDER).height == 1080


def test_best_ignores_the_wanted_height() -> None:
    assert pick(LADDER, height=360).height == 1080


def test_best_breaks_equal_height_by_fps_then_bandwidth() -> None:
    same = [v(720, 3000, 30), v(720, 2000, 60), v(720, 2500, 60)]
    assert pick(same) == same[2]


def test_best_without_resolutions_sorts_by_bandwidth() -> None:
    assert pick([v(None, 100), v(None, 900), v(None, 500)]).bandwidth == 900


def test_best_ranks_variants_with_resolution_above_audio_only_ones() -> None:
    assert pick([v(None, 9_000_000), v(360, 800)]).height == 360


@pytest.mark.parametrize(
    ("policy", "height", "expected"),
    [
        (P.EXACT, 480, 480),
        (P.EXACT, 1080, 1080),
        (P.CLOSEST, 700, 720),
        (P.CLOSEST, 1, 360),
        (P.CLOSEST, 4000, 1080),
        (P.CLOSEST, 600, 720),  # 480 and 720 are both 120 away: the higher wins
        (P.HIGHEST_BELOW, 719, 480),
        (P.HIGHEST_BELOW, 720, 720),
        (P.HIGHEST_BELOW, 5000, 1080),
        (P.LOWEST_ABOVE, 721, 1080),
        (P.LOWEST_ABOVE, 720, 720),
        (P.LOWEST_ABOVE, 100, 360),
    ],
)
def test_height_policies(policy: QualityPolicy, height: int, expected: int) -> None:
    assert pick(LADDER, height=height, policy=policy).height == expected


def test_same_height_prefers_the_highest_fps_when_none_wanted() -> None:
    assert pick(LADDER, height=720, policy=P.EXACT).frame_rate == 60


@pytest.mark.parametrize(("fps", "expected"), [(30, 30), (25, 30), (50, 60), (60, 60), (45, 60)])
def test_wanted_fps_breaks_ties_by_closeness(fps: float, expected: float) -> None:
    assert pick(LADDER, height=720, policy=P.EXACT, fps=fps).frame_rate == expected


def test_wanted_fps_never_overrides_the_height() -> None:
    # 1080p only at 30 fps, 720p at 60: asking for 1080 at 60 fps still gives 1080.
    assert pick(LADDER, height=1080, policy=P.EXACT, fps=60).height == 1080


def test_unknown_fps_ranks_after_a_known_one_when_fps_is_wanted() -> None:
    same = [v(720, 9000, None, "x"), v(720, 1000, 24)]
    assert pick(same, height=720, policy=P.EXACT, fps=60).frame_rate == 24


def test_equal_height_and_fps_picks_the_higher_bandwidth() -> None:
    same = [v(720, 1000, 30, "a"), v(720, 3000, 30, "b"), v(720, 2000, 30, "c")]
    assert pick(same, height=720, policy=P.CLOSEST, fps=30).bandwidth == 3000


@pytest.mark.parametrize(
    ("policy", "height", "expected"),
    [
        (P.EXACT, 700, 720),  # nearest height
        (P.EXACT, 600, 720),  # equal distance to 480 and 720: the higher
        (P.HIGHEST_BELOW, 100, 360),  # nothing below: the nearest is the lowest
        (P.LOWEST_ABOVE, 2160, 1080),  # nothing above: the nearest is the highest
    ],
)
def test_fallback_gives_the_closest_height(
    policy: QualityPolicy, height: int, expected: int
) -> None:
    assert pick(LADDER, height=height, policy=policy, fallback=True).height == expected


@pytest.mark.parametrize(
    ("policy", "height"),
    [(P.EXACT, 700), (P.HIGHEST_BELOW, 100), (P.LOWEST_ABOVE, 2160)],
)
def test_no_fallback_raises_not_found(policy: QualityPolicy, height: int) -> None:
    with pytest.raises(NotFound) as info:
        pick(LADDER, height=height, policy=policy, fallback=False)
    assert info.value.reason == "NO_MATCHING_VARIANT"
    assert "720p" in info.value.message  # says what was on offer


def test_height_policy_without_any_resolution() -> None:
    unsized = [v(None, 100), v(None, 900)]
    assert pick(unsized, height=720, policy=P.EXACT).bandwidth == 900
    with pytest.raises(NotFound):
        pick(unsized, height=720, policy=P.EXACT, fallback=False)


def test_height_policies_skip_variants_without_resolution() -> None:
    mixed = [v(None, 9_000_000), v(480, 1000), v(720, 2000)]
    assert pick(mixed, height=1080, policy=P.HIGHEST_BELOW).height == 720


def test_no_variants_is_not_found() -> None:
    with pytest.raises(NotFound) as info:
        choose_variant([], QualityPreference())
    assert info.value.reason == "NO_MATCHING_VARIANT"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 0},
        {"height": -720},
        {"height": 10001},
        {"height": True},
        {"height": 720.0},
        {"fps": 0},
        {"fps": -30.0},
        {"fps": math.nan},
        {"fps": math.inf},
        {"policy": P.EXACT},  # a height policy without a height
        {"policy": "EXACT", "height": 720},
    ],
)
def test_invalid_preferences_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as info:
        QualityPreference(**kwargs)  # type: ignore[arg-type]
    assert info.value.reason == "INVALID_QUALITY"


def test_limits_are_inclusive() -> None:
    assert QualityPreference(height=1, policy=P.EXACT).height == 1
    assert QualityPreference(height=10000, policy=P.EXACT, fps=0.5).height == 10000
