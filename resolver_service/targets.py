"""Validating and classifying what a user typed as a target, and naming its recording folder.

Everything that reaches ffmpeg starts here, so the rules are strict: only http(s) URLs with a
host, a ``site:username``, or a bare username of the default site. Anything ffmpeg could read as
one of its own protocols (``file:``, ``concat:``, ``data:``, a local path, ...) is refused before
it goes further. Which site a target belongs to is decided from what each source declares
(``SiteRules``: its name, room hosts, username pattern, whether it is the default site); this
module knows no site by name.
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol
from urllib.parse import unquote, urlsplit

from servicekit.errors import InvalidArgument

__all__ = [
    "MAX_PERSON_LENGTH",
    "MAX_URL_LENGTH",
    "USERNAME_PATTERN",
    "SiteRules",
    "Target",
    "TargetKind",
    "check_http_url",
    "classify_target",
    "is_default_site",
    "person_folder",
    "slugify_person",
    "suggest_person",
]

MAX_URL_LENGTH = 2048
MAX_PERSON_LENGTH = 64
# An explicitly given folder name longer than this is abuse, not a name to shorten.

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}")
# "site:username" (a site name is lower-case letters and digits).
_SITE_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]{1,31}):([^/\\]*)$")
# Anything ffmpeg would parse as "<protocol>:" (file:, concat:, subfile:, data:, C:\...).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOST = re.compile(r"^[\w.\-:%]+$")

_SOURCE_ALIASES = {"": "auto", "auto": "auto", "m3u8": "hls"}
# ffmpeg's input protocols (``ffmpeg -protocols``, 5.1 to 9.0) and a few more it may grow: a
# "name:rest" with one of these is refused as a protocol, any other unknown name as a site.
_FFMPEG_PROTOCOLS = frozenset(
    "async bluray cache concat concatf crypto data fd ffrtmpcrypt ffrtmphttp file ftp gopher"
    " gophers httpproxy mmsh mmst pipe rtmp rtmpe rtmps rtmpt rtmpte rtmpts rtp shared srtp"
    " subfile tcp tls dtls udp udplite unix rist srt sftp zmq ipfs ipns smb libsmbclient"
    " librtmp libssh amqp md5 prompeg icecast hls".split()
)


class SiteRules(Protocol):
    """What a source declares about the targets it takes (``sources.base.Source``)."""

    name: ClassVar[str]
    room_hosts: ClassVar[tuple[str, ...]]
    default_site: ClassVar[bool]
    username_pattern: ClassVar[re.Pattern[str]]
    case_insensitive: ClassVar[bool]
    takes_urls: ClassVar[bool]

    @classmethod
    def room_username(cls, path: Sequence[str]) -> str: ...


class TargetKind(enum.Enum):
    """What ``Target.value`` holds."""

    URL = "url"
    USERNAME = "username"


@dataclass(frozen=True)
class Target:
    """A validated target: which source resolves it and the value that source needs.

    ``value`` is an http(s) URL (kind URL, unchanged apart from surrounding whitespace) or a
    lower-cased username (kind USERNAME).
    """

    source: str
    kind: TargetKind
    value: str


def classify_target(
    target: str, source_type: str | None = None, sites: Mapping[str, type[SiteRules]] | None = None
) -> Target:
    """Validate ``target`` and decide which source resolves it.

    ``source_type`` is None, "" or "auto" (the target's shape decides: ``site:username``, a
    site's room URL, any other http(s) URL for "hls", a bare username for the default site),
    "m3u8"/"hls" (a URL is required) or a site's name (a username or that site's room URL).
    A room URL of a site always means that room. ``sites`` are the sources' declarations by
    name (default: every registered source).

    Raises InvalidArgument with reason EMPTY_TARGET, TARGET_TOO_LONG, CONTROL_CHARACTER,
    UNSUPPORTED_PROTOCOL, INVALID_URL, URL_CREDENTIALS_NOT_ALLOWED, INVALID_USERNAME or
    UNKNOWN_SOURCE_TYPE.
    """
    rules = _registered() if sites is None else sites
    source = _normalize_source_type(source_type, rules)
    if not isinstance(target, str):
        raise InvalidArgument("target must be a string", reason="INVALID_ARGUMENT")
    text = target.strip()
    if not text:
        raise InvalidArgument("target is empty", reason="EMPTY_TARGET")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidArgument(
            f"target is longer than {MAX_URL_LENGTH} characters", reason="TARGET_TOO_LONG"
        )
    _reject_control_characters(text, what="target")

    prefixed = _SITE_PREFIX.match(text)
    if prefixed and prefixed.group(1).lower() not in ("http", "https"):
        name = prefixed.group(1).lower()
        site = rules.get(name)
        if site is None or site.takes_urls:
            if name not in _FFMPEG_PROTOCOLS and USERNAME_PATTERN.fullmatch(prefixed.group(2)):
                raise InvalidArgument(
                    f"no site named {name!r} (known: {', '.join(_site_names(rules))})",
                    reason="UNKNOWN_SOURCE_TYPE",
                )
        else:
            if source not in ("auto", name):
                raise InvalidArgument(
                    f"target names the site {name!r} but source_type is {source!r}",
                    reason="UNKNOWN_SOURCE_TYPE",
                )
            return _username_target(site, prefixed.group(2))

    if _SCHEME.match(text) or _looks_like_path(text):
        url = check_http_url(text)
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        owner = next((r for r in rules.values() if _on_hosts(host, r.room_hosts)), None)
        if owner is not None:
            # A room page is HTML, never a playlist: whatever source_type says, it means the room.
            path = [unquote(p) for p in urlsplit(url).path.split("/") if p]
            return _username_target(owner, owner.room_username(path))
        site = rules.get(source)
        if site is not None and not site.takes_urls:
            host_hint = f" or a {site.room_hosts[0]} room URL" if site.room_hosts else ""
            raise InvalidArgument(
                f"source_type {source} needs a username{host_hint}",
                reason="INVALID_USERNAME",
            )
        return Target(source="hls", kind=TargetKind.URL, value=url)

    if source == "hls":
        raise InvalidArgument(
            "source_type m3u8/hls needs an http(s) URL to a playlist", reason="INVALID_URL"
        )
    if source == "auto":
        default = next((r for r in rules.values() if r.default_site), None)
        if default is None:
            raise InvalidArgument(
                "a bare username needs a site: write site:username", reason="UNKNOWN_SOURCE_TYPE"
            )
        return _username_target(default, text)
    return _username_target(rules[source], text)


def _username_target(site: type[SiteRules], name: str) -> Target:
    if not site.username_pattern.fullmatch(name):
        raise InvalidArgument(
            f"not a valid {site.name} username (1 to 64 characters among A-Z, a-z, 0-9 and _"
            f"{' and -' if site.username_pattern.fullmatch('a-b') else ''})",
            reason="INVALID_USERNAME",
        )
    # Sites whose room slugs are case-insensitive get one spelling per room, so that "Alice"
    # and "alice" are seen as the same channel.
    value = name.lower() if site.case_insensitive else name
    return Target(source=site.name, kind=TargetKind.USERNAME, value=value)


def _on_hosts(host: str, hosts: Sequence[str]) -> bool:
    return any(host == h or host.endswith("." + h) for h in hosts)


def _registered() -> Mapping[str, type[SiteRules]]:
    from resolver_service.sources.base import sources_by_name  # the registry imports this module

    return sources_by_name()


def _site_names(rules: Mapping[str, type[SiteRules]]) -> list[str]:
    return sorted(name for name, r in rules.items() if not r.takes_urls)


def is_default_site(source: str, sites: Mapping[str, type[SiteRules]] | None = None) -> bool:
    """True when ``source`` is the site bare usernames belong to."""
    rule = (_registered() if sites is None else sites).get(source)
    return bool(rule and rule.default_site)


def check_http_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host and no credentials, else raise.

    Userinfo (``https://user:pass@host/``) is refused: credentials would end up in logs, in
    the database and on ffmpeg's command line (visible in ``ps``), and ``https://good@evil/``
    is a classic way to disguise a host. Private and loopback hosts are allowed on purpose:
    self-hosters record from their LAN and the tests' fake CDN listens on 127.0.0.1.

    Raises InvalidArgument with reason UNSUPPORTED_PROTOCOL, INVALID_URL or
    URL_CREDENTIALS_NOT_ALLOWED.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise InvalidArgument(
            "not an http(s) URL: local paths are not allowed, and a URL starts with https://",
            reason="UNSUPPORTED_PROTOCOL",
        )
    if scheme.group(1).lower() not in ("http", "https"):
        raise InvalidArgument(
            f"protocol {scheme.group(1).lower()!r} is not allowed; only http and https are",
            reason="UNSUPPORTED_PROTOCOL",
        )
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(
            f"URL is longer than {MAX_URL_LENGTH} characters", reason="TARGET_TOO_LONG"
        )
    _reject_control_characters(url, what="URL")
    if any(ch.isspace() for ch in url):
        raise InvalidArgument("URL contains whitespace", reason="INVALID_URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - evaluated for its ValueError on a bad port
    except ValueError as exc:
        raise InvalidArgument(f"malformed URL: {exc}", reason="INVALID_URL") from exc
    if not url[len(scheme.group(0)) :].startswith("//") or not parts.hostname:
        raise InvalidArgument("URL has no host", reason="INVALID_URL")
    if "@" in parts.netloc:
        raise InvalidArgument(
            "credentials in URLs are not allowed", reason="URL_CREDENTIALS_NOT_ALLOWED"
        )
    if not _HOST.match(parts.hostname):
        raise InvalidArgument("URL has an invalid host", reason="INVALID_URL")
    return url


def _normalize_source_type(source_type: str | None, rules: Mapping[str, type[SiteRules]]) -> str:
    key = (source_type or "").strip().lower()
    key = _SOURCE_ALIASES.get(key, key)
    if key != "auto" and key not in rules:
        raise InvalidArgument(
            f"unknown source_type {source_type!r}; use auto, m3u8 or one of "
            f"{', '.join(sorted(rules))}",
            reason="UNKNOWN_SOURCE_TYPE",
        )
    return key


def _looks_like_path(text: str) -> bool:
    # ffmpeg opens a bare path with its file protocol; "host/x" without a scheme lands here too.
    return "/" in text or "\\" in text or text.startswith((".", "~"))


def _reject_control_characters(text: str, *, what: str) -> None:
    # Cc (NUL, newlines, ESC...), Cf (bidi overrides, zero-width), separators: log and
    # command-line injection or spoofing, never part of a legitimate URL or name.
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise InvalidArgument(
                f"{what} contains a control character (U+{ord(ch):04X})",
                reason="CONTROL_CHARACTER",
            )


# Path parts that say nothing about whose stream it is.
_GENERIC_PARTS = frozenset(
    "live hls master playlist index stream streams chunklist llhls media video videos audio"
    " edge origin cmaf manifest play playback channel channels user users api v1 v2 v3 mono"
    " main public live-hls live-edge hls-live tv".split()
)
# Chaturbate CDN path shapes: legacy "amlst:<user>-sd-<hash>..." and LL-HLS "origin.<user>.<id>".
_CDN_USER = (
    re.compile(r"^amlst:([A-Za-z0-9_]+?)-sd-"),
    re.compile(r"^origin\.([A-Za-z0-9_]+)\.\w+$"),
)
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
# Ids, hashes, UUIDs and quality labels (720p, 720p60, 1280x720, 2500k) name no one.
_ID_LIKE = re.compile(
    r"^(\d+|\d+p\d*|\d+x\d+|\d+k|[0-9a-f]{16,}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
    re.IGNORECASE,
)
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul", *(f"{dev}{i}" for dev in ("com", "lpt") for i in range(1, 10))]
)


def suggest_person(target: Target) -> str:
    """The recording folder name (already slugified) for ``target`` when the user gave none.

    A username is its own folder. For a URL, the last meaningful path part wins (extensions
    and generic parts such as ``live``, ``hls``, ``master``, ``playlist``, ``index`` or
    ``stream`` are skipped, and so are numeric ids, hashes, UUIDs and quality labels such as
    ``720p``); Chaturbate CDN paths
    (``amlst:<user>-sd-...``, ``origin.<user>.<id>``) give their username. Without any, the host.
    """
    if target.kind is TargetKind.USERNAME:
        return person_folder(target.source, target.value)
    parts = urlsplit(target.value)
    for raw in reversed([p for p in parts.path.split("/") if p]):
        part = unquote(raw)
        for pattern in _CDN_USER:
            match = pattern.match(part)
            if match:
                return slugify_person(match.group(1))
        stem = _EXTENSION.sub("", part)
        # A part without a letter or digit (only punctuation) is no name either.
        if _is_generic(stem) or _ID_LIKE.match(stem) or not re.search(r"[^\W_]", stem):
            continue
        return slugify_person(stem)
    return slugify_person(parts.hostname or "stream")


def person_folder(
    source: str, username: str, sites: Mapping[str, type[SiteRules]] | None = None
) -> str:
    """A channel's recording folder: its username on the default site, ``<site>-<username>``
    on the others. Default-site names have no ``-`` and site names none either, so the same
    name on two sites gets two folders that cannot collide."""
    slug = slugify_person(username)
    if is_default_site(source, sites):
        return slug
    folder = f"{source}-{slug}"
    if len(folder) <= MAX_PERSON_LENGTH:
        return folder
    # Too long for a folder name: keep a readable head and a hash of the whole name, so two
    # long names that share a head still get two folders.
    digest = hashlib.sha256(folder.encode("utf-8")).hexdigest()[:10]
    return f"{folder[: MAX_PERSON_LENGTH - 11].rstrip('-_')}-{digest}"


def _is_generic(stem: str) -> bool:
    lowered = stem.lower()
    if lowered in _GENERIC_PARTS:
        return True
    # "playlist_720p", "chunklist_0_video_12_llhls", "media_w1_b2": a generic word plus numbers.
    match = re.match(r"^([a-z0-9]+)[_-](.*)$", lowered)
    return bool(match and match.group(1) in _GENERIC_PARTS and re.search(r"\d", match.group(2)))


def slugify_person(name: str) -> str:
    """Turn any text into a safe folder name: ``[a-z0-9_-]``, at most 64 characters, never empty.

    Accents are folded to ASCII (``Zoë`` -> ``zoe``); other characters become ``-``. A name with
    nothing ASCII left (e.g. ``日本``) gets a stable ``p-<hash>`` so different names stay apart.
    ``.`` and ``..`` cannot come out, nor a Windows device name such as ``con``.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9_-]+", "-", folded.lower())
    slug = slug.strip("-_")[:MAX_PERSON_LENGTH].rstrip("-_")
    if not slug:
        stripped = name.strip()
        if not stripped:
            return "unknown"
        return "p-" + hashlib.sha256(stripped.encode("utf-8")).hexdigest()[:12]
    if slug in _WINDOWS_RESERVED:
        slug += "_"
    return slug
