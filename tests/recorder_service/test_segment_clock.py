from recorder_service.segment_clock import SegmentClock


def feed(clock, segment_s, report_s, seconds, start_burst=3):
    """A live stream of ``segment_s`` segments, reported every ``report_s``: ffmpeg opens a
    burst of segments at the start, then one per segment duration."""
    t, opened_until = 0.0, 0.0
    for _ in range(start_burst):
        clock.opened()
        opened_until += segment_s
    while t < seconds:
        t += report_s
        while opened_until < t + segment_s:  # opened a segment ahead of what is muxed
            clock.opened()
            opened_until += segment_s
        clock.progress(t)


def test_the_segment_length_comes_from_media_time_over_segments_opened():
    clock = SegmentClock()
    assert clock.seconds == 2.0  # the default until enough is seen
    feed(clock, segment_s=6.0, report_s=5.0, seconds=120)
    assert abs(clock.seconds - 6.0) < 0.5
    other = SegmentClock()
    feed(other, segment_s=1.0, report_s=5.0, seconds=60)
    assert abs(other.seconds - 1.0) < 0.1


def test_a_restart_keeps_the_estimate_and_starts_media_time_again():
    clock = SegmentClock()
    feed(clock, segment_s=4.0, report_s=5.0, seconds=80)
    before = clock.seconds
    clock.restart()
    clock.opened()
    clock.progress(1.0)  # a new ffmpeg's media time, far below the old one's
    assert clock.seconds == before
    assert abs(before - 4.0) < 0.5


def test_no_media_or_too_few_segments_leave_the_default():
    clock = SegmentClock(default_s=3.0)
    clock.opened()
    clock.progress(0.0)
    clock.opened()
    clock.progress(0.0)
    assert clock.seconds == 3.0


def test_the_length_the_playlist_declares_wins_over_the_estimate():
    clock = SegmentClock()
    # Early in a recording: ffmpeg opened a burst ahead of what it muxed, so the few reports
    # seen so far make a poor estimate.
    for _ in range(4):
        clock.opened()
    clock.progress(0.1)
    for _ in range(3):
        clock.opened()
    clock.progress(1.9)
    assert abs(clock.seconds - 0.6) < 0.01
    clock.declare(1.0)
    assert clock.seconds == 1.0
    clock.declare(0.0)  # a playlist without durations says nothing
    clock.restart()
    feed(clock, segment_s=1.0, report_s=5.0, seconds=30)
    assert clock.seconds == 1.0 and clock.declared == 1.0
