"""The SSRF guard: an endpoint URL is sent to only at a public address, resolved once and pinned.

``resolve_endpoint(url)`` resolves the host once (``WEBHOOKS_OUT_HOSTS`` first, like a hosts file,
for tests and the benchmark; then DNS) and refuses the URL when *any* answer is loopback,
private (RFC 1918), link-local, CGNAT (100.64.0.0/10), unique-local (fc00::/7), unspecified,
multicast, reserved, a cloud metadata address (169.254.169.254, fd00:ec2::254), or one of those
written as IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6; only ``WEBHOOKS_OUT_ALLOWED_NETWORKS``
(empty in production) lets such an address through. ``pinned_session(target)`` then connects to
that very address: a name that resolves elsewhere a moment later (DNS rebinding) changes nothing.
The request keeps the host name in ``Host``, in TLS SNI and in certificate checks (only the
socket is made to the pinned address). Redirects are never followed (the caller passes
``allow_redirects=False``) and proxies from the environment are ignored.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from integrations.exceptions import SwitchboardError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, includes the metadata address 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, includes the metadata address fd00:ec2::254
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "100::/64",  # discard-only
        "2001:db8::/32",
    )
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EndpointRefused(SwitchboardError):
    """The endpoint's URL may not be sent to: a scheme other than https (or http where allowed),
    a host that does not resolve, or an address inside the networks the SSRF guard refuses."""

    code = "webhook_endpoint_refused"
    http_status = 422
    title = "Webhook endpoint refused"


@dataclass(frozen=True)
class Target:
    """Where a message goes: the URL as written and the one address it is sent to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64 or 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def refusal(address: IPAddress) -> str:
    """Why the guard refuses ``address``; empty when it may be sent to."""
    embedded = embedded_ipv4(address)
    candidate: IPAddress = embedded if embedded is not None else address
    shown = f"{address} ({candidate})" if embedded is not None else str(address)
    if _allowed(candidate):
        return ""
    if candidate in METADATA_ADDRESSES:
        return f"{shown} is a cloud metadata address"
    for network in BLOCKED_NETWORKS:
        if candidate in network:
            return f"{shown} is in {network}, which is not public"
    if not candidate.is_global:
        return f"{shown} is not a public address"
    return ""


def _allowed(address: IPAddress) -> bool:
    return any(
        address in ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.WEBHOOKS_OUT_ALLOWED_NETWORKS
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to: ``WEBHOOKS_OUT_HOSTS`` first, then the system's
    resolver. Raises EndpointRefused when it resolves to nothing."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    pinned = settings.WEBHOOKS_OUT_HOSTS.get(host.lower().rstrip("."))
    if pinned:
        return [ipaddress.ip_address(a) for a in pinned]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointRefused(f"{host} does not resolve: {exc}") from None
    found: list[IPAddress] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise EndpointRefused(f"{host} does not resolve.")
    return found


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the guard may consider; raises EndpointRefused otherwise
    (no DNS is asked: the admin form uses it to refuse literal private addresses early)."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if settings.WEBHOOKS_OUT_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed:
        raise EndpointRefused(f"Only {' or '.join(sorted(allowed))} URLs are sent to.")
    if parts.username or parts.password:
        raise EndpointRefused("Credentials in the URL are not allowed.")
    host = parts.hostname or ""
    if not host:
        raise EndpointRefused("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("The URL's port is not a number from 1 to 65535.") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return parts.scheme, host, port
    why = refusal(literal)
    if why:
        raise EndpointRefused(f"Refused: {why}.")
    return parts.scheme, host, port


def resolve_endpoint(url: str) -> Target:
    """Resolve ``url``'s host once and pick the address to pin; raises EndpointRefused when the
    URL is not allowed or any of its addresses is refused."""
    scheme, host, port = check_url(url)
    addresses = resolve(host, port)
    for address in addresses:
        why = refusal(address)
        if why:
            raise EndpointRefused(f"Refused: {host} resolves to {why}.")
    return Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))


def _pinned_pool(
    pool: type[HTTPConnectionPool], connection: type[HTTPConnection], address: str
) -> type[HTTPConnectionPool]:
    class PinnedConnection(connection):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> Any:
            # urllib3 dials ``_dns_host`` (which ``host`` also reads): point it at the pinned
            # address only while the socket is made, so Host, SNI and the certificate check
            # keep the name.
            name: str = self._dns_host  # type: ignore[has-type]
            self._dns_host = address
            try:
                return super()._new_conn()
            finally:
                self._dns_host = name

    class PinnedPool(pool):  # type: ignore[valid-type,misc]
        ConnectionCls = PinnedConnection

    return PinnedPool


class PinnedAdapter(HTTPAdapter):
    """A transport adapter whose connections all go to one pinned address."""

    def __init__(self, address: str, *, pool_maxsize: int = 10) -> None:
        self.address = address
        super().__init__(max_retries=0, pool_maxsize=pool_maxsize)

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {
            "http": _pinned_pool(HTTPConnectionPool, HTTPConnection, self.address),
            "https": _pinned_pool(HTTPSConnectionPool, HTTPSConnection, self.address),
        }


def pinned_session(target: Target, *, pool_maxsize: int = 10) -> requests.Session:
    """A session that sends to ``target.address`` whatever the host name resolves to later,
    ignoring proxy and .netrc settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAdapter(target.address, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
