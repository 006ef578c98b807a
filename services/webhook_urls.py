"""Where a webhook may point (R28, D29, D33): the URL rules, checked after DNS resolution.

`https://` to a public address always; `http://` never to a public one; loopback and private
addresses (either scheme) only with LICENSING_WEBHOOK_ALLOW_PRIVATE=true; link-local,
unspecified, multicast and other reserved addresses never. Every address a name resolves to
must pass, and delivery connects to the one that was checked — no second resolution, so a
name cannot be re-pointed between the check and the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0
# "private" as RFC 1918 and RFC 4193 mean it; Python's is_private also covers reserved ranges
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_SETTING_HINT = "Loopback and private addresses are allowed only when the service runs with LICENSING_WEBHOOK_ALLOW_PRIVATE=true."


class UrlRefused(ValueError):
    """The URL may not be used; the message says why, for an admin."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to say to it (Host, SNI, path)."""

    scheme: str
    host: str  # as in the URL (lower case; IPv6 without brackets)
    port: int
    target: str  # path and query
    username: str | None
    password: str | None
    addresses: tuple[IpAddress, ...]  # every one checked; tried in order

    @property
    def address(self) -> IpAddress:
        return self.addresses[0]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def connect_url(self, address: IpAddress) -> str:
        """The URL with a checked address in place of the name."""
        ip = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{ip}:{self.port}{self.target}"


def display_url(url: str) -> str:
    """The URL without its user-info (`user:pass@`): what `webhooks` shows (D33)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _parse(url: str) -> tuple[SplitResult, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UrlRefused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"The URL is not valid ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("The URL must start with https:// (or http:// to a loopback or private address).")
    host = parts.hostname
    if not host:
        raise UrlRefused("The URL has no host name.")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise UrlRefused("The URL's host name is not valid.") from exc
    return parts._replace(scheme=scheme), host, port or (443 if scheme == "https" else 80)


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def address_kind(address: IpAddress) -> str | None:
    """None for a public address; otherwise what it is ("loopback", "private", "link-local", …).
    An IPv6 address carrying an IPv4 one: mapped (::ffff:a.b.c.d) is that IPv4 address;
    compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::a.b.c.d) forms are reserved; 6to4
    and Teredo are what their IPv4 address is when that is not public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif (int(address) >> 32 == 0 and int(address) > 1) or any(address in network for network in _NAT64):
            return "reserved"
        else:
            tunnelled = address.sixtofour or (address.teredo[1] if address.teredo else None)
            kind = address_kind(tunnelled) if tunnelled is not None else None
            if kind is not None:
                return kind
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def check_address(scheme: str, host: str, address: IpAddress, *, allow_private: bool) -> None:
    """UrlRefused unless the scheme may be used with this address (D29)."""
    kind = address_kind(address)
    named = host if host == str(address) else f"{host} resolves to {address}, which is"
    if kind is None:
        if scheme != "https":
            raise UrlRefused(
                f"The URL must start with https://: {named} a public address, and webhooks are sent over "
                "http:// only to loopback or private addresses (with LICENSING_WEBHOOK_ALLOW_PRIVATE=true)."
            )
        return
    if kind in ("loopback", "private"):
        if not allow_private:
            raise UrlRefused(f"The URL points at {named} a {kind} address. {_SETTING_HINT}")
        return
    article = "an" if kind[0] in "aeiou" else "a"
    raise UrlRefused(f"The URL points at {named} {article} {kind} address, which a webhook may never use.")


async def resolve(host: str, port: int) -> list[IpAddress]:
    """The addresses `host` names (itself when it is an IP literal), resolved in the event loop's
    resolver thread."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError) as exc:
        raise UrlRefused(f"The host name {host} could not be resolved ({exc or 'timed out'}).") from exc
    found: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UrlRefused(f"The host name {host} has no address.")
    return found


async def checked_target(url: str, *, allow_private: bool) -> Target:
    """Parse, resolve and check `url`: every address it resolves to must be allowed; the target
    is connected to in order. UrlRefused says why not."""
    parts, host, port = _parse(url)
    addresses = await resolve(host, port)
    for address in addresses:
        check_address(parts.scheme, host, address, allow_private=allow_private)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Target(parts.scheme, host, port, target, parts.username, parts.password, tuple(addresses))
