"""Tests for bot.fetch against a real local feed server."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from bot.clock import ManualClock
from bot.errors import FetchError
from bot.fetch import (
    Fetcher,
    FetchLimits,
    _guarded_socket,
    _PublicOnlyResolver,
    is_public_address,
    parse_retry_after,
)
from tests.fakes.feed_server import FeedServer, Response
from tests.fakes.feeds import Item, rss

FEED = rss([Item("Hello <world> & co", link="https://example.org/a", guid="a")])
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fetcher(**limits: object) -> Fetcher:
    return Fetcher(FetchLimits(**limits), allow_private_networks=True)  # type: ignore[arg-type]


async def fetch_error(f: Fetcher, url: str, **kwargs: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await f.fetch(url, **kwargs)
    return info.value


# -- success paths ---------------------------------------------------------------------------


async def test_200_returns_body_hash_and_validators(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED, headers={"Cache-Control": "public, max-age=300"})
    async with fetcher() as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.status == 200
    assert result.body == FEED
    assert result.body_hash == hashlib.sha256(FEED).hexdigest()
    assert not result.not_modified
    assert result.etag is not None and result.etag.startswith('"')
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.url == feed_server.url("/feed")
    assert result.max_age == 300.0


async def test_sends_honest_user_agent_and_accept(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED)
    async with fetcher() as f:
        await f.fetch(feed_server.url("/feed"))
    (req,) = feed_server.requests("/feed")
    assert req.headers["User-Agent"].startswith("Herald/0.1.0 (+https://")
    assert "application/rss+xml" in req.headers["Accept"]
    assert req.headers["Accept-Encoding"] == "gzip, deflate"
    assert "If-None-Match" not in req.headers


async def test_conditional_get_with_etag_gives_304(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED, last_modified="Sun, 01 Mar 2026 10:00:00 GMT")
    async with fetcher() as f:
        first = await f.fetch(feed_server.url("/feed"))
        second = await f.fetch(
            feed_server.url("/feed"), etag=first.etag, last_modified=first.last_modified
        )
    assert second.not_modified and second.status == 304
    assert second.body is None and second.body_hash is None
    assert second.etag == first.etag
    assert second.last_modified == "Sun, 01 Mar 2026 10:00:00 GMT"
    sent = feed_server.requests("/feed")[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["If-Modified-Since"] == "Sun, 01 Mar 2026 10:00:00 GMT"


async def test_changed_body_is_served_again_despite_old_etag(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED)
    async with fetcher() as f:
        first = await f.fetch(feed_server.url("/feed"))
        feed_server.set("/feed", FEED + b"\n")
        second = await f.fetch(feed_server.url("/feed"), etag=first.etag)
    assert not second.not_modified
    assert second.body == FEED + b"\n"
    assert second.etag != first.etag


async def test_if_modified_since_alone_gives_304(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED, etag=False, last_modified="Sun, 01 Mar 2026 10:00:00 GMT")
    async with fetcher() as f:
        result = await f.fetch(
            feed_server.url("/feed"), last_modified="Sun, 01 Mar 2026 10:00:00 GMT"
        )
    assert result.not_modified
    assert result.etag is None


async def test_304_without_validators_keeps_the_given_ones(feed_server: FeedServer) -> None:
    feed_server.script("/feed", [Response(status=304, etag=False, content_type=None)])
    async with fetcher() as f:
        result = await f.fetch(feed_server.url("/feed"), etag='"v1"', last_modified="yesterday")
    assert result.not_modified
    assert (result.etag, result.last_modified) == ('"v1"', "yesterday")


async def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    big = rss([Item(f"story {i}", link=f"https://example.org/{i}") for i in range(200)])
    feed_server.script("/feed", [Response(body=big, gzip=True)])
    async with fetcher() as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.body == big
    assert result.body_hash == hashlib.sha256(big).hexdigest()
    assert feed_server.bytes_sent["/feed"] < len(big) // 4  # it really went compressed


async def test_wrong_charset_bytes_are_returned_untouched(feed_server: FeedServer) -> None:
    latin1 = '<?xml version="1.0"?><rss version="2.0"><channel><title>Café</title>'
    raw = (latin1 + "</channel></rss>").encode("latin-1")
    feed_server.set("/feed", raw, content_type="text/xml; charset=utf-8")
    async with fetcher() as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.body == raw  # decoding is the parser's job
    assert result.content_type == "text/xml; charset=utf-8"


async def test_elapsed_comes_from_the_injected_clock(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED)
    async with Fetcher(allow_private_networks=True, clock=ManualClock()) as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.elapsed == 0.0  # the manual clock never moved


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("public, max-age=300", 300.0),
        ('max-age="60"', 60.0),
        ("no-cache, max-age=60", None),
        ("no-store", None),
        ("max-age=soon", None),
        (None, None),
    ],
)
async def test_cache_control_max_age(
    feed_server: FeedServer, cache_control: str | None, expected: float | None
) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    feed_server.set("/feed", FEED, headers=headers)
    async with fetcher() as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.max_age == expected


# -- size and time caps ----------------------------------------------------------------------


async def test_gzip_bomb_stops_at_cap_quickly_with_flat_memory(feed_server: FeedServer) -> None:
    feed_server.gzip_bomb("/bomb", 1024**3)  # ~1 MiB on the wire, 1 GiB inflated
    async with fetcher(max_bytes=64 * 1024) as f:
        tracemalloc.start()
        started = time.monotonic()
        try:
            err = await fetch_error(f, feed_server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        took = time.monotonic() - started
    assert str(err) == "feed is larger than 0.1 MiB"
    assert not err.transient
    assert took < 1.0
    assert peak < 16 * 1024 * 1024
    assert feed_server.bytes_sent["/bomb"] < 512 * 1024  # we hung up long before the end


async def test_bomb_stops_at_default_cap(feed_server: FeedServer) -> None:
    feed_server.gzip_bomb("/bomb", 1024**3)
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/bomb"))
    assert str(err) == "feed is larger than 5.0 MiB"


async def test_plain_body_over_cap_is_refused(feed_server: FeedServer) -> None:
    feed_server.set("/big", b"x" * (200 * 1024))
    async with fetcher(max_bytes=100 * 1024) as f:
        err = await fetch_error(f, feed_server.url("/big"))
    assert str(err) == "feed is larger than 0.1 MiB"
    assert not err.transient


async def test_body_exactly_at_cap_is_accepted(feed_server: FeedServer) -> None:
    feed_server.script("/feed", [Response(body=b"y" * 4096, gzip=True)])
    async with fetcher(max_bytes=4096) as f:
        result = await f.fetch(feed_server.url("/feed"))
    assert result.body == b"y" * 4096


async def test_default_cap_message() -> None:
    assert FetchLimits().max_bytes == 5 * 1024 * 1024
    # A body over the default cap is rejected from Content-Length before any byte is read.
    async with FeedServer() as server:
        server.set("/huge", b"z" * (5 * 1024 * 1024 + 1))
        async with fetcher() as f:
            err = await fetch_error(f, server.url("/huge"))
    assert str(err) == "feed is larger than 5.0 MiB"


async def test_dripping_server_cannot_defeat_total_timeout(feed_server: FeedServer) -> None:
    feed_server.drip("/drip", FEED, interval=0.05)
    async with fetcher(total_timeout=0.5, read_timeout=5.0) as f:
        started = time.monotonic()
        err = await fetch_error(f, feed_server.url("/drip"))
        took = time.monotonic() - started
    assert str(err) == "timed out after 0.5 s"
    assert err.transient
    assert 0.4 < took < 1.5
    assert 0 < feed_server.bytes_sent["/drip"] < len(FEED)  # it was really dripping


async def test_server_hanging_before_headers_hits_read_timeout(feed_server: FeedServer) -> None:
    feed_server.hang("/hang")
    async with fetcher(read_timeout=0.3, total_timeout=10.0) as f:
        started = time.monotonic()
        err = await fetch_error(f, feed_server.url("/hang"))
        took = time.monotonic() - started
    assert err.transient
    assert "timed out waiting for 127.0.0.1" in str(err)
    assert took < 2.0


# -- status mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "transient"),
    [
        (404, "HTTP 404 Not Found: there is no feed at this address", False),
        (410, "HTTP 410 Gone: the feed was removed", False),
        (401, "HTTP 401 Unauthorized: the server refuses to give us the feed", False),
        (403, "HTTP 403 Forbidden: the server refuses to give us the feed", False),
        (418, "HTTP 418 I'm a Teapot: the server rejected the request", False),
        (500, "HTTP 500 Internal Server Error: the server failed", True),
        (502, "HTTP 502 Bad Gateway: the server failed", True),
        (503, "HTTP 503 Service Unavailable: the server asks us to slow down", True),
    ],
)
async def test_status_mapping(
    feed_server: FeedServer, status: int, message: str, transient: bool
) -> None:
    feed_server.status("/feed", status)
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed?token=SECRET"))
    assert str(err) == message
    assert err.transient is transient
    assert err.retry_after is None


async def test_429_carries_retry_after_seconds(feed_server: FeedServer) -> None:
    feed_server.status("/feed", 429, headers={"Retry-After": "120"})
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert err.transient
    assert err.retry_after == 120.0
    assert (
        str(err) == "HTTP 429 Too Many Requests: the server asks us to slow down, retry after 120 s"
    )


async def test_503_carries_retry_after_http_date(feed_server: FeedServer) -> None:
    clock = ManualClock(NOW)
    when = format_datetime(NOW + timedelta(minutes=10), usegmt=True)
    feed_server.status("/feed", 503, headers={"Retry-After": when})
    async with Fetcher(allow_private_networks=True, clock=clock) as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert err.transient
    assert err.retry_after == 600.0


async def test_scripted_recovery_after_503(feed_server: FeedServer) -> None:
    feed_server.script("/feed", [Response(status=503, etag=False), Response(body=FEED)])
    async with fetcher() as f:
        with pytest.raises(FetchError):
            await f.fetch(feed_server.url("/feed"))
        assert (await f.fetch(feed_server.url("/feed"))).body == FEED
        assert (await f.fetch(feed_server.url("/feed"))).body == FEED  # last one repeats


async def test_connection_refused_is_transient_and_hides_query() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with fetcher(connect_timeout=2.0) as f:
        err = await fetch_error(f, f"http://127.0.0.1:{port}/feed?token=SECRET")
    assert err.transient
    assert str(err).startswith("cannot connect to 127.0.0.1: ")
    assert "SECRET" not in str(err)


# -- URLs, redirects, SSRF -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)", "example.org/feed"],
)
async def test_non_http_schemes_are_rejected(url: str) -> None:
    async with Fetcher() as f:
        err = await fetch_error(f, url)
    assert not err.transient
    assert str(err).startswith("only http and https feeds can be fetched")


async def test_overlong_url_is_rejected() -> None:
    async with Fetcher() as f:
        err = await fetch_error(f, "https://example.org/" + "a" * 2048)
    assert str(err) == "the URL is longer than 2048 characters"
    assert not err.transient


async def test_literal_loopback_refused_before_connecting(feed_server: FeedServer) -> None:
    feed_server.set("/feed", FEED)
    async with Fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert str(err) == "refusing to fetch from a private or local address (127.0.0.1)"
    assert not err.transient
    assert feed_server.requests("/feed") == []


async def test_hostname_resolving_to_loopback_refused_by_resolver(
    feed_server: FeedServer,
) -> None:
    feed_server.set("/feed", FEED)
    port = feed_server.base_url.rsplit(":", 1)[1]
    async with Fetcher() as f:
        err = await fetch_error(f, f"http://localhost:{port}/feed")
    assert str(err) in {
        "refusing to fetch from a private or local address (127.0.0.1)",
        "refusing to fetch from a private or local address (::1)",
    }
    assert not err.transient
    assert feed_server.requests("/feed") == []


async def test_redirect_chain_to_loopback_refused_when_not_allowed(
    feed_server: FeedServer,
) -> None:
    feed_server.redirect("/start", feed_server.url("/feed"))
    feed_server.set("/feed", FEED)
    async with Fetcher() as f:
        err = await fetch_error(f, feed_server.url("/start"))
    assert "private or local address" in str(err)
    assert feed_server.requests("/feed") == []


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),  # yarl normalizes the spelling
        ("0.0.0.0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1."),  # a trailing dot reaches the same address
    ],
)
async def test_other_local_spellings_are_refused(
    feed_server: FeedServer, host: str, shown: str
) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    async with Fetcher() as f:
        err = await fetch_error(f, f"http://{host}:{port}/feed")
    assert str(err) == f"refusing to fetch from a private or local address ({shown})"
    assert not err.transient


async def test_unresolvable_host_is_transient() -> None:
    async with Fetcher(FetchLimits(total_timeout=5.0)) as f:
        err = await fetch_error(f, "http://nonexistent.invalid/feed?token=SECRET")
    assert err.transient
    assert str(err).startswith("cannot connect to nonexistent.invalid: ")
    assert "SECRET" not in str(err)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),
        ("8.8.8.8", True),
        ("::ffff:8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1"])
async def test_resolver_filters_private_answers(address: str) -> None:
    resolver = _PublicOnlyResolver(aiohttp.ThreadedResolver())
    with pytest.raises(OSError, match=rf"private or local address \({address}\)"):
        await resolver.resolve(address, 80, socket.AF_INET)


async def test_resolver_keeps_public_answers() -> None:
    resolver = _PublicOnlyResolver(aiohttp.ThreadedResolver())
    (result,) = await resolver.resolve("8.8.8.8", 80, socket.AF_INET)
    assert result["host"] == "8.8.8.8"


@pytest.mark.parametrize(
    ("family", "sockaddr"),
    [
        (socket.AF_INET, ("127.0.0.1", 80)),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0)),
        (socket.AF_INET, ("169.254.169.254", 80)),
    ],
)
def test_connect_time_guard_refuses_private_sockaddr(
    family: socket.AddressFamily, sockaddr: tuple[object, ...]
) -> None:
    # aiohttp bypasses the resolver for literal IPs (e.g. from a redirect); this catches them.
    with pytest.raises(OSError, match="private or local address"):
        _guarded_socket((family, socket.SOCK_STREAM, 6, "", sockaddr))


def test_connect_time_guard_allows_public_sockaddr() -> None:
    with _guarded_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80))) as sock:
        assert sock.family == socket.AF_INET


async def test_redirects_followed_up_to_the_limit(feed_server: FeedServer) -> None:
    for hop in range(5):
        feed_server.redirect(f"/r{hop}", feed_server.url(f"/r{hop + 1}"), status=301)
    feed_server.redirect("/r5", feed_server.url("/feed"), status=307)
    feed_server.set("/feed", FEED)
    async with fetcher() as f:
        ok = await f.fetch(feed_server.url("/r1"))  # five hops
        err = await fetch_error(f, feed_server.url("/r0"))  # six hops
    assert ok.url == feed_server.url("/feed") and ok.body == FEED
    assert str(err) == "too many redirects (more than 5)"
    assert not err.transient


async def test_redirect_to_non_http_scheme_fails(feed_server: FeedServer) -> None:
    feed_server.redirect("/feed", "file:///etc/passwd")
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert str(err) == "the server redirected to a non-http(s) address"
    assert not err.transient


async def test_redirect_without_location_is_an_error(feed_server: FeedServer) -> None:
    feed_server.status("/feed", 302)
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert str(err) == "HTTP 302 Found: unexpected redirect"


async def test_corrupt_gzip_is_a_transient_error(feed_server: FeedServer) -> None:
    feed_server.script(
        "/feed", [Response(body=b"not gzip" * 20, headers={"Content-Encoding": "gzip"})]
    )
    async with fetcher() as f:
        err = await fetch_error(f, feed_server.url("/feed"))
    assert str(err) == "127.0.0.1 sent a broken response body"
    assert err.transient


# -- concurrency -----------------------------------------------------------------------------


async def test_per_host_limit_is_respected(feed_server: FeedServer) -> None:
    feed_server.script("/slow", [Response(body=FEED, delay=0.1)])
    async with fetcher(per_host=2) as f:
        results = await asyncio.gather(*(f.fetch(feed_server.url("/slow")) for _ in range(6)))
        assert f._hosts == {}  # idle host slots are dropped
    assert all(r.body == FEED for r in results)
    assert len(feed_server.requests("/slow")) == 6
    assert feed_server.max_concurrent("/slow") == 2


async def test_global_limit_is_respected(feed_server: FeedServer) -> None:
    feed_server.script("/slow", [Response(body=FEED, delay=0.1)])
    async with fetcher(per_host=10, max_concurrency=3) as f:
        await asyncio.gather(*(f.fetch(feed_server.url("/slow")) for _ in range(7)))
    assert feed_server.max_concurrent() == 3


def test_fetcher_can_be_built_outside_a_loop() -> None:
    f = Fetcher()
    assert f.limits.user_agent.startswith("Herald/0.1.0 ")


# -- Retry-After parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", None),
        ("1e3", None),
        ("inf", None),
        ("9999999", 86400.0),
        ("9" * 5000, 86400.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),
        ("Sunday, 01-Mar-26 12:02:00 GMT", 120.0),
        ("Sun Mar  1 12:02:00 2026", 120.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        (format_datetime(NOW + timedelta(days=30), usegmt=True), 86400.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected
