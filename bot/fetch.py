"""HTTP fetching of feeds: conditional GET, size and time caps, SSRF guard, politeness limits.

This module owns every network read of a feed document. It turns whatever can go wrong on the
wire into a one-line :class:`~bot.errors.FetchError` whose ``transient`` flag tells the scheduler
whether retrying later may help.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot import __version__
from bot.clock import Clock, SystemClock
from bot.errors import FetchError

__all__ = [
    "FetchLimits",
    "FetchResult",
    "Fetcher",
    "is_public_address",
    "parse_retry_after",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_MAX_URL_LENGTH: Final = 2048
_CHUNK: Final = 64 * 1024
_MAX_RETRY_AFTER: Final = 86400.0
# Not covered by the stdlib's is_private/is_reserved on every Python version we support.
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215 local-use NAT64: translates to IPv4 inside the operator's own network.
_NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")
# Every spelling inet_aton accepts (and so getaddrinfo and curl): 1 to 4 decimal, octal (leading
# 0) or hex (0x) parts. Only the canonical dotted quad is allowed; the rest is refused up front.
_NUMERIC_HOST: Final = re.compile(
    r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I
)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Caps and politeness settings for one :class:`Fetcher`."""

    max_bytes: int = 5 * 1024 * 1024  # cap on DECODED body bytes
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # between chunks
    total_timeout: float = 60.0  # whole request: a dripping server cannot defeat it
    max_concurrency: int = 16  # global
    per_host: int = 2
    max_redirects: int = 5
    user_agent: str = (
        f"Herald/{__version__} (+https://github.com/herald-news/herald; news alert bot)"
    )


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one successful fetch returned (a 304 counts as success)."""

    url: str  # final URL after redirects
    status: int
    body: bytes | None  # None when not modified (304)
    not_modified: bool
    etag: str | None
    last_modified: str | None
    content_type: str | None
    body_hash: str | None  # sha256 hex of body
    max_age: float | None  # from Cache-Control: max-age (seconds); None if absent/no-cache
    elapsed: float  # seconds, from the clock's monotonic


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address we may fetch from."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 host reach that host: judge the embedded one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.teredo is not None or ip.is_site_local or ip in _NAT64_LOCAL:
            return False
    elif ip in _CGNAT:
        return False
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return False
    return ip.is_global


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date).

    None when absent or unparsable; the result is clamped to 0..86400 so a hostile or broken
    server cannot park a feed forever.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isascii() and text.isdigit():
        # Long digit strings would trip int()'s size guard; they exceed the clamp anyway.
        seconds = _MAX_RETRY_AFTER if len(text) > 9 else float(int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT by definition
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _parse_max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    max_age: float | None = None
    for directive in cache_control.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age":
            try:
                max_age = max(0.0, float(int(arg.strip().strip('"'))))
            except ValueError:
                continue
    return max_age


class _RefusedAddressError(OSError):
    """Raised inside aiohttp's connect path; carries the message shown to the user."""

    def __init__(self, address: str) -> None:
        super().__init__(f"refusing to fetch from a private or local address ({address})")


def _refusal(address: str) -> FetchError:
    return FetchError(
        f"refusing to fetch from a private or local address ({address})", transient=False
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        # A trailing dot ("127.0.0.1.") still reaches the address; a zone id (%eth0) does too.
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0].removesuffix("."))
    except ValueError:
        return None


class _PublicOnlyResolver(AbstractResolver):
    """Drops non-public addresses from DNS answers, so rebinding and redirects are caught too."""

    def __init__(
        self, inner: AbstractResolver, allowed: Callable[[IPAddress], bool] = is_public_address
    ) -> None:
        self._inner = inner
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if _is_allowed_text(r["host"], self._allowed)]
        if not kept:
            raise _RefusedAddressError(results[0]["host"] if results else host)
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _is_allowed_text(address: str, allowed: Callable[[IPAddress], bool]) -> bool:
    ip = _literal_ip(address)
    return ip is not None and allowed(ip)


def _guarded_socket(
    addr_info: tuple[int, int, int, str, tuple[Any, ...]],
    allowed: Callable[[IPAddress], bool] = is_public_address,
) -> socket.socket:
    # Last line of defence at connect time, on the address actually connected to: aiohttp skips
    # the resolver for literal IP hosts.
    family, type_, proto, _, sockaddr = addr_info
    address = str(sockaddr[0])
    if not _is_allowed_text(address, allowed):
        raise _RefusedAddressError(address)
    return socket.socket(family=family, type=type_, proto=proto)


