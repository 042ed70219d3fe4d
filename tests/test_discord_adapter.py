"""The Discord adapter end to end: real Herald + real discord.py against a fake Discord.

The fake (``tests/fakes/fake_discord.py``) serves Discord's REST subset and gateway from payloads
captured from the real platform; feeds come from the local feed server; time is a ManualClock
(the only wall-clock waits are discord.py's own 0.2 s rate-limit sleep and network round trips).
Any exception discord.py would merely log in a command handler or event fails the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

import adapters.discord_adapter as da
from adapters.discord_adapter import DiscordAdapter
from bot.adapter import AdapterContext
from bot.app import Herald
from bot.clock import ManualClock
from bot.errors import (
    AdapterFatalError,
    ConfigError,
    PermanentDeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bot.settings import DiscordSettings, Settings
from bot.types import Alert, AlertItem, AlertKind, Caller, Notice, Reply
from tests.fakes.fake_discord import MEMBER_PERMISSIONS, TOKEN, FakeDiscord, Recorded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss
from tests.support import make_settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TOPICS = {"nato": 'nato OR "north atlantic"', "eu": '"european union" OR brussels'}
FEED = "/world.xml"
EVIL = "NATO: @everyone <@&123> [bbc.co.uk](http://evil) **summit**"
EMBED_LIMITS = {"title": 256, "description": 4096}


def story(n: int, title: str | None = None, **kw: Any) -> Item:
    return Item(
        title=title or f"NATO story number {n}",
        link=f"https://news.example/story/{n}",
        guid=f"urn:story:{n}",
        summary=f"Allies met for the {n}th time. Ministers agreed on a plan.",
        published=T0 + timedelta(minutes=n),
        **kw,
    )


def as_dict(embed: Any) -> dict[str, Any]:
    return cast(dict[str, Any], embed.to_dict())


def embed_size(e: dict[str, Any]) -> int:
    return (
        len(e.get("title", ""))
        + len(e.get("description", ""))
        + len(e.get("footer", {}).get("text", ""))
    )


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def payloads(shared_data: Path) -> Path:
    path = shared_data / "payloads" / "discord"
    if not (path / "accord-jl" / "gateway_interaction_create.json").is_file():
        pytest.skip(f"captured Discord payloads not found under {path}")
    return path


@pytest_asyncio.fixture
async def fake(payloads: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(payloads) as server:
        yield server


@pytest.fixture
def errors() -> Any:
    """Exceptions discord.py only logs (command handlers, events): any one fails the test."""
    seen: list[tuple[str, BaseException]] = []
    yield seen
    assert seen == [], f"handler errors: {seen!r}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def new_adapter(
    fake: FakeDiscord, tmp_path: Path, errors: list[tuple[str, BaseException]]
) -> Callable[..., DiscordAdapter]:
    def build(token: str | None = TOKEN, **kw: Any) -> DiscordAdapter:
        settings = DiscordSettings(
            enabled=True,
            api_base_url=fake.api_base_url,
            gateway_url=fake.gateway_url,
            test_guild=kw.pop("test_guild", None),
            gateway=kw.pop("gateway", True),
            shard_id=kw.pop("shard_id", None),
            shard_count=kw.pop("shard_count", None),
        )
        kw.setdefault("sync_state", tmp_path / "var" / "discord-commands.json")
        return DiscordAdapter(
            settings,
            token,
            guild_ready_timeout=0.05,
            ready_timeout=10.0,
            send_timeout=10.0,
            error_hook=lambda where, exc: errors.append((where, exc)),
            **kw,
        )

    return build


@pytest_asyncio.fixture
async def adapter(new_adapter: Callable[..., DiscordAdapter]) -> AsyncIterator[DiscordAdapter]:
    """A started adapter with a tiny in-memory command service, for delivery tests."""
    a = new_adapter()
    await a.start(EchoCommands())
    yield a
    await a.stop()


class EchoCommands:
    """A CommandHandler for adapter-only tests: echoes what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Caller, str]] = []

    async def handle(self, caller: Caller, text: str) -> Reply:
        self.calls.append((caller, text))
        return Reply(f"ran `{text}`")

    async def topic_names(self) -> list[str]:
        return ["nato", "eu", "energy"]

    async def channel_topics(self, caller: Caller) -> list[str]:
        return ["eu"]


