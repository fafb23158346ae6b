"""Which outbound requests a workflow may make: the rules for end-of-call webhooks and in-call actions.

A workflow names URLs the business controls; the function runs inside the business's AWS account, next
to the instance metadata service and whatever the VPC reaches. So a URL is refused unless:
- it is https (plain http only to loopback, and loopback only in local mode);
- it carries no user name or password (credentials belong in the secret store, never in the workflow);
- every address its host resolves to is public: not private, loopback, link-local (169.254.169.254, the
  metadata services), shared (100.64/10), reserved, multicast or unspecified, including IPv4 addresses
  wrapped in IPv6 (mapped, NAT64, 6to4).

The address check runs on the resolved addresses and the request then goes to the address that was
checked, never to a fresh lookup of the name (a rebinding DNS server cannot swap it in between). This
module is the pure part: parsing and judging. `adapters/outbound_http.py` resolves and connects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_HTTP_RULE = "must be https (plain http is allowed only to loopback in local mode)"


class OutboundRefused(ValueError):
    """A URL or an address the policy does not allow; the message says which rule, never a secret."""


@dataclass(frozen=True)
class OutboundPolicy:
    """`allow_loopback` is for the local stack only: its example APIs and receivers listen on 127.0.0.1."""

    allow_loopback: bool = False


@dataclass(frozen=True)
class Target:
    """A URL that passed the static rules: what to resolve and what to send."""

    scheme: str
    host: str  # lower case, without brackets for IPv6
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def origin(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown}:{self.port}"


def parse_target(url: object, policy: OutboundPolicy) -> Target:
    """The static rules: scheme, credentials, host, port; and a literal address judged at once."""
    target = _split(url)
    literal = literal_address(target.host)
    loopback = target.host in _LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
    if target.scheme == "http" and not (policy.allow_loopback and (loopback or literal is None)):
        raise OutboundRefused(_HTTP_RULE)  # a name may still resolve to loopback: judged once resolved
    if loopback and not policy.allow_loopback:
        raise OutboundRefused("points at this machine (loopback), which is allowed only in local mode")
    if literal is not None:
        check_target_addresses(target, [literal], policy)
    return target


def _split(url: object) -> Target:
    if not isinstance(url, str) or not url.strip():
        raise OutboundRefused("expected an absolute https URL")
    if len(url) > MAX_URL_CHARS:
        raise OutboundRefused(f"is {len(url)} characters long; the limit is {MAX_URL_CHARS}")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise OutboundRefused("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"is not a valid URL ({error})") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http"):
        raise OutboundRefused(f"must be an https URL, not {scheme or 'a relative one'}")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("must not carry a user name or password: keep credentials in the secret store")
    if not host:
        raise OutboundRefused("has no host")
    if port == 0:
        raise OutboundRefused("has port 0, which no server listens on")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def check_target_addresses(
    target: Target, addresses: Iterable[IPAddress], policy: OutboundPolicy
) -> IPAddress:
    """The address to connect to, once every resolved address passed; plain http only to loopback."""
    checked = check_addresses(target.host, addresses, policy)
    if target.scheme == "http" and not all(address.is_loopback for address in checked):
        raise OutboundRefused(_HTTP_RULE)
    return checked[0]


def check_addresses(host: str, addresses: Iterable[IPAddress], policy: OutboundPolicy) -> list[IPAddress]:
    """All of them must be allowed: a name that resolves to one public and one private address is refused
    (a client may pick either). Returns them, in order, for the connection to use."""
    checked = list(addresses)
    if not checked:
        raise OutboundRefused(f"{host} resolves to no address")
    for address in checked:
        reason = refusal(address, policy)
        if reason:
            raise OutboundRefused(f"{host} resolves to {address}, {reason}")
    return checked


def refusal(address: IPAddress, policy: OutboundPolicy) -> str | None:
    """Why this address may not be reached, or None."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return refusal(inner, policy)
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address (allowed only in local mode)"
    if address.is_link_local:
        return "a link-local address (where the instance metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        return "a private or reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id never makes it public
    except ValueError:
        return None
