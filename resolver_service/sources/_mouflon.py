"""Stripchat's obfuscated ("mouflon") HLS playlists, decoded: pure functions, no I/O.

What the site does (``shared/brief/SITES.md``, Stripchat/Playlists):

- The master playlist carries ``#EXT-X-MOUFLON:PSCH:<v1|v2>:<pkey>``; each variant URL must get
  ``psch=<v>&pkey=<pkey>`` appended (:func:`parse_psch`, :func:`with_psch`).
- A media playlist (fMP4) hides its segment names behind a placeholder URI ending in
  ``media.mp4``. **v1**: a ``#EXT-X-MOUFLON:FILE:<base64>`` line before the placeholder holds
  the real file name, base64-encoded. **v2**: a ``#EXT-X-MOUFLON:URI:<url>`` line holds the
  real URL except that its second-to-last ``_``-separated token is encrypted: reverse it,
  base64-decode it (padding added), XOR it with SHA-256(pdkey) repeated; printable ASCII
  comes out with the right key, anything else means a wrong key.
- With a wrong or missing key the CDN serves a promotional clip instead of the show
  (``#EXT-X-MOUFLON-ADVERT``, segments under ``/cpa/``).

:func:`rewrite_media_playlist` turns such a playlist into one ffmpeg can read: every segment
and ``EXT-X-MAP`` URI decoded and absolute, LL-HLS part tags dropped (ffmpeg reads whole
segments; a part's placeholder would be unreadable anyway), and a promotional clip or an
undecodable name refused with a :class:`MouflonError` whose reason says which
(``STRIPCHAT_ADVERT``, ``STRIPCHAT_KEY_MISSING``, ``STRIPCHAT_KEY_WRONG``,
``STRIPCHAT_PLAYLIST_UNREADABLE``) and whose metadata names the pkey.

The pdkey is not in any playlist: :class:`KeyRing` holds the user's ``pkey -> pdkey`` table
(``STRIPCHAT_KEYS``) and what discovery found; discovery itself is :func:`key_candidates` (the
quoted 16-character alphanumeric strings of the player chunk that mentions MOUFLON) and
:func:`find_pdkey` (the candidate that decodes a sample token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from servicekit.errors import InvalidArgument, UpstreamError

from ..targets import check_http_url

__all__ = [
    "ADVERT_TAG",
    "KeyRing",
    "MouflonError",
    "Psch",
    "chunk_names",
    "decode_v1",
    "decode_v2_token",
    "decode_v2_uri",
    "encode_v1",
    "encode_v2_token",
    "find_pdkey",
    "key_candidates",
    "parse_keys",
    "parse_psch",
    "rewrite_media_playlist",
    "sample_tokens",
    "with_psch",
]

PSCH_TAG = "#EXT-X-MOUFLON:PSCH:"
FILE_TAG = "#EXT-X-MOUFLON:FILE:"
URI_TAG = "#EXT-X-MOUFLON:URI:"
ADVERT_TAG = "#EXT-X-MOUFLON-ADVERT"
PLACEHOLDER = "media.mp4"
#: LL-HLS tags about parts: dropped, ffmpeg reads the whole segments listed after them.
_PART_TAGS = (
    "#EXT-X-PART:",
    "#EXT-X-PART-INF:",
    "#EXT-X-PRELOAD-HINT:",
    "#EXT-X-RENDITION-REPORT:",
    "#EXT-X-SERVER-CONTROL:",
    "#EXT-X-SKIP:",
)
_VERSIONS = ("v1", "v2")
_PKEY = re.compile(r"[A-Za-z0-9]{1,64}")
_PDKEY = re.compile(r"[A-Za-z0-9]{1,128}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_CANDIDATE = re.compile(r"""(["'`])([A-Za-z0-9]{16})\1""")
_CHUNK_REF = re.compile(r"chunk-[A-Za-z0-9_-]{1,64}\.js")
_URI_ATTR = re.compile(r'URI="([^"]*)"')


class MouflonError(UpstreamError):
    """A Stripchat playlist that must not be recorded as it is: a promotional clip instead of
    the show (STRIPCHAT_ADVERT), no key for its pkey (STRIPCHAT_KEY_MISSING), a key that does
    not decode it (STRIPCHAT_KEY_WRONG) or a shape this module does not know
    (STRIPCHAT_PLAYLIST_UNREADABLE). ``pkey`` names the key in question ("" if none).

    An upstream failure, not a channel state: a first Resolve fails with it (nothing is
    recorded), and mid-show the recorder keeps its session and retries (a gap), where
    "offline"-like errors would end the session as if the show were over."""

    default_reason = "STRIPCHAT_PLAYLIST_UNREADABLE"

    def __init__(self, message: str, *, reason: str, pkey: str = "") -> None:
        super().__init__(message, reason=reason, metadata={"pkey": pkey})
        self.pkey = pkey


@dataclass(frozen=True)
class Psch:
    """The obfuscation scheme of a stream: ``version`` ("v1" or "v2") and its ``pkey``."""

    version: str
    pkey: str


# -- master playlists --------------------------------------------------------------------


def parse_psch(playlist: str) -> Psch | None:
    """The ``#EXT-X-MOUFLON:PSCH:<v>:<pkey>`` of a playlist (the last one), None without one.

    Raises MouflonError(STRIPCHAT_PLAYLIST_UNREADABLE) for a tag of unknown shape: a new
    scheme must be said, not recorded as adverts."""
    found: Psch | None = None
    for line in playlist.splitlines():
        line = line.strip()
        if not line.startswith(PSCH_TAG):
            continue
        version, _, pkey = line[len(PSCH_TAG) :].partition(":")
        if version.lower() not in _VERSIONS or not _PKEY.fullmatch(pkey):
            raise MouflonError(
                f"unknown Stripchat playlist scheme {line[len(PSCH_TAG) :][:40]!r}",
                reason="STRIPCHAT_PLAYLIST_UNREADABLE",
            )
        found = Psch(version.lower(), pkey)
    return found


def with_psch(url: str, psch: Psch) -> str:
    """``url`` with ``psch=<v>&pkey=<pkey>`` in its query (replacing any already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k not in ("psch", "pkey")]
    query += [("psch", psch.version), ("pkey", psch.pkey)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- the two obfuscations ----------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _keystream(pdkey: str, length: int) -> bytes:
    digest = hashlib.sha256(pdkey.encode("utf-8")).digest()
    return (digest * (length // len(digest) + 1))[:length]


def _printable(data: bytes) -> str | None:
    if not data or any(b < 0x20 or b > 0x7E for b in data):
        return None
    return data.decode("ascii")


def decode_v1(value: str, pdkey: str | None = None) -> str | None:
    """The file name in a v1 ``#EXT-X-MOUFLON:FILE:`` value, None if it is not one.

    The documented v1 is plain base64; some recorders also XOR it with SHA-256(pdkey) (not
    reversed), so with a ``pdkey`` that reading is tried when the plain one fails."""
    try:
        data = _b64decode(value)
    except ValueError:
        return None
    readings = [data]
    if pdkey:
        readings.append(
            bytes(a ^ b for a, b in zip(data, _keystream(pdkey, len(data)), strict=True))
        )
    for raw in readings:
        name = _printable(raw)
        if name is not None and _FILE_NAME.fullmatch(name):
            return name
    return None


def encode_v1(name: str) -> str:
    """The v1 value for ``name`` (what the fake CDN serves; the tests' vectors)."""
    return base64.b64encode(name.encode("ascii")).decode("ascii").rstrip("=")


def decode_v2_token(token: str, pdkey: str) -> str | None:
    """A v2 token decrypted with ``pdkey``: printable ASCII, or None (a wrong key)."""
    try:
        data = _b64decode(token[::-1])
    except ValueError:
        return None
    plain = bytes(a ^ b for a, b in zip(data, _keystream(pdkey, len(data)), strict=True))
    return _printable(plain)


def encode_v2_token(plain: str, pdkey: str) -> str:
    """The v2 token of ``plain`` under ``pdkey`` (the inverse of :func:`decode_v2_token`)."""
    data = plain.encode("ascii")
    cipher = bytes(a ^ b for a, b in zip(data, _keystream(pdkey, len(data)), strict=True))
    return base64.b64encode(cipher).decode("ascii").rstrip("=")[::-1]


def _v2_token(uri: str) -> tuple[list[str], int] | None:
    """The ``_``-split of ``uri`` and its token's index (the second-to-last piece), None if
    there is none. The whole URI is split, as the site does: a base64 token may hold a "/"."""
    pieces = uri.split("_")
    if len(pieces) < 3 or "/" not in pieces[0]:
        return None
    return pieces, len(pieces) - 2


def decode_v2_uri(uri: str, pdkey: str) -> str | None:
    """A v2 ``#EXT-X-MOUFLON:URI:`` URL with its token decrypted, None with a wrong key."""
    split = _v2_token(uri)
    if split is None:
        return None
    pieces, index = split
    plain = decode_v2_token(pieces[index], pdkey)
    if plain is None or not _FILE_NAME.fullmatch(plain):
        return None
    pieces[index] = plain
    return "_".join(pieces)


# -- media playlists ---------------------------------------------------------------------


def sample_tokens(playlist: str) -> tuple[str, ...]:
    """The encrypted v2 tokens of a media playlist (what discovery tries candidates on)."""
    tokens: list[str] = []
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith(URI_TAG):
            split = _v2_token(line[len(URI_TAG) :])
            if split is not None:
                tokens.append(split[0][split[1]])
    return tuple(tokens)


def rewrite_media_playlist(
    playlist: str, base_url: str, keys: Mapping[str, str], *, pkey: str = ""
) -> str:
    """``playlist`` (read from ``base_url``) as ffmpeg can read it: obfuscated names decoded,
    every URI absolute, LL-HLS part tags dropped.

    The pkey is the playlist's own ``#EXT-X-MOUFLON:PSCH`` tag, else ``pkey`` (the one the
    variant URL was asked with); ``keys`` maps pkeys to pdkeys. Raises MouflonError:
    STRIPCHAT_ADVERT (a promotional clip: the advert tag or a ``/cpa/`` segment),
    STRIPCHAT_KEY_MISSING (v2 and no pdkey for the pkey), STRIPCHAT_KEY_WRONG (a name the key
    does not decode), STRIPCHAT_PLAYLIST_UNREADABLE (not a playlist, unknown scheme, a
    placeholder with nothing to replace it, a URI that is not http(s)).
    """
    lines = [line.strip() for line in playlist.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise MouflonError("not an HLS playlist", reason="STRIPCHAT_PLAYLIST_UNREADABLE")
    psch = parse_psch(playlist)
    pkey = psch.pkey if psch is not None else pkey
    if any(line.startswith(ADVERT_TAG) for line in lines):
        raise _advert(pkey, "the playlist is tagged EXT-X-MOUFLON-ADVERT")
    pdkey = keys.get(pkey) if pkey else None
    out: list[str] = []
    # What the next placeholder URI becomes: ("file", v1 name) or ("uri", v2 URL).
    pending: tuple[str, str] | None = None

    def resolved(uri: str) -> str:
        nonlocal pending
        parts = urlsplit(uri)
        if parts.path.endswith(PLACEHOLDER):
            if pending is None:
                raise MouflonError(
                    f"a placeholder segment ({PLACEHOLDER}) with no MOUFLON line before it",
                    reason="STRIPCHAT_PLAYLIST_UNREADABLE",
                    pkey=pkey,
                )
            kind, value = pending
            pending = None
            if kind == "file":
                path = parts.path[: -len(PLACEHOLDER)] + value
                uri = urlunsplit(parts._replace(path=path))
            else:
                uri = value
        return _absolute(uri, base_url, pkey)

    for line in lines:
        if not line:
            continue
        if line.startswith(FILE_TAG):
            name = decode_v1(line[len(FILE_TAG) :], pdkey)
            if name is None:
                raise _wrong(pkey, "a v1 file name does not decode")
            pending = ("file", name)
        elif line.startswith(URI_TAG):
            if not pdkey:
                raise MouflonError(
                    f"no decryption key for Stripchat pkey {pkey or '(none)'}: add it to"
                    " STRIPCHAT_KEYS or let discovery find it",
                    reason="STRIPCHAT_KEY_MISSING",
                    pkey=pkey,
                )
            uri = decode_v2_uri(line[len(URI_TAG) :], pdkey)
            if uri is None:
                raise _wrong(pkey, "a v2 segment name does not decode with its key")
            pending = ("uri", uri)
        elif line.startswith(_PART_TAGS):
            if line.startswith("#EXT-X-PART:"):
                pending = None  # the MOUFLON line was this part's: dropped with it
        elif line.startswith("#EXT-X-MOUFLON"):
            continue
        elif line.startswith("#EXT-X-MAP:"):
            out.append(_URI_ATTR.sub(lambda m: f'URI="{resolved(m.group(1))}"', line))
        elif line.startswith("#"):
            out.append(line)
        else:
            out.append(resolved(line))
    return "\n".join(out) + "\n"


def _absolute(uri: str, base_url: str, pkey: str) -> str:
    absolute = urljoin(base_url, uri)
    try:
        check_http_url(absolute)
    except InvalidArgument as exc:
        raise MouflonError(
            f"a segment URI is unusable: {exc.message}",
            reason="STRIPCHAT_PLAYLIST_UNREADABLE",
            pkey=pkey,
        ) from None
    if "/cpa/" in urlsplit(absolute).path:
        raise _advert(pkey, "its segments are under /cpa/")
    return absolute


def _advert(pkey: str, why: str) -> MouflonError:
    return MouflonError(
        f"Stripchat serves a promotional clip instead of the show ({why}): the decryption key"
        f" for pkey {pkey or '(none)'} is missing or wrong",
        reason="STRIPCHAT_ADVERT",
        pkey=pkey,
    )


def _wrong(pkey: str, why: str) -> MouflonError:
    return MouflonError(
        f"the decryption key for Stripchat pkey {pkey or '(none)'} is wrong ({why}): fix"
        " STRIPCHAT_KEYS or let discovery find the new one",
        reason="STRIPCHAT_KEY_WRONG",
        pkey=pkey,
    )


# -- keys --------------------------------------------------------------------------------


def parse_keys(text: str) -> dict[str, str]:
    """``pkey1:pdkey1,pkey2:pdkey2`` (``STRIPCHAT_KEYS``) as a dict; ValueError names the bad
    entry (without the pdkey: it is a secret of sorts)."""
    table: dict[str, str] = {}
    for index, entry in enumerate(text.replace(";", ",").split(",")):
        entry = entry.strip()
        if not entry:
            continue
        pkey, sep, pdkey = entry.partition(":")
        pkey, pdkey = pkey.strip(), pdkey.strip()
        if not sep or not _PKEY.fullmatch(pkey) or not _PDKEY.fullmatch(pdkey):
            raise ValueError(
                f"entry {index + 1} is not pkey:pdkey (letters and digits on both sides)"
            )
        table[pkey] = pdkey
    return table


class KeyRing:
    """The pdkeys known for each pkey: the user's table, and what discovery proved.

    Discovery only keeps a key that decoded real tokens, so it wins over a user's entry for the
    same pkey (a stale table must not keep a stream on adverts); ``forget`` drops it again."""

    def __init__(self, table: Mapping[str, str] | None = None) -> None:
        self._user = dict(table or {})
        self._found: dict[str, str] = {}

    def get(self, pkey: str) -> str | None:
        return self._found.get(pkey) or self._user.get(pkey)

    def as_mapping(self) -> dict[str, str]:
        return {**self._user, **self._found}

    def learn(self, pkey: str, pdkey: str) -> None:
        self._found[pkey] = pdkey

    def forget(self, pkey: str) -> None:
        self._found.pop(pkey, None)

    def __contains__(self, pkey: object) -> bool:
        return pkey in self._user or pkey in self._found

    def __repr__(self) -> str:  # pdkeys stay out of logs
        return f"KeyRing(pkeys={sorted(self.as_mapping())})"


def chunk_names(script: str) -> tuple[str, ...]:
    """The ``chunk-<hash>.js`` files a player script refers to, in order, once each."""
    return tuple(dict.fromkeys(_CHUNK_REF.findall(script)))


def key_candidates(script: str) -> tuple[str, ...]:
    """The pdkey candidates of a player chunk: its quoted 16-character alphanumeric strings,
    in order, once each; none when the chunk does not mention MOUFLON."""
    if "mouflon" not in script.lower():
        return ()
    return tuple(dict.fromkeys(m.group(2) for m in _CANDIDATE.finditer(script)))


def find_pdkey(candidates: Iterable[str], samples: Iterable[str]) -> str | None:
    """The first candidate that decodes every sample token into a file name, None if none."""
    tokens = tuple(samples)
    if not tokens:
        return None
    for candidate in candidates:
        if all(_decodes(token, candidate) for token in tokens):
            return candidate
    return None


def _decodes(token: str, pdkey: str) -> bool:
    plain = decode_v2_token(token, pdkey)
    return plain is not None and _FILE_NAME.fullmatch(plain) is not None
