"""Text a site wrote (a room's title, its status word, a message about it): untrusted.

It is kept as a plain string, never interpreted (no HTML, no markup, no escapes undone): the
only changes are that control characters go, line breaks and tabs become spaces, runs of
white space become one space, and the result is capped.
"""

from __future__ import annotations

import unicodedata

#: The most characters kept of one piece of site text.
MAX_SITE_TEXT = 300
# Only ``limit`` times this many characters of the input are looked at, so a huge value costs
# no more than a long one.
_READ_FACTOR = 8
# Invisible characters that reorder the text around them ("Trojan source"): removed like the
# controls. Joiners (U+200D, for emoji sequences) are kept.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
# Controls (Cc), lone surrogates (Cs: not valid UTF-8, a protobuf string would refuse them),
# line and paragraph separators (Zl, Zp).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _clean(ch: str) -> str:
    if ch.isspace():
        return " "
    if ch in _BIDI or unicodedata.category(ch) in _DROPPED_CATEGORIES:
        return ""
    return ch


def site_text(value: str, limit: int = MAX_SITE_TEXT) -> str:
    """``value`` as plain text of at most ``limit`` characters (see the module's docstring)."""
    cleaned = "".join(_clean(ch) for ch in value[: limit * _READ_FACTOR])
    return " ".join(cleaned.split())[:limit].rstrip()
