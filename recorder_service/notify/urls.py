"""Where notifications may go, and how their URLs are shown.

Webhook URLs are http(s) only. No URL may point at the streamrec services' own ports on this
host (a webhook that drives the recorder's own API), nor at link-local or cloud metadata
addresses (169.254.169.254 and friends hand out credentials), unless the operator lists the
host in ``NOTIFY_ALLOW_HOSTS``. Webhook hosts are checked again, resolved, before every send.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from servicekit.errors import InvalidArgument

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata services that are not link-local.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "metadata.azure"}
)
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
MAX_URL_LENGTH = 2048
# A path segment that looks like a token (Slack, Discord, Mattermost webhooks put theirs there).
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-.~%]{16,}$")


class UnsafeUrl(InvalidArgument):
    default_reason = "UNSAFE_URL"


def _ip(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class UrlPolicy:
    """``own_ports``: the services' ports on this host. ``allow``: hosts, ``host:port`` or
    networks exempt from the address checks (``NOTIFY_ALLOW_HOSTS``)."""

    own_ports: frozenset[int] = frozenset()
    own_hosts: frozenset[str] = frozenset()
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls, own_ports: Iterable[int], own_hosts: Iterable[str], allow: Iterable[str]
    ) -> UrlPolicy:
        hosts, nets = set(), []
        for entry in (a.strip().lower() for a in allow):
            if not entry:
                continue
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(
            own_ports=frozenset(p for p in own_ports if p > 0),
            own_hosts=frozenset(h.lower() for h in own_hosts if h),
            allow_hosts=frozenset(hosts),
            allow_networks=tuple(nets),
        )

    def allowed(self, host: str, port: int, address: IPAddress | None = None) -> bool:
        h = host.lower().strip("[]")
        if h in self.allow_hosts or f"{h}:{port}" in self.allow_hosts:
            return True
        return address is not None and any(address in n for n in self.allow_networks)

    def _local(self, host: str, address: IPAddress | None) -> bool:
        if address is not None:
            return address.is_loopback or address.is_unspecified or str(address) in self.own_hosts
        return host in _LOCAL_NAMES or host in self.own_hosts

    def check_address(self, host: str, port: int, address: IPAddress | None) -> None:
        """Refuse one host (and the address it is, or resolved to) with UNSAFE_URL."""
        h = host.lower().strip("[]")
        if self.allowed(h, port, address):
            return
        if address is not None and (address.is_link_local or address in _METADATA_ADDRESSES):
            raise UnsafeUrl(
                f"{h} is a link-local or cloud metadata address; list it in NOTIFY_ALLOW_HOSTS"
                " to allow it"
            )
        if h in _METADATA_NAMES:
            raise UnsafeUrl(
                f"{h} is a cloud metadata name; list it in NOTIFY_ALLOW_HOSTS to allow it"
            )
        if port in self.own_ports and self._local(h, address):
            raise UnsafeUrl(
                f"port {port} on this host is one of streamrec's own services; list"
                f" {h}:{port} in NOTIFY_ALLOW_HOSTS to allow it"
            )

    def check_webhook_url(self, url: str) -> SplitResult:
        """The URL's parts, once it passes the static checks (scheme, host, literal address)."""
        if len(url) > MAX_URL_LENGTH:
            raise InvalidArgument(f"URL longer than {MAX_URL_LENGTH}", reason="URL_TOO_LONG")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidArgument("not a URL", reason="INVALID_URL") from None
        if parts.scheme not in ("http", "https"):
            raise InvalidArgument("a webhook URL is http or https", reason="UNSUPPORTED_PROTOCOL")
        if not parts.hostname:
            raise InvalidArgument("the URL names no host", reason="INVALID_URL")
        if any(c in url for c in "\r\n\t "):
            raise InvalidArgument("the URL holds white space", reason="INVALID_URL")
        port = port or (443 if parts.scheme == "https" else 80)
        self.check_address(parts.hostname, port, _ip(parts.hostname))
        return parts

    async def check_resolved(self, host: str, port: int) -> None:
        """Resolve ``host`` and check every address it has (just before a send). A name that
        does not resolve is left for the connection to fail on."""
        if self.allowed(host, port) or _ip(host) is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return
        for info in infos:
            address = _ip(str(info[4][0]))
            if address is not None:
                self.check_address(host, port, address)

    def check_plain_host(self, host: str | None, port: int | None) -> None:
        """The address check for an Apprise URL whose plugin names a host (json://, ntfy://...):
        literal addresses and local or metadata names; names are not resolved."""
        if not host:
            return
        h = host.lower()
        address = _ip(h)
        if address is None and "." not in h and h not in _LOCAL_NAMES | _METADATA_NAMES:
            return  # a service id (discord://id/token), not a host
        self.check_address(h, port or 80, address)


def mask_url(url: str) -> str:
    """The URL as the API shows it: no password, no query values, token-like path segments
    replaced by ``***`` (the host, port and the rest of the path stay, to tell targets apart)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    try:
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "***"
    if parts.username:
        netloc = "***@" + netloc
    path = "/".join("***" if _TOKENISH.match(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(
        f"{pair.split('=', 1)[0]}=***" if "=" in pair else "***"
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, path, query, ""))
