"""Outbound HTTP to the business's own systems, behind the rules of `kimiyi.outbound`.

Each request: parse and judge the URL, resolve its host once, judge every address, then connect to the
first checked address with the URL's host name for TLS (SNI and certificate check) and the Host header.
A refused URL or address raises OutboundRefused before any connection is attempted. Redirects are
never followed (a 3xx is a failure that names where it pointed); the body is read up to `max_bytes`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import urllib3

from ..llm.http_stream import tls_context
from ..outbound import (
    IPAddress,
    OutboundPolicy,
    OutboundRefused,
    Target,
    check_target_addresses,
    literal_address,
    parse_target,
)

DEFAULT_MAX_BYTES = 256 * 1024
_CHUNK = 16 * 1024

Resolver = Callable[[str, int], list[IPAddress]]


class OutboundFailed(RuntimeError):
    """The request was allowed but did not give an answer to use. `kind`: timeout, error, redirect,
    too-large. The message names the origin and the kind, never headers or the body sent."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundFailed("error", f"{host} could not be resolved ({error})") from None
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)


def open_pool(target: Target, address: IPAddress, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address, speaking to it as `target.host`."""
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            str(address),
            target.port,
            timeout=timeout,
            maxsize=1,
            retries=False,
            ssl_context=tls_context(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(str(address), target.port, timeout=timeout, maxsize=1, retries=False)


PoolOpener = Callable[[Target, IPAddress, urllib3.Timeout], urllib3.HTTPConnectionPool]


class GuardedHttp:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        resolver: Resolver = resolve,
        pool_opener: PoolOpener = open_pool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._resolve = resolver
        self._open_pool = pool_opener
        self._clock = clock

    def check(self, url: str) -> tuple[Target, IPAddress]:
        """The URL judged and resolved: where a request to it would go. Raises OutboundRefused."""
        target = parse_target(url, self.policy)
        literal = literal_address(target.host)
        found = [literal] if literal is not None else self._resolve(target.host, target.port)
        return target, check_target_addresses(target, found, self.policy)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_s: float = 2.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> OutboundResponse:
        started = self._clock()
        target, address = self.check(url)
        remaining = timeout_s - (self._clock() - started)
        if remaining <= 0:
            raise OutboundFailed("timeout", f"{target.origin}: no time left after resolving the host")
        timeout = urllib3.Timeout(connect=remaining, read=remaining)
        sent = {"Host": _host_header(target), "User-Agent": "kimiyi-voice", **(headers or {})}
        pool = self._open_pool(target, address, timeout)
        try:
            response = pool.urlopen(
                method, target.path, body=body, headers=sent, redirect=False, preload_content=False
            )
            try:
                payload = self._read(response, target, max_bytes, started + timeout_s)
            finally:
                response.release_conn()
        except urllib3.exceptions.NewConnectionError:  # a subclass of the timeout in urllib3 2
            raise OutboundFailed("error", f"{target.origin}: the connection was refused") from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise OutboundFailed("timeout", f"{target.origin}: no answer within {timeout_s:g} s") from None
        except urllib3.exceptions.HTTPError as error:
            raise OutboundFailed("error", f"{target.origin}: {type(error).__name__}") from None
        finally:
            pool.close()
        if 300 <= response.status < 400:
            where = response.headers.get("Location", "")
            raise OutboundFailed(
                "redirect", f"{target.origin}: answered {response.status} to {where!r}, not followed"
            )
        return OutboundResponse(
            response.status, dict(response.headers), payload, (self._clock() - started) * 1000
        )

    def _read(
        self, response: urllib3.BaseHTTPResponse, target: Target, max_bytes: int, deadline: float
    ) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise OutboundFailed(
                "too-large", f"{target.origin}: the answer is {declared} bytes; the cap is {max_bytes}"
            )
        parts: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise OutboundFailed(
                    "too-large", f"{target.origin}: the answer is over the {max_bytes}-byte cap"
                )
            if self._clock() > deadline:
                raise TimeoutError
            parts.append(chunk)
        return b"".join(parts)


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


__all__ = ["GuardedHttp", "OutboundFailed", "OutboundRefused", "OutboundResponse", "resolve"]
