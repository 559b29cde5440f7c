from recorder_service.progress import ProgressParser

BLOCK = """frame=0
fps=0.00
stream_0_0_q=-1.0
bitrate= 812.3kbits/s
total_size=412300
out_time_us=4004000
out_time_ms=4004000
out_time=00:00:04.004000
dup_frames=0
drop_frames=0
speed=1.01x
progress=continue
"""


def test_a_block_yields_one_progress_at_its_end():
    parser = ProgressParser()
    results = [parser.feed(line) for line in BLOCK.splitlines()]
    assert results[:-1] == [None] * (len(results) - 1)
    p = results[-1]
    assert p is not None
    assert p.out_time_s == 4.004
    assert p.total_size == 412300
    assert p.bitrate_kbps == 812.3
    assert p.speed == 1.01
    assert not p.ended


def test_na_values_before_the_first_packet_read_as_zero():
    parser = ProgressParser()
    for line in ["bitrate=N/A", "total_size=N/A", "out_time_us=N/A", "speed=N/A"]:
        assert parser.feed(line) is None
    p = parser.feed("progress=end")
    assert p is not None and p.ended
    assert (p.out_time_s, p.total_size, p.bitrate_kbps, p.speed) == (0.0, 0, 0.0, 0.0)


def test_garbage_lines_are_ignored():
    parser = ProgressParser()
    assert parser.feed("not a key value line") is None
    assert parser.feed("") is None
