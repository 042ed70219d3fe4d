"""SSRF: feed URLs are user input, so the fetcher must never reach an internal address.

Every refusal is asserted to be non-transient and, where a real server could have been reached,
to leave that server's request log empty: the connection was never opened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.errors import FetchError
from bot.fetch import Fetcher, FetchLimits, IPAddress, is_public_address
from tests.fakes.feed_server import FeedServer, start_feed_server
from tests.fakes.feeds import Item, rss

FEED = rss([Item("internal secret", link="https://example.org/a", guid="a")])
PUBLIC = ipaddress.ip_address("127.0.0.2")  # plays the Internet: the only address allowed


def public_or_playground(ip: IPAddress) -> bool:
    return ip == PUBLIC or is_public_address(ip)


@pytest_asyncio.fixture
async def outside() -> AsyncIterator[FeedServer]:
    """A server on 127.0.0.2, which the tests' policy treats as a public host."""
    async with start_feed_server("127.0.0.2") as server:
        yield server


def guarded() -> Fetcher:
    return Fetcher(FetchLimits(total_timeout=5.0), address_allowed=public_or_playground)


async def refusal(f: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await f.fetch(url)
    assert not info.value.transient
    return info.value


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped: the stdlib says "not loopback"
        "::ffff:169.254.169.254",
        "169.254.169.254",  # cloud metadata
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254: the stdlib says "global"
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 (RFC 8215)
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::7f00:1",  # IPv4-compatible (deprecated)
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "fc00::1",  # unique-local
        "fd12:3456::1",
        "fe80::1",  # link-local
        "fec0::1",  # site-local (deprecated)
        "224.0.0.1",  # multicast
        "ff02::1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:a9fe:a9fe::1]",
        "[fe80::1%25eth0]",
        "10.0.0.1",
        "127.0.0.1.",
    ],
)
async def test_literal_internal_hosts_refused_before_connecting(
    feed_server: FeedServer, host: str
) -> None:
    feed_server.set("/feed", FEED)
    port = feed_server.base_url.rsplit(":", 1)[1]
    async with Fetcher() as f:
        err = await refusal(f, f"http://{host}:{port}/feed")
    assert str(err).startswith("refusing to fetch from a private or local address (")
    assert feed_server.requests("/feed") == []


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001", "017700000001", "127.0.1"]
)
async def test_legacy_numeric_hosts_refused_up_front(feed_server: FeedServer, host: str) -> None:
    # Private networks allowed: the legacy-form check alone must stop these (getaddrinfo would
    # happily turn each into 127.0.0.1 and reach the server).
    feed_server.set("/feed", FEED)
    port = feed_server.base_url.rsplit(":", 1)[1]
    async with Fetcher(allow_private_networks=True) as f:
        err = await refusal(f, f"http://{host}:{port}/feed")
    assert str(err) == (
        f"refusing a host written as a number in a legacy form ({host}); use the usual dotted form"
    )
    assert feed_server.requests("/feed") == []


async def test_hostname_resolving_to_an_internal_address_is_refused_at_connect_time(
    feed_server: FeedServer,
) -> None:
    feed_server.set("/feed", FEED)
    port = feed_server.base_url.rsplit(":", 1)[1]
    async with guarded() as f:
        err = await refusal(f, f"http://localhost:{port}/feed")
    assert str(err) == "refusing to fetch from a private or local address (127.0.0.1)"
    assert feed_server.requests("/feed") == []


# -- redirects: every hop is checked ----------------------------------------------------------


async def test_policy_allows_the_playground_server(outside: FeedServer) -> None:
    outside.set("/feed", FEED)
    async with guarded() as f:
        result = await f.fetch(outside.url("/feed"))
    assert result.body == FEED


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://127.0.0.1:{port}/feed", "refusing to fetch from a private or local address"),
        ("http://[::ffff:127.0.0.1]:{port}/feed", "refusing to fetch from a private or local"),
        ("http://0x7f.1:{port}/feed", "refusing a host written as a number in a legacy form"),
        ("http://2130706433:{port}/feed", "refusing a host written as a number in a legacy form"),
        ("http://localhost:{port}/feed", "refusing to fetch from a private or local address"),
        ("file:///etc/passwd", "the server redirected to a non-http(s) address"),
        ("gopher://127.0.0.1:{port}/", "the server redirected to a non-http(s) address"),
    ],
)
async def test_redirect_to_an_internal_address_is_refused(
    outside: FeedServer, feed_server: FeedServer, target: str, message: str
) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.set("/feed", FEED)
    outside.redirect("/start", target.format(port=port))
    async with guarded() as f:
        err = await refusal(f, outside.url("/start"))
    assert str(err).startswith(message)
    assert len(outside.requests("/start")) == 1
    assert feed_server.requests("/feed") == []


async def test_second_hop_is_checked_too(outside: FeedServer, feed_server: FeedServer) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.set("/feed", FEED)
    outside.redirect("/a", outside.url("/b"), status=301)
    outside.redirect("/b", f"http://127.0.0.1:{port}/feed", status=307)
    async with guarded() as f:
        err = await refusal(f, outside.url("/a"))
    assert "private or local address (127.0.0.1)" in str(err)
    assert [len(outside.requests(p)) for p in ("/a", "/b")] == [1, 1]
    assert feed_server.requests("/feed") == []


async def test_relative_redirect_on_an_allowed_host_is_followed(outside: FeedServer) -> None:
    outside.redirect("/old", "/new")
    outside.set("/new", FEED)
    async with guarded() as f:
        result = await f.fetch(outside.url("/old"))
    assert result.body == FEED and result.url == outside.url("/new")


# -- credentials never leak -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path_and_setup",
    ["refused", "legacy", "404", "redirect-out", "closed-port", "bad-scheme-redirect"],
)
async def test_credentials_never_appear_in_errors(
    outside: FeedServer, feed_server: FeedServer, path_and_setup: str
) -> None:
    secret = "hunter2"
    port = feed_server.base_url.rsplit(":", 1)[1]
    outside.status("/missing", 404)
    outside.redirect("/out", f"http://127.0.0.1:{port}/feed")
    outside.redirect("/scheme", "ftp://example.org/")
    o_port = outside.base_url.rsplit(":", 1)[1]
    url = {
        "refused": f"http://user:{secret}@127.0.0.1:{port}/feed",
        "legacy": f"http://user:{secret}@127.1:{port}/feed",
        "404": f"http://user:{secret}@127.0.0.2:{o_port}/missing",
        "redirect-out": f"http://user:{secret}@127.0.0.2:{o_port}/out",
        "closed-port": f"http://user:{secret}@127.0.0.2:1/feed",
        "bad-scheme-redirect": f"http://user:{secret}@127.0.0.2:{o_port}/scheme",
    }[path_and_setup]
    async with guarded() as f:
        with pytest.raises(FetchError) as info:
            await f.fetch(url)
    assert secret not in str(info.value) and "user:" not in str(info.value)


async def test_credentials_stay_on_their_origin_and_leave_the_result_url(
    outside: FeedServer,
) -> None:
    outside.redirect("/old", "/feed")
    outside.set("/feed", FEED)
    o_port = outside.base_url.rsplit(":", 1)[1]
    async with guarded() as f:
        result = await f.fetch(f"http://user:hunter2@127.0.0.2:{o_port}/old")
    assert result.url == outside.url("/feed")  # the base for relative links: no credentials
    auth = [r.headers.get("Authorization") for r in outside.requests("/feed")]
    assert auth == ["Basic dXNlcjpodW50ZXIy"]  # same origin: still authenticated
