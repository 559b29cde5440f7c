"""The fault suite's quick cases (``python -m tools.faults --short``), run through the same code
in ``make test``: the real services against the fake CDN, a fault mid-recording, and the
targets: a 404 or 500 burst shorter than the live window loses no media, segments that expire
in a window jump are a gap in the ledger of about the right length, an ffmpeg killed with
SIGKILL is restarted, and every file decodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.faults import SHORT_CASES, CaseResult, Lab, run_case

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The fakes and one stack for every short case; every process is stopped at the end."""
    with Lab(tmp_path_factory.mktemp("faults")) as running:
        yield running
    assert not running.strays, f"ffmpeg left behind: {running.strays}"


def run(lab: Lab, name: str) -> CaseResult:
    assert name in SHORT_CASES
    result = run_case(lab, name, short=True)
    assert not result.error, result.error
    assert ("no ffmpeg left behind", True) in result.checks
    return result


def files_of(result: CaseResult) -> str:
    return "; ".join(f"{f.path}: {f.decoded_s}/{f.duration_s}s {f.errors}" for f in result.files)


@pytest.mark.parametrize("name", ["404-burst", "500-burst"])
def test_a_burst_shorter_than_the_window_loses_nothing(lab: Lab, name: str) -> None:
    result = run(lab, name)
    assert result.media_lost_s == 0, f"segments never fetched: {result.missing_segments}"
    assert result.ledger == [] and result.gap_events == 0
    assert result.files and result.files_decode, files_of(result)
    assert result.outcome.startswith("STOPPED (stopped by request)")
    assert result.passed, result.failed_checks


def test_a_window_jump_is_a_gap_in_the_ledger_of_the_right_length(lab: Lab) -> None:
    result = run(lab, "window-jump")
    lost = result.media_lost_s or 0.0
    assert lost > 0, "the jump should expire segments"
    assert result.ledger and result.gap_events == len(result.ledger)
    assert abs(result.ledger_s - lost) <= max(1.5, 0.3 * lost), (result.ledger, lost)
    assert result.files and result.files_decode, files_of(result)
    assert result.passed, result.failed_checks


def test_an_ffmpeg_killed_with_sigkill_is_restarted_without_loss(lab: Lab) -> None:
    result = run(lab, "ffmpeg-sigkill")
    assert result.restarts >= 1 and result.events["RECONNECTING"] >= 1
    assert result.media_lost_s == 0, f"segments never fetched: {result.missing_segments}"
    assert len(result.files) >= 2  # the killed part and the one after the restart
    # The killed part too: the finalizer cuts the frame the kill tore (ts_repair).
    assert result.files_decode, files_of(result)
    assert result.passed, result.failed_checks
