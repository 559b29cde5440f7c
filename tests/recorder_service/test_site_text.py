"""Site text (room titles, status words, messages) is kept as plain, capped, visible text."""

from __future__ import annotations

import pytest

from recorder_service.site_text import MAX_SITE_TEXT, site_text


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Sunday stream", "Sunday stream"),
        ("", ""),
        # markup and entities are text like any other: kept as written, never rendered
        ("<script>alert(1)</script> &amp;", "<script>alert(1)</script> &amp;"),
        # line breaks, tabs and other white space become one space; the ends are trimmed
        ("  one\r\ntwo\tthree\u2028four\x85five  ", "one two three four five"),
        # C0, DEL and C1 controls go (an ANSI escape loses its ESC)
        ("a\x00b\x07c\x1b[31md\x7fe\x9bf", "abc[31mdef"),
        # direction overrides go ("Trojan source"); emoji joiners and accents stay
        ("abc\u202edcba\u2066x\u2069", "abcdcbax"),
        ("👩\u200d💻 café", "👩\u200d💻 café"),
        # a lone surrogate cannot be sent as UTF-8: it goes
        ("a\ud800b", "ab"),
    ],
)
def test_site_text_is_plain_visible_text(raw: str, kept: str) -> None:
    assert site_text(raw) == kept


def test_site_text_is_capped_without_a_trailing_space() -> None:
    assert len(site_text("x" * 10_000)) == MAX_SITE_TEXT == 300
    assert site_text("x" * 299 + " y") == "x" * 299
    assert site_text("abcdef", limit=3) == "abc"


def test_a_huge_value_costs_no_more_than_a_long_one() -> None:
    # Only the start is read: a value of only controls up front gives what follows them, up to
    # eight times the limit in.
    assert site_text("\x00" * 100 + "title", limit=20) == "title"
    assert site_text("\x00" * 1_000_000 + "title") == ""