def herald_settings(
    tmp_path: Path, fake: FakeDiscord, feed_server: FeedServer, **sections: Any
) -> Settings:
    return make_settings(
        tmp_path,
        feeds=[feed_server.url(FEED)],
        topics=TOPICS,
        platform="discord",
        adapters={
            "discord": {
                "enabled": True,
                "api_base_url": fake.api_base_url,
                "gateway_url": fake.gateway_url,
            }
        },
        **sections,
    )


async def slash(
    fake: FakeDiscord, command: str, sub: str, options: dict[str, Any] | None = None, **kw: Any
) -> Recorded:
    """Run a slash command through the gateway; return the interaction callback request."""
    iid = await fake.interact(fake.interaction(command, sub, options, **kw))
    return await fake.wait_callback(iid)


def reply_text(callback: Recorded) -> str:
    return str(callback.body["data"]["embeds"][0]["description"])


# -- the "Done when", end to end ------------------------------------------------------


async def test_subscribe_then_exactly_one_safe_embed_alert(
    fake: FakeDiscord,
    feed_server: FeedServer,
    new_adapter: Callable[..., DiscordAdapter],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    feed_server.set(FEED, rss([story(1)], title="World desk"))
    adapter = new_adapter()
    settings = herald_settings(tmp_path, fake, feed_server)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()  # connects; the first poll marks existing items seen
        assert fake.identifies == 1 and fake.posts_to("111") == []

        callback = await slash(fake, "news", "subscribe", {"topic": "nato"}, channel="111")
        assert callback.query == {"with_response": "1"}
        assert callback.body["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
        assert callback.body["data"]["flags"] == 64  # ephemeral
        assert callback.body["data"]["allowed_mentions"] == {"parse": []}
        assert "Subscribed this channel to `nato`" in reply_text(callback)
        subs = await app.storage.list_subscriptions("discord", fake.guild_id, "111")
        assert [(s.platform, s.workspace, s.channel, s.topic) for s in subs] == [
            ("discord", fake.guild_id, "111", "nato")
        ]

        evil = story(2, title=EVIL, image="https://img.example/2.jpg")
        feed_server.set(FEED, rss([evil, story(1)], title="World desk"))
        clock.advance(600)
        await app.run_once()
        await app.run_once()  # nothing new: nothing more is posted
        delivered = await app.storage.deliveries("sent")

    posts = fake.posts_to("111")
    assert len(posts) == 1 and posts[0].status == 200
    body = posts[0].body
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == f"herald-{delivered[0].id}" and body["enforce_nonce"] is True
    assert delivered[0].message_id == fake.messages["111"][0]["id"]
    [embed] = body["embeds"]
    title = embed["title"]
    for raw in ("@everyone", "<@&123>", "[bbc.co.uk](http://evil)", "**summit**"):
        assert raw not in title
    assert "bbc.co.uk" in title and "summit" in title  # neutralised, not removed
    assert embed["url"] == "https://news.example/story/2"
    assert embed["thumbnail"] == {"url": "https://img.example/2.jpg"}
    assert embed["footer"]["text"] == "World desk · nato"
    assert embed["timestamp"].startswith("2026-06-01T09:02:00")
    assert "Allies met for the 2th time" in embed["description"]


async def test_a_429_is_waited_out_and_the_alert_arrives_once(
    fake: FakeDiscord,
    feed_server: FeedServer,
    new_adapter: Callable[..., DiscordAdapter],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    adapter = new_adapter()
    settings = herald_settings(tmp_path, fake, feed_server)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        await slash(fake, "news", "subscribe", {"topic": "nato"}, channel="111")
        fake.rate_limit("111", retry_after=0.2)
        feed_server.set(FEED, rss([story(2), story(1)]))
        clock.advance(600)
        await app.run_once()
        sent = await app.storage.deliveries("sent")

    first, second = fake.posts_to("111")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.18  # discord.py honoured retry_after
    assert first.body["nonce"] == second.body["nonce"]
    assert len(fake.messages["111"]) == 1 and len(sent) == 1


async def test_a_403_pauses_the_subscription_and_tells_admins_once(
    fake: FakeDiscord,
    feed_server: FeedServer,
    new_adapter: Callable[..., DiscordAdapter],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    adapter = new_adapter()
    settings = herald_settings(
        tmp_path,
        fake,
        feed_server,
        admin_channels=[{"platform": "discord", "channel": "999", "workspace": fake.guild_id}],
    )
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        await slash(fake, "news", "subscribe", {"topic": "nato"}, channel="111")
        fake.fail_channel("111", 403)
        for n in (2, 3, 4):  # three polls, each with a new matching story
            feed_server.set(FEED, rss([story(k) for k in range(n, 0, -1)]))
            clock.advance(600)
            await app.run_once()
        subs = await app.storage.list_subscriptions("discord", fake.guild_id, "111")

    assert [r.status for r in fake.posts_to("111")] == [403]  # paused after the first refusal
    assert subs[0].state != "active" and "50013" in (subs[0].paused_reason or "")
    notices = fake.posts_to("999")
    assert len(notices) == 1
    [embed] = notices[0].body["embeds"]
    assert embed["title"] == "Herald admin notice"
    assert "Paused 1 subscription(s) of channel 111" in embed["description"]
    assert notices[0].body["allowed_mentions"] == {"parse": []}


# -- commands ----------------------------------------------------------------------------------


async def test_autocomplete_offers_topics_and_the_channels_own_subscriptions(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    sub = await slash(fake, "news", "subscribe", {"topic": "e"}, focused="topic")
    assert sub.body == {
        "type": 8,
        "data": {"choices": [{"name": "energy", "value": "energy"}, {"name": "eu", "value": "eu"}]},
    }
    unsub = await slash(fake, "news", "unsubscribe", {"topic": ""}, focused="topic")
    assert unsub.body["data"]["choices"] == [{"name": "eu", "value": "eu"}]


async def test_slash_options_become_the_core_grammar_with_the_discord_caller(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    commands = EchoCommands()
    adapter = new_adapter()
    await adapter.start(commands)
    try:
        await slash(fake, "news", "latest", {"topic": "nato", "n": 3}, channel="222")
        await slash(fake, "news-admin", "topic-add", {"name": "gas", "query": "gas OR lng"})
        cb = await slash(
            fake, "news-admin", "feed-remove", {"url": "https://x.example/a_b"}, user_id="42"
        )
    finally:
        await adapter.stop()
    texts = [t for _, t in commands.calls]
    assert texts == [
        "latest nato 3",
        "topic add gas gas OR lng",
        "feed remove https://x.example/a_b",
    ]
    caller = commands.calls[0][0]
    assert caller == Caller(
        "discord",
        "900000000000000026",
        "222",
        workspace=fake.guild_id,
        is_platform_admin=True,
        display_name=caller.display_name,
    )
    assert commands.calls[2][0].user_id == "42"
    # The core's `code` spans survive as code spans; the URL inside is untouched.
    assert reply_text(cb) == "ran `feed remove https://x.example/a_b`"


async def test_admin_commands_refuse_non_admins_and_slow_ones_defer(
    fake: FakeDiscord,
    feed_server: FeedServer,
    new_adapter: Callable[..., DiscordAdapter],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    feed_server.set("/extra.xml", rss([story(7, title="Brussels budget")], title="Extra desk"))
    adapter = new_adapter()
    settings = herald_settings(tmp_path, fake, feed_server)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        refused = await slash(
            fake, "news-admin", "topic-remove", {"name": "eu"}, permissions=MEMBER_PERMISSIONS
        )
        assert refused.body["type"] == 4 and refused.body["data"]["flags"] == 64
        assert "is for admins only" in reply_text(refused)
        assert refused.body["data"]["embeds"][0]["color"] == da.COLOUR_ERROR
        assert {t.name for t in await app.storage.list_topics()} == {"nato", "eu"}

        # feed-add fetches the feed: it is deferred (ephemeral "thinking"), then followed up.
        url = feed_server.url("/extra.xml")
        deferred = await slash(fake, "news-admin", "feed-add", {"url": url, "name": "Extra"})
        assert deferred.body == {"type": 5, "data": {"flags": 64}}
        [followup] = await fake.wait_for(
            lambda r: r.method == "POST" and r.path.startswith(f"/webhooks/{fake.app_id}/")
        )
        assert followup.body["flags"] == 64 and followup.body["allowed_mentions"] == {"parse": []}
        assert "Added feed Extra" in followup.body["embeds"][0]["description"]
        assert url in {f.url for f in await app.storage.list_feeds()}


class GatedCommands(EchoCommands):
    """Answers only once ``release`` is set: a command service having a slow moment."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def handle(self, caller: Caller, text: str) -> Reply:
        await self.release.wait()
        return await super().handle(caller, text)


async def test_a_command_that_outlasts_defer_after_is_deferred_then_followed_up(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    commands = GatedCommands()
    adapter = new_adapter(defer_after=0.05)
    await adapter.start(commands)
    try:
        callback = await slash(fake, "news", "subscriptions")
        assert callback.body == {"type": 5, "data": {"flags": 64}}
        commands.release.set()
        [followup] = await fake.wait_for(lambda r: r.path.startswith("/webhooks/"))
    finally:
        await adapter.stop()
    assert followup.body["embeds"][0]["description"] == "ran `subscriptions`"
    assert followup.body["flags"] == 64


async def test_command_sync_only_when_the_command_set_changed(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    def puts() -> list[Recorded]:
        return [r for r in fake.requests if r.method == "PUT"]

    first = new_adapter()
    await first.start(EchoCommands())
    await first.stop()
    assert [r.path for r in puts()] == [f"/applications/{fake.app_id}/commands"]
    payload = {c["name"]: c for c in puts()[0].body}
    assert set(payload) == {"news", "news-admin"}
    assert int(payload["news-admin"]["default_member_permissions"]) == 32  # Manage Server
    assert payload["news"]["default_member_permissions"] is None
    assert payload["news"]["dm_permission"] is payload["news-admin"]["dm_permission"] is False
    assert {o["name"] for o in payload["news-admin"]["options"]} >= {
        "feed-add",
        "feed-remove",
        "feed-list",
        "topic-add",
        "topic-remove",
        "topic-test",
    }
    subscribe = next(o for o in payload["news"]["options"] if o["name"] == "subscribe")
    assert subscribe["options"][0]["autocomplete"] is True

    second = new_adapter()  # a restart with the same commands: no sync
    await second.start(EchoCommands())
    await second.stop()
    assert len(puts()) == 1 and fake.identifies == 2

    dev = new_adapter(test_guild=fake.guild_id)  # a different target: synced there
    await dev.start(EchoCommands())
    await dev.stop()
    assert [r.path for r in puts()][1:] == [
        f"/applications/{fake.app_id}/guilds/{fake.guild_id}/commands"
    ]


async def test_connects_with_default_intents_and_restores_discord_endpoints(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    import discord  # already imported (warning-free) by the adapter module
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    a = new_adapter()
    await a.start(EchoCommands())
    await a.start(EchoCommands())  # run_once starts adapters every round: a no-op when running
    assert fake.api_base_url == Route.BASE
    intents = fake.identify_payloads[0]["intents"]
    assert intents == discord.Intents.default().value
    privileged = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
    assert intents & privileged == 0 and fake.identifies == 1
    assert [(r.method, r.path) for r in fake.requests[:2]] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
    ]
    await a.stop()
    await a.stop()  # idempotent
    assert (base, gateway) == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_gateway_resume_keeps_commands_working(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    await fake.reconnect()
    await fake.wait_resumed()
    assert fake.identifies == 1  # resumed, not re-identified
    callback = await slash(fake, "news", "topics")
    assert reply_text(callback) == "ran `topics`"


# -- delivery ----------------------------------------------------------------------------------


def alert(
    delivery_id: int = 7,
    channel: str = "111",
    *,
    title: str = "NATO summit opens",
    link: str | None = "https://news.example/a",
    summary: str = "Leaders met.",
    image: str | None = None,
    kind: AlertKind = AlertKind.STORY,
    items: tuple[AlertItem, ...] | None = None,
) -> Alert:
    item = AlertItem("k1", "World desk", title, link, summary, T0, image)
    return Alert(
        delivery_id, "discord", "900000000000000008", channel, ("nato",), items or (item,), kind
    )


async def test_a_retried_alert_is_posted_once_thanks_to_the_nonce(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    first = await adapter.send_alert(alert(41))
    again = await adapter.send_alert(alert(41))  # e.g. a retry after a timeout
    other = await adapter.send_alert(alert(42))
    assert first == again != other
    assert [m["nonce"] for m in fake.messages["111"]] == ["herald-41", "herald-42"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, PermanentDeliveryError),
        (404, PermanentDeliveryError),
        (400, RejectedDeliveryError),
        (503, TransientDeliveryError),
    ],
)
async def test_refusals_and_outages_map_to_the_cores_errors(
    fake: FakeDiscord, adapter: DiscordAdapter, status: int, error: type[Exception]
) -> None:
    fake.fail_channel("222", status, times=1)
    with pytest.raises(error) as caught:
        await adapter.send_alert(alert(channel="222"))
    assert str(status) in str(caught.value) and TOKEN not in str(caught.value)
    with pytest.raises(PermanentDeliveryError):
        await adapter.send_alert(alert(channel="not-a-channel"))


async def test_a_long_rate_limit_comes_back_as_retry_after(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    fake.rate_limit("111", retry_after=120.0)
    with pytest.raises(TransientDeliveryError) as caught:
        await adapter.send_alert(alert())
    assert caught.value.retry_after == pytest.approx(120.0)
    assert fake.messages.get("111") is None
    # Discord's own limit (it came with Via) holds that bucket only, not every channel.
    await adapter.send_alert(alert(8, "222"))
    assert adapter.blocked_until is None and len(fake.messages["222"]) == 1


async def test_a_cloudflare_429_stops_every_send_for_a_while_without_requests(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter], clock: ManualClock
) -> None:
    adapter = new_adapter(clock=clock)
    await adapter.start(EchoCommands())
    try:
        fake.cloudflare_block()
        with pytest.raises(TransientDeliveryError) as first:
            await adapter.send_alert(alert(1, "111"))
        assert first.value.retry_after == da.CLOUDFLARE_PAUSE == 600.0
        assert "Cloudflare" in str(first.value) and TOKEN not in str(first.value)
        assert [r.status for r in fake.posts_to("111")] == [429]  # discord.py did not retry
        seen = len(fake.requests)
        clock.advance(599)
        notice = Notice("discord", None, "999", "Feed failing")
        for send in (adapter.send_alert(alert(2, "222")), adapter.send_notice(notice)):
            with pytest.raises(TransientDeliveryError) as later:
                await send
            assert later.value.retry_after == pytest.approx(1.0)
        assert len(fake.requests) == seen  # not one request while the ban lasts
        fake.unblock()
        clock.advance(1)
        assert await adapter.send_alert(alert(1, "111"))
        assert [m["nonce"] for m in fake.messages["111"]] == ["herald-1"]

        # Cloudflare's Retry-After is honoured, within sane bounds.
        for header, pause in ((1800, 1800.0), (5, da.CLOUDFLARE_PAUSE_MIN)):
            fake.cloudflare_block(retry_after=header)
            with pytest.raises(TransientDeliveryError) as told:
                await adapter.send_alert(alert(3, "111"))
            assert told.value.retry_after == pause
            fake.unblock()
            clock.advance(pause)
    finally:
        await adapter.stop()


async def test_a_cloudflare_block_backs_off_every_channel_then_delivers_each_once(
    fake: FakeDiscord,
    feed_server: FeedServer,
    new_adapter: Callable[..., DiscordAdapter],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    adapter = new_adapter(clock=clock)
    subs = [("111", "nato"), ("222", "nato"), ("333", "nato")]
    settings = herald_settings(tmp_path, fake, feed_server, subscriptions=subs)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        fake.cloudflare_block()
        feed_server.set(FEED, rss([story(2), story(1)]))
        clock.advance(600)
        await app.run_once()
        posts = [r for r in fake.requests if r.method == "POST"]
        assert [r.status for r in posts] == [429]  # one request, then the whole adapter waits
        pending = await app.storage.deliveries("pending")
        assert len(pending) == 3
        # The refused row waits out the pause; the core's dispatcher holds the others back
        # (they were claimed, never tried), and no attempt counts against any of them.
        assert max(p.next_attempt_at for p in pending) >= clock.now() + timedelta(seconds=590)
        assert {p.attempts for p in pending} == {0}
        clock.advance(300)
        await app.run_once()  # still banned: nothing is tried
        assert len([r for r in fake.requests if r.method == "POST"]) == 1
        fake.unblock()
        clock.advance(600)
        await app.run_once()
        sent = await app.storage.deliveries("sent")

    assert len(sent) == 3
    assert {c: len(fake.messages[c]) for c in ("111", "222", "333")} == {
        "111": 1,
        "222": 1,
        "333": 1,
    }


async def test_a_revoked_token_is_fatal_and_never_echoed(
    fake: FakeDiscord, adapter: DiscordAdapter, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    fake.reject_all_auth = True
    with pytest.raises(AdapterFatalError) as caught:
        await adapter.send_alert(alert())
    assert TOKEN not in str(caught.value)
    with pytest.raises(AdapterFatalError) as at_start:
        await new_adapter().start(EchoCommands())
    assert "HERALD_DISCORD_TOKEN" in str(at_start.value) and TOKEN not in str(at_start.value)


async def test_notices_are_escaped_embeds(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    text = "Feed disabled: @here [x](http://evil) (<@123456789012345678>). Try `feed list`."
    await adapter.send_notice(Notice("discord", "900000000000000008", "999", text))
    [post] = fake.posts_to("999")
    description = post.body["embeds"][0]["description"]
    assert "@here" not in description and "](" not in description
    assert "<@123456789012345678>" not in description
    assert description.endswith("Try `feed list`.")
    assert post.body["allowed_mentions"] == {"parse": []} and post.body["nonce"]


def test_network_failures_and_login_failures_map_to_the_cores_errors() -> None:
    import aiohttp
    import discord

    timeout = da.delivery_error(TimeoutError())
    reset = da.delivery_error(aiohttp.ClientConnectionError(f"reset while using {TOKEN}"), TOKEN)
    login = da.delivery_error(discord.LoginFailure("Improper token has been passed."), TOKEN)
    assert isinstance(timeout, TransientDeliveryError)
    assert isinstance(reset, TransientDeliveryError) and TOKEN not in str(reset)
    assert isinstance(login, AdapterFatalError)
    assert da.delivery_error(ValueError("a bug")) is None  # bugs are not delivery failures


# -- embeds (pure) -----------------------------------------------------------------------------


def test_embeds_respect_discords_limits() -> None:
    huge = alert(title="T" * 1000, summary="word " * 3000, link="javascript:alert(1)")
    e = as_dict(da.alert_embed(huge))
    assert len(e["title"]) == 256 and e["title"].endswith("…")
    assert len(e["description"]) <= 4096 and e["description"].endswith("…")
    assert embed_size(e) <= 6000
    assert "url" not in e  # only http(s) links are used
    escaped = as_dict(da.alert_embed(alert(title="*" * 400)))["title"]
    body = escaped.removesuffix("…")
    assert len(escaped) <= 256 and escaped.endswith("…")
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0  # no lone escape before the "…"
    assert "thumbnail" not in as_dict(da.alert_embed(alert(image="ftp://x/y.png")))


def test_digest_lists_linked_titles_within_limits() -> None:
    items = tuple(
        AlertItem(
            f"k{n}",
            "Desk",
            f"Story [{n}](http://evil) @everyone",
            f"https://news.example/{n}?q=(x)" if n % 2 else "mailto:x@example",
            "",
            T0,
        )
        for n in range(200)
    )
    e = as_dict(da.alert_embed(alert(kind=AlertKind.DIGEST, items=items)))
    assert e["title"] == "200 more stories on nato"
    lines = e["description"].split("\n")
    assert lines[1].startswith("• [Story (1)(http://evil) @\u200beveryone](<")
    assert "https://news.example/1?q=%28x%29>)" in lines[1]
    assert lines[0].startswith("• Story (0)") and "mailto" not in lines[0]
    assert lines[-1].startswith("…and ") and lines[-1].endswith(" more")
    assert len(e["description"]) <= 4096 and embed_size(e) <= 6000


def test_reply_escaping_keeps_code_spans_and_defuses_the_rest() -> None:
    out = da.escape_reply("Hi @everyone, *bold* `topic add x <@&1> *y*` [a](http://b)")
    assert out == (
        "Hi @\u200beveryone, \\*bold\\* `topic add x <\u200b@&1> *y*` [a]\u200b(http://b)"
    )
    e = as_dict(da.reply_embed(Reply("x" * 5000, ok=False)))
    assert len(e["description"]) == 4096 and e["color"] == da.COLOUR_ERROR


# -- wiring ------------------------------------------------------------------------------------


def test_create_reads_the_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="HERALD_DISCORD_TOKEN"):
        da.create(AdapterContext(make_settings(tmp_path), ManualClock(), random.Random(1)))
    monkeypatch.setenv("HERALD_DISCORD_TOKEN", "env-token")
    settings = make_settings(tmp_path, adapters={"discord": {"test_guild": "123"}})
    built = da.create(AdapterContext(settings, ManualClock(), random.Random(1)))
    assert built.platform == "discord" and built.token == "env-token"
    assert built.settings.test_guild == "123"
    assert built.sync_state.path == Path("var") / "discord-commands.json"


def test_sync_state_survives_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    state = da.CommandSyncState(path)
    assert state.get("app/global") is None
    state.put("app/global", "abc")
    assert json.loads(path.read_text()) == {"app/global": "abc"}
    assert da.CommandSyncState(path).get("app/global") == "abc"


async def test_rest_only_instance_sends_without_a_gateway_session(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    rest_only = new_adapter(gateway=False)
    await rest_only.start(EchoCommands())
    try:
        await rest_only.send_alert(alert(51))
    finally:
        await rest_only.stop()
    assert fake.identifies == 0  # never opened a gateway session
    assert [m["nonce"] for m in fake.messages["111"]] == ["herald-51"]


async def test_a_shard_identifies_with_its_shard(
    fake: FakeDiscord, new_adapter: Callable[..., DiscordAdapter]
) -> None:
    shard = new_adapter(shard_id=1, shard_count=2)
    await shard.start(EchoCommands())
    try:
        await fake.wait_connected()
    finally:
        await shard.stop()
    assert fake.identify_payloads[0]["shard"] == [1, 2]


async def test_global_pace_keeps_every_second_under_the_limit() -> None:
    clock = ManualClock(T0)
    pace = da.GlobalPace(50.0, clock)
    stamps = []
    for _ in range(30):
        await pace.wait()
        stamps.append(clock.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.02 - 1e-9  # 50/s means at least 20 ms apart, never a burst
    assert stamps[-1] - stamps[0] < 0.6 + 1e-9  # and no slower than that
