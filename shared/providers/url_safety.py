"""Which URLs Podium may call on a user's behalf (datasets, custom model endpoints).

A user-supplied URL is a request we make from inside Google Cloud, so it must not reach the
metadata server (it hands out the service account's credentials) or anything else link-local;
those are refused always. Loopback, private and unique-local networks are refused unless the
deployment allows private endpoints (the local stack and tests do).

``check_outbound_url`` looks at the URL alone (literal addresses and well-known names) and suits
validation when a URL is saved. ``resolve_and_check`` also resolves the host and checks every
address, and is meant to run right before each call so that a name which later re-points at a
private address (DNS rebinding) is refused. It narrows the window rather than closing it: httpx
resolves again when it connects.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Called like socket.getaddrinfo(host, port); only each entry's sockaddr[0] is read.
Resolver = Callable[[str, int], Iterable[tuple[Any, ...]]]
UrlGuard = Callable[[str], None]

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# IPv6 ranges that carry an IPv4 address which is what a connection actually reaches.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291), still routed by some
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use (RFC 8215): any 6052 layout
# The rest of ::/8 is reserved by the IETF; Python calls it global, nothing public lives there.
_RESERVED_V6 = ipaddress.ip_network("::/8")
# inet_aton accepts shorthand a resolver would also accept ("127.1", "2130706433", "0x7f.1"),
# so such hosts are treated as the IPv4 literals they are.
_IPV4_SHORTHAND = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PRIVATE_HINT = " (private endpoints are allowed only with PODIUM_ALLOW_PRIVATE_ENDPOINTS)"


def check_outbound_url(url: str, *, allow_private: bool) -> None:
    """Raise ``ValueError`` unless ``url`` is http(s) to a host we may call."""
    _, host, _ = _split(url)
    if host in _METADATA_HOSTS or host.endswith(".metadata.google.internal"):
        raise ValueError(f"Refusing {url!r}: {host} is the cloud metadata server")
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise ValueError(f"Refusing {url!r}: {host} is a loopback name{_PRIVATE_HINT}")
    address = _literal_address(host)
    if address is not None:
        _check_address(address, allow_private=allow_private, url=url, via=None)


def resolve_and_check(
    url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo
) -> tuple[str, ...]:
    """``check_outbound_url`` plus every address ``host`` resolves to; returns the addresses.

    A name that does not resolve raises the resolver's ``OSError`` (``socket.gaierror``), which
    callers treat as a connection failure rather than a refused URL.
    """
    check_outbound_url(url, allow_private=allow_private)
    scheme, host, port = _split(url)
    literal = _literal_address(host)
    if literal is not None:
        return (str(literal),)
    infos = list(resolver(host, port or _DEFAULT_PORTS[scheme]))
    if not infos:
        raise ValueError(f"Refusing {url!r}: {host} resolves to no address")
    addresses: list[str] = []
    for info in infos:
        raw = str(info[4][0])
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            raise ValueError(f"Refusing {url!r}: {host} resolves to {raw!r}") from None
        _check_address(address, allow_private=allow_private, url=url, via=host)
        if raw not in addresses:
            addresses.append(raw)
    return tuple(addresses)


@dataclass(frozen=True)
class OutboundGuard:
    """A ``UrlGuard`` for providers: ``resolve_and_check`` with the deployment's policy."""

    allow_private: bool = False
    resolver: Resolver = socket.getaddrinfo

    def __call__(self, url: str) -> None:
        resolve_and_check(url, allow_private=self.allow_private, resolver=self.resolver)


def _split(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"Refusing {url!r}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"Refusing {url!r}: only http and https URLs are allowed")
    # A trailing dot names the same host ("metadata.google.internal.") and must not slip by.
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValueError(f"Refusing {url!r}: the URL has no host")
    return scheme, host, port


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SHORTHAND.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address tunnels or translates to: what actually gets reached.
    Every form that can carry one is read (mapped, compatible, translated, 6to4, Teredo,
    NAT64), so a blocked IPv4 address cannot be smuggled inside an IPv6 literal."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    value = int(address)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE and value > 1:  # "::" and "::1" are not IPv4 addresses
        found.append(low32)
    if address in _IPV4_TRANSLATED or address in _NAT64:
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client): the client is the host reached
    if address in _NAT64_LOCAL:
        found.extend(_rfc6052_candidates(value))
    return tuple(dict.fromkeys(found))


def _rfc6052_candidates(value: int) -> list[ipaddress.IPv4Address]:
    """The IPv4 address under each RFC 6052 layout a /48 local-use NAT64 prefix allows (/48,
    /56, /64, /96). Octet 8 (bits 64-71, the "u" octet) never carries address bits."""
    octets = value.to_bytes(16, "big")
    layouts = (
        octets[6:8] + octets[9:11],
        octets[7:8] + octets[9:12],
        octets[9:13],
        octets[12:16],
    )
    return [ipaddress.IPv4Address(raw) for raw in layouts]


def _check_address(address: IPAddress, *, allow_private: bool, url: str, via: str | None) -> None:
    where = f"{via} resolves to {address}" if via else str(address)
    candidates = (address, *_embedded_ipv4(address))
    # Every candidate is checked for the always-refused kinds before any private kind, so a
    # mapped metadata address is reported as what it reaches, not as "private".
    for candidate in candidates:
        if candidate in _METADATA_ADDRESSES:
            raise ValueError(f"Refusing {url!r}: {where}, the cloud metadata server")
        if candidate.is_link_local:
            raise ValueError(f"Refusing {url!r}: {where}, a link-local address")
        if candidate.is_multicast:
            raise ValueError(f"Refusing {url!r}: {where}, a multicast address")
    if allow_private:
        return
    for candidate in candidates:
        if candidate.is_loopback:
            raise ValueError(f"Refusing {url!r}: {where}, a loopback address{_PRIVATE_HINT}")
        if candidate.is_unspecified:
            raise ValueError(f"Refusing {url!r}: {where}, an unspecified address{_PRIVATE_HINT}")
    for candidate in candidates:
        if not candidate.is_global or candidate in _RESERVED_V6:
            # Private, unique-local, carrier-grade NAT, reserved: nothing a public API lives on.
            raise ValueError(f"Refusing {url!r}: {where}, a private address{_PRIVATE_HINT}")