def _status_error(status: int, headers: Mapping[str, str], now: datetime) -> FetchError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "status"
    head = f"HTTP {status} {phrase}"
    if status == 410:
        return FetchError(f"{head}: the feed was removed", transient=False)
    if status == 404:
        return FetchError(f"{head}: there is no feed at this address", transient=False)
    if status in (401, 403):
        return FetchError(f"{head}: the server refuses to give us the feed", transient=False)
    if status in (429, 503):
        retry = parse_retry_after(headers.get("Retry-After"), now)
        hint = f", retry after {retry:.0f} s" if retry is not None else ""
        return FetchError(f"{head}: the server asks us to slow down{hint}", retry_after=retry)
    if status >= 500:
        return FetchError(f"{head}: the server failed", transient=True)
    if 300 <= status < 400:
        return FetchError(f"{head}: unexpected redirect", transient=False)
    return FetchError(f"{head}: the server rejected the request", transient=False)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


class _HostSlot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class Fetcher:
    """Fetches feeds politely and defensively; one instance per process is enough.

    The aiohttp session is created lazily inside the running loop, so a ``Fetcher`` can be built
    in synchronous setup code.
    """

    def __init__(
        self,
        limits: FetchLimits = FetchLimits(),
        *,
        allow_private_networks: bool = False,
        clock: Clock | None = None,
        address_allowed: Callable[[IPAddress], bool] = is_public_address,
    ) -> None:
        """``address_allowed`` decides which addresses may be connected to (every redirect hop,
        every resolved address) unless ``allow_private_networks`` lifts the guard entirely."""
        self._limits = limits
        self._allow_private = allow_private_networks
        self._address_allowed = address_allowed
        self._clock: Clock = clock or SystemClock()
        self._session: aiohttp.ClientSession | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, _HostSlot] = {}

    @property
    def limits(self) -> FetchLimits:
        return self._limits

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            limits = self._limits
            resolver: AbstractResolver = aiohttp.ThreadedResolver()
            socket_factory: Callable[..., socket.socket] | None = None
            if not self._allow_private:
                resolver = _PublicOnlyResolver(resolver, self._address_allowed)
                socket_factory = functools.partial(_guarded_socket, allowed=self._address_allowed)
            connector = aiohttp.TCPConnector(
                resolver=resolver,
                socket_factory=socket_factory,
                limit=limits.max_concurrency,
                limit_per_host=limits.per_host,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                # Proxies from the environment would bypass the address guard.
                trust_env=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=limits.connect_timeout,
                    sock_read=limits.read_timeout,
                ),
                headers={
                    "User-Agent": limits.user_agent,
                    "Accept": _ACCEPT,
                    "Accept-Encoding": "gzip, deflate",
                },
            )
        return self._session

    def _check_url(self, url: str | URL, *, redirect: bool = False) -> URL:
        """Validate one URL (the feed's or a redirect target) before any connection is made."""
        text = str(url)
        if len(text) > _MAX_URL_LENGTH:
            raise FetchError(
                f"the {'redirect' if redirect else 'URL'} is longer than {_MAX_URL_LENGTH} "
                "characters",
                transient=False,
            )
        try:
            parsed = url if isinstance(url, URL) else URL(url)
            host = parsed.host
        except (ValueError, TypeError):
            raise FetchError("the URL is not valid", transient=False) from None
        if parsed.scheme not in ("http", "https"):
            if redirect:
                raise FetchError("the server redirected to a non-http(s) address", transient=False)
            got = f"not {parsed.scheme}" if parsed.scheme else "and the URL has no scheme"
            raise FetchError(f"only http and https feeds can be fetched, {got}", transient=False)
        if not host:
            raise FetchError("the URL has no host", transient=False)
        ip = _literal_ip(host)
        if ip is None and _NUMERIC_HOST.fullmatch(host):
            # 127.1, 2130706433, 0x7f.1, 0177.0.0.1: resolvers accept them, people never use
            # them, and they exist to slip past address filters.
            raise FetchError(
                f"refusing a host written as a number in a legacy form ({host}); "
                "use the usual dotted form",
                transient=False,
            )
        if not self._allow_private and ip is not None and not self._address_allowed(ip):
            raise _refusal(host)
        return parsed

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url`` (conditionally when validators are given); raise ``FetchError``."""
        parsed = self._check_url(url)
        host = (parsed.host or "").lower()
        if self._global is None:
            self._global = asyncio.Semaphore(self._limits.max_concurrency)
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _HostSlot(self._limits.per_host)
        slot.users += 1
        try:
            # Host slot first: a task queued behind a busy host must not hold a global slot.
            async with slot.semaphore, self._global:
                return await self._fetch_with_deadline(parsed, etag, last_modified)
        finally:
            slot.users -= 1
            if slot.users == 0 and self._hosts.get(host) is slot:
                del self._hosts[host]

    async def _fetch_with_deadline(
        self, url: URL, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        total = self._limits.total_timeout
        try:
            async with asyncio.timeout(total):
                return await self._fetch_once(url, etag, last_modified)
        except aiohttp.ClientError as exc:
            # Before TimeoutError: aiohttp's own socket timeouts subclass it.
            raise self._client_error(url, exc) from None
        except TimeoutError:
            raise FetchError(f"timed out after {total:g} s", transient=True) from None

    def _client_error(self, url: URL, exc: aiohttp.ClientError) -> FetchError:
        host = url.host or "?"
        if isinstance(exc, aiohttp.ClientConnectorError):
            os_error = exc.os_error
            if isinstance(os_error, _RefusedAddressError):
                return FetchError(str(os_error), transient=False)
            reason = os_error.strerror or str(os_error) or type(os_error).__name__
            reason = " ".join(reason.split())[:200]
            return FetchError(f"cannot connect to {host}: {reason}", transient=True)
        if isinstance(exc, aiohttp.TooManyRedirects):
            return FetchError(
                f"too many redirects (more than {self._limits.max_redirects})", transient=False
            )
        if isinstance(exc, aiohttp.NonHttpUrlRedirectClientError):
            return FetchError("the server redirected to a non-http(s) address", transient=False)
        if isinstance(exc, aiohttp.InvalidUrlRedirectClientError):
            return FetchError("the server redirected to an invalid address", transient=False)
        if isinstance(exc, aiohttp.InvalidURL):
            return FetchError("the URL is not valid", transient=False)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return FetchError(
                f"timed out connecting to {host} (after {self._limits.connect_timeout:g} s)",
                transient=True,
            )
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return FetchError(
                f"timed out waiting for {host} (no data for {self._limits.read_timeout:g} s)",
                transient=True,
            )
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return FetchError(f"{host} closed the connection early", transient=True)
        if isinstance(exc, aiohttp.ClientPayloadError):
            return FetchError(f"{host} sent a broken response body", transient=True)
        if isinstance(exc, aiohttp.ClientResponseError):
            detail = " ".join(str(exc.message).split())[:200]
            return FetchError(f"{host} sent an invalid response: {detail}", transient=True)
        return FetchError(f"fetching from {host} failed: {type(exc).__name__}", transient=True)

    async def _fetch_once(
        self, url: URL, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        limits = self._limits
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        started = self._clock.monotonic()
        session = self._get_session()
        # Redirects are followed here, not by aiohttp, so every hop gets the same up-front
        # checks as the feed's own URL (scheme, legacy numeric hosts, private literal addresses);
        # the resolver and the socket guard still check the address actually connected to.
        current = url
        for hop in range(limits.max_redirects + 1):
            async with session.get(current, headers=headers, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECTS and location is not None and limits.max_redirects:
                    if hop == limits.max_redirects:
                        break
                    current = self._redirect_target(current, location)
                    continue
                return await self._result(resp, started, etag, last_modified)
        raise FetchError(f"too many redirects (more than {limits.max_redirects})", transient=False)

    def _redirect_target(self, current: URL, location: str) -> URL:
        try:
            target = current.join(URL(location))
        except (ValueError, TypeError):
            raise FetchError(
                "the server redirected to an invalid address", transient=False
            ) from None
        # Like browsers: credentials stay with their own origin and go nowhere else.
        inherit = (current.user or current.password) and not (target.user or target.password)
        if inherit and target.origin() == current.origin():
            target = target.with_user(current.user).with_password(current.password)
        return self._check_url(target, redirect=True)

    async def _result(
        self,
        resp: aiohttp.ClientResponse,
        started: float,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        now = self._clock.now()
        # The final URL serves as the base of the feed's relative links: never with credentials.
        final_url = str(resp.url.with_user(None))
        if resp.status == 304:
            return FetchResult(
                url=final_url,
                status=304,
                body=None,
                not_modified=True,
                etag=resp.headers.get("ETag") or etag,
                last_modified=resp.headers.get("Last-Modified") or last_modified,
                content_type=resp.headers.get("Content-Type"),
                body_hash=None,
                max_age=_parse_max_age(resp.headers.get("Cache-Control")),
                elapsed=self._clock.monotonic() - started,
            )
        if resp.status >= 300:
            raise _status_error(resp.status, resp.headers, now)
        body = await self._read_body(resp)
        return FetchResult(
            url=final_url,
            status=resp.status,
            body=body,
            not_modified=False,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            content_type=resp.headers.get("Content-Type"),
            body_hash=hashlib.sha256(body).hexdigest(),
            max_age=_parse_max_age(resp.headers.get("Cache-Control")),
            elapsed=self._clock.monotonic() - started,
        )

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        cap = self._limits.max_bytes
        too_big = FetchError(f"feed is larger than {_mib(cap)}", transient=False)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity") and (resp.content_length or 0) > cap:
            raise too_big
        parts: list[bytes] = []
        size = 0
        # resp.content yields DECODED bytes in bounded pieces, so a compression bomb is
        # stopped at the cap without ever being inflated in full.
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                resp.close()  # drop the connection rather than drain a hostile stream
                raise too_big
            parts.append(chunk)
        return b"".join(parts)
