"""Channel keys across sites: ``alice`` (the default site) or ``stripchat:alice``.

A watched channel is the pair (site, username); its key is what the REST routes take in their
paths. The gateway checks only the shape (a site name is ``[a-z][a-z0-9]{1,31}``, a username
is ``[A-Za-z0-9_]`` on the default site, plus ``-`` elsewhere) so a malformed key is a 400
before any call; whether a site exists, and its own username rules, are the recorder's (and
the resolver's) answer. Pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

from servicekit.errors import InvalidArgument

SITE_RE = re.compile(r"[a-z][a-z0-9]{1,31}")
#: A bare username: the default site's rule (the seed's ``[A-Za-z0-9_]``).
BARE_USERNAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
#: A username on a named site: the resolver checks each site's own, narrower rule.
SITE_USERNAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The longest key: a site, ":" and a username.
MAX_KEY = 32 + 1 + 64
#: The site a channel of a recorder that does not say (an older one) is on.
LEGACY_SITE = "chaturbate"


SiteQuery = Annotated[
    str | None,
    Query(max_length=64, description="the channel's site (when the key does not name it)"),
]


@dataclass(frozen=True)
class ChannelRef:
    """A channel as a request names it. ``site`` is empty when the request did not name one
    (the recorder's default site)."""

    site: str
    username: str

    @property
    def key(self) -> str:
        return f"{self.site}:{self.username}" if self.site else self.username


def check_site(site: str) -> str:
    """A site name as given (lower-case letters and digits, 2-32 long), else a 400."""
    if not SITE_RE.fullmatch(site):
        raise InvalidArgument(
            f"site {site[:40]!r} is not a site name (2-32 lower-case letters and digits, "
            "starting with a letter)",
            reason="INVALID_SITE",
        )
    return site


def parse_key(key: str, site: str | None = None) -> ChannelRef:
    """``alice`` or ``stripchat:alice`` (``site`` names the site when the key does not; both
    must agree when both do). A bare name is lower-cased (the default site's names are
    case-insensitive); a name on a named site is passed on as written (the recorder knows
    that site's spelling rule)."""
    wanted = check_site(site) if site else ""
    prefix, colon, name = key.partition(":")
    if colon:
        check_site(prefix)
        if wanted and prefix != wanted:
            raise InvalidArgument(
                f"the key {key[:MAX_KEY]!r} names site {prefix!r}, not {wanted!r}",
                reason="SITE_MISMATCH",
            )
        wanted = prefix
    else:
        name = key
    rule, allowed = (
        (SITE_USERNAME_RE, "letters, digits, '_' or '-'")
        if wanted
        else (BARE_USERNAME_RE, "letters, digits or '_'")
    )
    if not rule.fullmatch(name):
        raise InvalidArgument(
            f"username {name[:MAX_KEY]!r} must be 1-64 {allowed}", reason="INVALID_ARGUMENT"
        )
    return ChannelRef(wanted, name if wanted else name.lower())


def channel_key(site: str, username: str, key: str = "") -> str:
    """The key the recorder gave, else the one it would give (an older recorder's channel is
    on :data:`LEGACY_SITE`)."""
    if key:
        return key
    return username if site in ("", LEGACY_SITE) else f"{site}:{username}"


def channel_or_folder(key: str, site: str | None, check_folder: Callable[[str], str]) -> ChannelRef:
    """The name of a route that takes a watched channel's key or a recording folder (the
    thumbnail and the timeline): a ``site:`` key or ``?site=`` names a channel on that site;
    anything else is a folder name, checked by ``check_folder``, with no site."""
    if site or ":" in key:
        return parse_key(key, site)
    return ChannelRef("", check_folder(key))
