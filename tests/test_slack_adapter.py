"""The Slack adapter end to end: real Herald + real bolt/slack_sdk + a fake Slack + a feed server.

Slash commands are the real captured payloads in ``../shared/data/payloads/slack/`` (Slack's
signed docs example for HTTP mode, a recorded production slash command for Socket Mode), with
the command, text, channel and response_url swapped and re-signed with a test secret. Nothing of
ours is mocked; time is a ManualClock (the 429 wait runs on it), the wall clock only signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
import pytest_asyncio

from adapters.slack_adapter import (
    LOOKUP_PAGE,
    LOOKUP_PAGES,
    MAX_BLOCKS,
    SECTION_MAX,
    SlackAdapter,
    escape,
    fit,
    needs_admin,
    render,
    safe_url,
)
from bot.adapter import AdapterContext, load_adapter
from bot.app import Herald
from bot.clock import ManualClock
from bot.errors import (
    AdapterFatalError,
    PermanentDeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bot.settings import Settings
from bot.types import Alert, AlertItem, AlertKind, Notice
from tests.fakes.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss
from tests.support import RecordingAdapter, make_settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SECRET = "herald-test-signing-secret-0123456789"
TOPICS = {"nato": 'nato OR "north atlantic"'}
NASTY = "Breaking: NATO <!channel> <@U123> <http://evil|bbc.co.uk> & co"
FEED = "/world.xml"

SLACK_PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "data" / "payloads" / "slack"
SIGNED_EXAMPLE = SLACK_PAYLOADS / "python-slack-sdk/extracted/slack_docs_signed_slash_command"
RECORDED = SLACK_PAYLOADS / "vercel-chat-replay/slash-commands_slack.json"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk honours these and ignores NO_PROXY: the fake on 127.0.0.1 must be reached directly.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("HERALD_SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("HERALD_SLACK_SIGNING_SECRET", SECRET)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


# -- payloads --------------------------------------------------------------------------------


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared Slack payload not found: {path}")
    return path


def sign(body: str, secret: str = SECRET, timestamp: str | None = None) -> dict[str, str]:
    """Headers Slack sends with a signed request (v0 HMAC-SHA256 of ``v0:ts:body``)."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def http_command(
    text: str, fake: FakeSlack, *, channel: str = "C1", user: str | None = None
) -> str:
    """Slack's signed docs example as a ``/news`` command: same fields, our values."""
    fields = dict(parse_qsl(_need(SIGNED_EXAMPLE.with_suffix(".form-body.txt")).read_text()))
    fields.update(
        command="/news", text=text, channel_id=channel, response_url=fake.response_url("http")
    )
    if user is not None:
        fields["user_id"] = user
    return urlencode(fields)


def socket_command(
    text: str, fake: FakeSlack, *, channel: str = "C1", user: str | None = None
) -> dict[str, Any]:
    """A recorded production slash command, as Socket Mode delivers it (a plain object)."""
    recorded = json.loads(_need(RECORDED).read_text())["slashCommandWithArgs"]
    payload = {
        **recorded,
        "command": "/news",
        "text": text,
        "channel_id": channel,
        "response_url": fake.response_url("socket"),
    }
    if user is not None:
        payload["user_id"] = user
    return dict(payload)


async def post_events(adapter: SlackAdapter, body: str, headers: dict[str, str]) -> int:
    assert adapter.port is not None
    url = f"http://127.0.0.1:{adapter.port}/slack/events"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status


async def command(
    mode: str, adapter: SlackAdapter, fake: FakeSlack, text: str, **kw: Any
) -> dict[str, Any]:
    """Run ``/news text`` through the transport and return the ephemeral reply Slack got."""
    seen = len(fake.sink)
    if mode == "http":
        body = http_command(text, fake, **kw)
        assert await post_events(adapter, body, sign(body)) == 200
    else:
        envelope = await fake.send_envelope("slash_commands", socket_command(text, fake, **kw))
        await fake.wait_for(lambda: envelope in fake.acks)
    await fake.wait_for(lambda: len(fake.sink) > seen)
    return fake.sink[-1].body


# -- setup -----------------------------------------------------------------------------------


def story(n: int, title: str | None = None, summary: str | None = None) -> Item:
    return Item(
        title=title or f"NATO story number {n}",
        link=f"https://news.example/story/{n}",
        guid=f"urn:story:{n}",
        summary=summary or f"Allies met for the {n}th time.",
        published=T0 + timedelta(minutes=n),
    )


def slack_settings(
    tmp_path: Path,
    fake: FakeSlack,
    feed_server: FeedServer,
    mode: str,
    subs: list[dict[str, str]] | None = None,
    **kw: Any,
) -> Settings:
    slack = {"enabled": True, "mode": mode, "port": 0, "api_base_url": fake.api_url}
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(FEED)],
        topics=TOPICS,
        platform="slack",
        adapters={"slack": slack},
        **kw,
    )
    if subs is None:
        return settings
    # make_settings only knows workspace-less subscriptions; Slack's carry the team id.
    return Settings(**{**settings.model_dump(), "subscriptions": subs})


def slack_adapter(settings: Settings, clock: ManualClock) -> SlackAdapter:
    adapter = load_adapter("slack", AdapterContext(settings, clock, random.Random(7)))
    assert isinstance(adapter, SlackAdapter)
    return adapter


def tokens_in(blocks: list[dict[str, Any]]) -> set[str]:
    """Every ``<...>`` control sequence anywhere in the blocks."""
    return set(re.findall(r"<[^>]*>", json.dumps(blocks, ensure_ascii=False)))


# -- the "Done when", both modes -----------------------------------------------------


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_subscribe_then_one_escaped_alert_even_after_a_429(
    mode: str,
    fake: FakeSlack,
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    secrets: None,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(tmp_path, fake, feed_server, mode)
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()  # starts the adapter; story 1 is marked seen
        assert fake.of("auth.test"), "bolt/the adapter must call auth.test at api_base_url"
        if mode == "socket":
            assert fake.ws_connections == 1
            assert [c.headers["Authorization"] for c in fake.of("apps.connections.open")] == [
                f"Bearer {APP_TOKEN}"
            ]

        reply = await command(mode, adapter, fake, "subscribe nato")
        assert reply["response_type"] == "ephemeral"
        assert reply["text"] == (
            "Subscribed this channel to `nato`. New stories will be posted here."
        )
        team = "T1DC2JH3J" if mode == "http" else "T00FAKE00BB"  # from the payloads
        subs = await app.storage.list_subscriptions("slack", team, "C1")
        assert [(s.platform, s.workspace, s.channel, s.topic) for s in subs] == [
            ("slack", team, "C1", "nato")
        ]
        assert fake.of("users.info") == []  # not an admin command: no lookup

        fake.rate_limit("chat.postMessage", retry_after=1)
        nasty = story(9, title=NASTY, summary="Ping &lt;!here&gt; &amp; <b>run</b>")
        feed_server.set(FEED, rss([nasty, story(1)]))
        clock.advance(600)
        before = clock.monotonic()
        await app.run_once()

        attempts = fake.of("chat.postMessage")
        assert [c.status for c in attempts] == [429, 200]
        assert clock.monotonic() - before >= 1.0  # Retry-After was waited out (on the clock)
        (post,) = fake.posts()
        args = post.args
        assert args["channel"] == "C1"
        assert post.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
        assert args["unfurl_links"] is False and args["unfurl_media"] is False
        assert "link_names" not in args and "parse" not in args
        escaped = "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|bbc.co.uk&gt; &amp; co"
        assert escaped in args["text"]
        blocks = args["blocks"]
        assert blocks[0]["text"]["text"] == (
            f"*<https://news.example/story/9|Breaking: NATO {escaped}>*"
        )
        assert blocks[1]["text"]["text"] == "Ping &lt;!here&gt; &amp; run"
        links = tokens_in(blocks)
        assert "<https://news.example/story/9|Breaking: NATO " + escaped + ">" in links
        assert all(t.startswith(("<https://news.example/", "<!date^")) for t in links), links
        raw = json.dumps(args)
        for ping in ("<!channel>", "<!here>", "<@U123>", "<http://evil"):
            assert ping not in raw

        await app.run_once()  # marked sent: never posted again
        assert len(fake.posts()) == 1


async def test_bad_signatures_and_timestamps_get_401_and_change_nothing(
    fake: FakeSlack, feed_server: FeedServer, tmp_path: Path, clock: ManualClock, secrets: None
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(tmp_path, fake, feed_server, "http")
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        body = http_command("subscribe nato", fake)
        good = sign(body)
        now = int(time.time())
        variants = {
            "tampered body": (body.replace("C1", "C2"), good),
            "tampered signature": (body, {**good, "X-Slack-Signature": "v0=" + "0" * 64}),
            "wrong secret": (body, sign(body, secret="not-the-secret")),
            "stale timestamp": (body, sign(body, timestamp=str(now - 6 * 60))),
            "future timestamp": (body, sign(body, timestamp=str(now + 6 * 60))),
            "non-numeric timestamp": (body, sign(body, timestamp="12ab")),
            "no headers": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
        }
        for name, (payload, headers) in variants.items():
            assert await post_events(adapter, payload, headers) == 401, name
        assert await app.storage.list_subscriptions("slack", "T1DC2JH3J", "C1") == []
        assert await app.storage.list_subscriptions("slack", "T1DC2JH3J", "C2") == []
        assert fake.sink == []
        # The same body, correctly signed, goes through: the 401s were about the signature.
        assert await post_events(adapter, body, good) == 200
        await fake.wait_for(lambda: len(fake.sink) == 1)


def test_the_signing_helper_reproduces_slacks_documented_signature() -> None:
    example = json.loads(_need(SIGNED_EXAMPLE.with_suffix(".request.json")).read_text())
    headers = sign(
        example["body"],
        secret=example["signing_secret"],
        timestamp=example["headers"]["X-Slack-Request-Timestamp"],
    )
    assert headers["X-Slack-Signature"] == example["headers"]["X-Slack-Signature"]


# -- failures --------------------------------------------------------------------------------


async def test_channel_not_found_pauses_the_subscription_and_tells_admins_once(
    fake: FakeSlack, feed_server: FeedServer, tmp_path: Path, clock: ManualClock, secrets: None
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(
        tmp_path,
        fake,
        feed_server,
        "socket",
        subs=[
            {"platform": "slack", "workspace": "T9", "channel": "CGONE", "topic": "nato"},
            {"platform": "slack", "workspace": "T9", "channel": "COK", "topic": "nato"},
        ],
        admin_channels=[{"platform": "slack", "workspace": "T9", "channel": "CADMIN"}],
    )
    fake.fail("chat.postMessage", "channel_not_found", channel="CGONE")
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        for n in (2, 3):
            feed_server.set(FEED, rss([story(n), story(1)]))
            clock.advance(600)
            await app.run_once()
        subs = {s.channel: s for s in await app.storage.list_subscriptions("slack", "T9")}
        assert subs["CGONE"].state == "paused"
        assert "channel_not_found" in (subs["CGONE"].paused_reason or "")
        assert subs["COK"].state == "active"
        assert len(fake.posts("COK")) == 2
        assert len([c for c in fake.of("chat.postMessage") if c.args["channel"] == "CGONE"]) == 1
        (notice,) = fake.posts("CADMIN")
        assert "CGONE" in notice.args["text"] and "channel_not_found" in notice.args["text"]
        assert "blocks" not in notice.args and notice.args["unfurl_links"] is False


async def test_invalid_auth_stops_the_adapter_and_herald_keeps_running(
    fake: FakeSlack,
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    secrets: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(
        tmp_path,
        fake,
        feed_server,
        "http",
        subs=[
            {"platform": "slack", "workspace": "T9", "channel": "C1", "topic": "nato"},
            {"platform": "console", "channel": "desk", "topic": "nato"},
        ],
    )
    adapter = slack_adapter(settings, clock)
    console = RecordingAdapter("console")
    caplog.set_level(logging.INFO)
    async with Herald(
        settings, adapters=[adapter, console], clock=clock, rng=random.Random(1)
    ) as app:
        await app.run_once()
        fake.fail("chat.postMessage", "invalid_auth")
        for n in (2, 3):
            feed_server.set(FEED, rss([story(n), story(1)]))
            clock.advance(600)
            await app.run_once()
        assert console.titles == ["NATO story number 2", "NATO story number 3"]
        assert len(fake.of("chat.postMessage")) == 1  # stopped after the first refusal
        assert adapter.fatal is not None and adapter.port is not None
        body = http_command("subscriptions", fake)
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_events(adapter, body, sign(body))  # no longer listening
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("slack adapter stopped" in line and "invalid_auth" in line for line in lines)
        assert not any(BOT_TOKEN in r.getMessage() for r in caplog.records)
        pending = await app.storage.due_deliveries("slack", clock.now() + timedelta(days=1))
        assert len(pending) == 2  # kept for when the token is fixed


async def test_a_revoked_token_at_start_leaves_slack_out_and_herald_running(
    fake: FakeSlack,
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HERALD_SLACK_BOT_TOKEN", "xoxb-revoked-9999")
    monkeypatch.setenv("HERALD_SLACK_APP_TOKEN", APP_TOKEN)
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(tmp_path, fake, feed_server, "socket")
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        results = await app.run_once()
        assert [r.ok for r in results] == [True]
        assert fake.ws_connections == 0 and fake.of("apps.connections.open") == []
        assert adapter.fatal is not None and "invalid_auth" in adapter.fatal
        with pytest.raises(AdapterFatalError):
            await adapter.send_alert(alert_for(story_item(1)))
    assert "xoxb-revoked-9999" not in caplog.text
    assert "slack adapter could not start" in caplog.text  # the core's line, with our reason
    assert "HERALD_SLACK_BOT_TOKEN" in caplog.text


# -- admin commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_admin_commands_need_a_workspace_admin(
    mode: str,
    fake: FakeSlack,
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    secrets: None,
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    fake.add_user("UPLAIN")
    fake.add_user("UBOSS", is_admin=True)
    fake.add_user("UOWNER", is_owner=True)
    settings = slack_settings(tmp_path, fake, feed_server, mode, admins=["UCONF"])
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        refused = await command(mode, adapter, fake, "feed list", user="UPLAIN")
        assert "admins only" in refused["text"] and refused["response_type"] == "ephemeral"
        for user in ("UBOSS", "UOWNER"):
            allowed = await command(mode, adapter, fake, "feed list", user=user)
            assert allowed["text"].startswith("Feeds:"), allowed
        assert [c.args["user"] for c in fake.of("users.info")] == ["UPLAIN", "UBOSS", "UOWNER"]
        # A config admin needs no lookup; a plain command never triggers one.
        assert (await command(mode, adapter, fake, "feed list", user="UCONF"))["text"].startswith(
            "Feeds:"
        )
        await command(mode, adapter, fake, "topics", user="UPLAIN")
        assert len(fake.of("users.info")) == 3
        # Echoed feed text is escaped in replies too.
        feed_server.set(FEED, rss([story(5, title=NASTY), story(1)]))
        clock.advance(600)
        await app.run_once()
        latest = await command(mode, adapter, fake, "latest nato 1", user="UPLAIN")
        assert "&lt;!channel&gt;" in latest["text"] and "<!channel>" not in latest["text"]


# -- Socket Mode reconnects --------------------------------------------------------------------


async def test_socket_mode_reconnects_on_disconnect(
    fake: FakeSlack, feed_server: FeedServer, tmp_path: Path, clock: ManualClock, secrets: None
) -> None:
    feed_server.set(FEED, rss([story(1)]))
    settings = slack_settings(tmp_path, fake, feed_server, "socket")
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        await app.run_once()  # start is idempotent: still one connection
        assert fake.ws_connections == 1
        await fake.send_disconnect()
        await fake.wait_for(lambda: fake.ws_connections == 2)
        assert len(fake.of("apps.connections.open")) == 2
        reply = await command("socket", adapter, fake, "subscribe nato")
        assert reply["text"].startswith("Subscribed")


# -- rendering and error mapping (real functions, real fake server) --------------------------


def story_item(n: int, **kw: Any) -> AlertItem:
    base: dict[str, Any] = {
        "story_key": f"k{n}",
        "feed": "World & Co",
        "title": f"NATO story {n}",
        "link": f"https://news.example/{n}",
        "summary": "Summary.",
        "published": T0,
    }
    return AlertItem(**{**base, **kw})


def alert_for(*items: AlertItem, kind: AlertKind = AlertKind.STORY) -> Alert:
    return Alert(1, "slack", "T9", "C1", ("nato",), tuple(items), kind)


def test_long_text_is_cut_within_block_kit_limits() -> None:
    item = story_item(1, title="<" * 5000, summary="&" * 9000, image="https://img.example/a.jpg")
    text, blocks = render(alert_for(item))
    assert len(blocks[0]["text"]["text"]) <= SECTION_MAX
    assert blocks[0]["text"]["text"].endswith("…>*")
    assert len(blocks[1]["text"]["text"]) <= SECTION_MAX
    assert blocks[1]["text"]["text"].endswith("&amp;…")  # never half an entity
    assert blocks[0]["accessory"]["image_url"] == "https://img.example/a.jpg"
    assert len(text) <= 3000
    assert fit("a&b", 4) == "a…" and fit("ab", 2) == "ab"


def test_digest_lists_linked_titles_and_respects_the_block_cap() -> None:
    items = [story_item(n, title=f"Story {n} " + "x" * 150) for n in range(1000)]
    _, blocks = render(alert_for(*items, kind=AlertKind.DIGEST))
    assert len(blocks) == MAX_BLOCKS
    assert blocks[0]["text"]["text"] == "*1000 more stories on nato*"
    lists = [b["text"]["text"] for b in blocks[1:-1]]
    assert all(len(t) <= SECTION_MAX for t in lists)
    assert lists[0].startswith("• <https://news.example/0|Story 0 ")
    assert re.search(r"… and \d+ more$", lists[-1])
    shown = sum(t.count("• ") for t in lists)
    assert 600 < shown < 1000
    assert int(lists[-1].rsplit(" ", 2)[-2]) == 1000 - shown
    assert "World &amp; Co" in blocks[-1]["elements"][0]["text"]


def test_only_http_links_are_linked() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://a.example/x?a=1&b=2|<>") == "https://a.example/x?a=1&amp;b=2%7C%3C%3E"
    _, blocks = render(alert_for(story_item(1, link="javascript:alert(1)", title="T <x>")))
    assert blocks[0]["text"]["text"] == "*T &lt;x&gt;*"
    assert escape("<&>") == "&lt;&amp;&gt;"


def test_admin_subcommands_are_recognised() -> None:
    assert needs_admin("feed add https://x") and needs_admin("/news Topic Remove nato")
    assert not needs_admin("subscribe nato") and not needs_admin("feed") and not needs_admin("")


def direct_adapter(
    fake: FakeSlack, clock: ManualClock, base_url: str | None = None
) -> SlackAdapter:
    settings = make_settings(
        Path("/nonexistent"),
        adapters={"slack": {"enabled": True, "api_base_url": base_url or fake.api_url}},
    )
    return SlackAdapter(
        settings.adapters.slack, bot_token=BOT_TOKEN, clock=clock, rng=random.Random(3)
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("not_in_channel", PermanentDeliveryError),
        ("is_archived", PermanentDeliveryError),
        ("channel_is_archived", PermanentDeliveryError),
        ("restricted_action", PermanentDeliveryError),
        ("token_revoked", AdapterFatalError),
        ("account_inactive", AdapterFatalError),
        ("msg_too_long", RejectedDeliveryError),
        ("internal_error", TransientDeliveryError),
    ],
)
async def test_slack_errors_map_to_delivery_errors(
    error: str, expected: type[Exception], fake: FakeSlack, clock: ManualClock
) -> None:
    adapter = direct_adapter(fake, clock)
    fake.fail("chat.postMessage", error)
    with pytest.raises(expected) as info:
        await adapter.send_alert(alert_for(story_item(1)))
    assert error in str(info.value) and BOT_TOKEN not in str(info.value)


async def test_server_errors_rate_limits_and_network_failures_are_transient(
    fake: FakeSlack, clock: ManualClock
) -> None:
    adapter = direct_adapter(fake, clock)
    fake.server_error("chat.postMessage", 503)
    with pytest.raises(TransientDeliveryError, match="http_503"):
        await adapter.send_alert(alert_for(story_item(1)))
    fake.rate_limit("chat.postMessage", retry_after=30)  # too long to wait in place
    with pytest.raises(TransientDeliveryError) as info:
        await adapter.send_alert(alert_for(story_item(1)))
    assert info.value.retry_after == 30.0
    fake.rate_limit("chat.postMessage", retry_after=2, times=2)  # survives the one retry
    with pytest.raises(TransientDeliveryError) as info:
        await adapter.send_alert(alert_for(story_item(1)))
    assert info.value.retry_after == 2.0
    assert fake.posts() == []
    down = direct_adapter(fake, clock, base_url="http://127.0.0.1:9/api/")
    before = clock.monotonic()
    with pytest.raises(TransientDeliveryError, match="ClientConnectorError"):
        await down.send_alert(alert_for(story_item(1)))
    assert clock.monotonic() - before >= 0.5  # retried once, pausing on the clock


async def test_refused_blocks_fall_back_to_no_image_then_text(
    fake: FakeSlack, clock: ManualClock
) -> None:
    adapter = direct_adapter(fake, clock)
    fake.fail("chat.postMessage", "invalid_blocks", times=2)
    ts = await adapter.send_alert(alert_for(story_item(1, image="https://img.example/x.png")))
    shapes = [
        ("accessory" in c.args["blocks"][0]) if "blocks" in c.args else "text only"
        for c in fake.of("chat.postMessage")
    ]
    assert shapes == [True, False, "text only"]
    assert ts is not None and ts.startswith("1780000000.")
    assert [c.args["text"] for c in fake.posts()] == ["NATO story 1 — World &amp; Co"]
    # A message Slack refuses in every shape is given up (not retried forever).
    fake.fail("chat.postMessage", "invalid_blocks")
    with pytest.raises(RejectedDeliveryError, match="invalid_blocks"):
        await adapter.send_alert(alert_for(story_item(2)))


async def test_notices_are_plain_escaped_messages(fake: FakeSlack, clock: ManualClock) -> None:
    adapter = direct_adapter(fake, clock)
    ts = await adapter.send_notice(Notice("slack", "T9", "CADMIN", "Feed <b> & <!here> failed"))
    (post,) = fake.posts("CADMIN")
    assert ts is not None
    assert post.args["text"] == "Feed &lt;b&gt; &amp; &lt;!here&gt; failed"
    fake.fail("chat.postMessage", "channel_not_found", channel="CADMIN")
    with pytest.raises(PermanentDeliveryError):
        await adapter.send_notice(Notice("slack", "T9", "CADMIN", "again"))


def test_missing_secrets_are_configuration_errors(tmp_path: Path, clock: ManualClock) -> None:
    from bot.errors import ConfigError

    for mode, needed in (
        ("socket", "HERALD_SLACK_APP_TOKEN"),
        ("http", "HERALD_SLACK_SIGNING_SECRET"),
    ):
        settings = make_settings(
            tmp_path, adapters={"slack": {"enabled": True, "mode": mode}}, slack_bot_token="xoxb-1"
        )
        with pytest.raises(ConfigError) as info:
            load_adapter("slack", AdapterContext(settings, clock, random.Random(1)))
        assert needed in str(info.value)


def test_manifest_declares_the_command_scopes_and_socket_mode() -> None:
    manifest = (Path(__file__).resolve().parents[1] / "config" / "slack-manifest.yaml").read_text()
    assert re.search(r"command: /news\b", manifest)
    assert re.search(r"socket_mode_enabled: true", manifest)
    for scope in ("commands", "chat:write", "users:read", "channels:history", "groups:history"):
        assert re.search(rf"^\s*- {re.escape(scope)}\s*$", manifest, re.M), scope
    assert "link_names" not in manifest


# -- crash and lost-answer idempotency (message metadata + conversations.history) ------------


def history_calls(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c.args for c in fake.of("conversations.history")]


def herald_metadata(delivery_id: int, story_key: str) -> dict[str, Any]:
    return {
        "event_type": "herald_alert",
        "event_payload": {"delivery_id": delivery_id, "story_key": story_key},
    }


async def test_a_post_whose_answer_was_lost_is_found_not_posted_again(
    fake: FakeSlack, feed_server: FeedServer, tmp_path: Path, clock: ManualClock, secrets: None
) -> None:
    fake.clock = clock
    feed_server.set(FEED, rss([story(1)]))
    subs = [{"platform": "slack", "workspace": "T9", "channel": "C1", "topic": "nato"}]
    settings = slack_settings(tmp_path, fake, feed_server, "http", subs=subs)
    adapter = slack_adapter(settings, clock)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        fake.drop("chat.postMessage", after=True)  # Slack posts it, the answer never arrives
        feed_server.set(FEED, rss([story(2), story(1)]))
        clock.advance(600)
        attempted = clock.now()
        await app.run_once()
        assert [m["text"] for m in fake.messages("C1")] == ["NATO story number 2 — Test feed"]
        assert await app.storage.deliveries("sent") == []
        (post,) = fake.of("chat.postMessage")  # the SDK did not blindly re-post in place
        assert history_calls(fake) == []  # a first send never looks anything up

        clock.advance(600)
        await app.run_once()  # the core's retry
        (sent,) = await app.storage.deliveries("sent")
        await app.run_once()

    (shown,) = fake.messages("C1")
    assert len(fake.of("chat.postMessage")) == 1
    assert sent.message_id == shown["ts"]
    assert post.args["metadata"] == herald_metadata(sent.id, sent.story_key)
    (lookup,) = history_calls(fake)
    assert lookup["channel"] == "C1" and lookup["include_all_metadata"] in ("1", "true")
    oldest = float(lookup["oldest"])
    assert attempted.timestamp() - 180 <= oldest <= attempted.timestamp()


async def test_after_a_crash_the_cores_attempt_count_triggers_the_lookup(
    fake: FakeSlack, clock: ManualClock
) -> None:
    fake.clock = clock
    first_at = clock.now()
    fake.drop("chat.postMessage", after=True)
    with pytest.raises(TransientDeliveryError):
        await direct_adapter(fake, clock).send_alert(alert_for(story_item(1)))
    clock.advance(90)  # the lease runs out; a new process claims the delivery
    (posted,) = fake.messages("C1")
    retry = Alert(
        1, "slack", "T9", "C1", ("nato",), (story_item(1),), attempt=1, first_attempt_at=first_at
    )
    assert await direct_adapter(fake, clock).send_alert(retry) == posted["ts"]
    assert len(fake.messages("C1")) == 1 and len(history_calls(fake)) == 1

    # An earlier send that never reached Slack: looked up, not found, posted once.
    fake.drop("chat.postMessage", after=False)
    with pytest.raises(TransientDeliveryError):
        await direct_adapter(fake, clock).send_alert(alert_for(story_item(2)))
    other = Alert(
        2, "slack", "T9", "C1", ("nato",), (story_item(2),), attempt=1, first_attempt_at=first_at
    )
    ts = await direct_adapter(fake, clock).send_alert(other)
    assert [m["ts"] for m in fake.messages("C1")] == [posted["ts"], ts]
    assert len(history_calls(fake)) == 2


async def test_only_sends_that_may_have_posted_are_looked_up(
    fake: FakeSlack, clock: ManualClock
) -> None:
    fake.clock = clock
    adapter = direct_adapter(fake, clock)
    # Definite refusals posted nothing: their retries post straight away.
    fake.rate_limit("chat.postMessage", retry_after=60)
    fake.fail("chat.postMessage", "internal_error", times=1)
    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            await adapter.send_alert(alert_for(story_item(1)))
    assert await adapter.send_alert(alert_for(story_item(1))) is not None
    assert history_calls(fake) == [] and len(fake.messages("C1")) == 1
    # A dropped connection and a 5xx may hide a post: each retry checks first.
    faults: tuple[Callable[[], None], ...] = (
        lambda: fake.drop("chat.postMessage", after=False),
        lambda: fake.server_error("chat.postMessage", 503),
    )
    for n, fault in zip((2, 3), faults, strict=True):
        fault()
        with pytest.raises(TransientDeliveryError):
            await adapter.send_alert(Alert(n, "slack", "T9", "C1", ("nato",), (story_item(n),)))
        # The core recorded one earlier send of this delivery before retrying it.
        await adapter.send_alert(
            Alert(n, "slack", "T9", "C1", ("nato",), (story_item(n),), attempt=1)
        )
    assert len(history_calls(fake)) == 2
    assert [m["text"] for m in fake.messages("C1")] == [
        f"NATO story {n} — World &amp; Co" for n in (1, 2, 3)
    ]


async def test_a_failed_lookup_posts_nothing_unless_it_cannot_ever_work(
    fake: FakeSlack, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.clock = clock
    adapter = direct_adapter(fake, clock)
    fake.drop("chat.postMessage", after=True)
    with pytest.raises(TransientDeliveryError):
        await adapter.send_alert(alert_for(story_item(1)))
    # Rate limited (Tier 3) or down: not ruled out, so nothing is posted; asked again later.
    fake.rate_limit("conversations.history", retry_after=45)
    with pytest.raises(TransientDeliveryError) as info:
        await adapter.send_alert(alert_for(story_item(1)))
    assert info.value.retry_after == 45.0
    fake.server_error("conversations.history", 502)
    with pytest.raises(TransientDeliveryError, match="http_502"):
        await adapter.send_alert(alert_for(story_item(1)))
    (shown,) = fake.messages("C1")
    assert await adapter.send_alert(alert_for(story_item(1))) == shown["ts"]
    assert len(fake.of("chat.postMessage")) == 1

    # The bot may not read the channel (posting via chat:write.public, or an install without
    # the history scopes): send anyway, warn once, and never treat it as a dead token.
    caplog.set_level(logging.WARNING)
    for n, code in ((2, "not_in_channel"), (3, "missing_scope"), (4, "missing_scope")):
        fake.drop("chat.postMessage", after=False)
        with pytest.raises(TransientDeliveryError):
            await adapter.send_alert(Alert(n, "slack", "T9", "C1", ("nato",), (story_item(n),)))
        fake.fail("conversations.history", code, times=1)
        assert await adapter.send_alert(Alert(n, "slack", "T9", "C1", ("nato",), (story_item(n),)))
    assert adapter.fatal is None and len(fake.messages("C1")) == 4
    warnings = [r.getMessage() for r in caplog.records if "cannot check C1" in r.getMessage()]
    assert len(warnings) == 2 and "missing_scope" in warnings[1]


async def test_the_lookup_pages_through_a_busy_channel_and_matches_only_its_delivery(
    fake: FakeSlack, clock: ManualClock
) -> None:
    fake.clock = clock
    adapter = direct_adapter(fake, clock)
    fake.drop("chat.postMessage", after=True)
    with pytest.raises(TransientDeliveryError):
        await adapter.send_alert(alert_for(story_item(1)))
    (lost,) = fake.messages("C1")
    # Chatter, plus Herald-looking messages of other deliveries (another Herald database
    # reusing delivery id 1 for another story; another delivery of the same story).
    fake.add_message("C1", metadata=herald_metadata(1, "k-other"))
    fake.add_message("C1", metadata=herald_metadata(7, "k1"))
    for n in range(2 * LOOKUP_PAGE):
        fake.add_message("C1", f"chatter {n}")
    assert await adapter.send_alert(alert_for(story_item(1))) == lost["ts"]
    assert len(history_calls(fake)) == 3 and len(fake.of("chat.postMessage")) == 1

    # Beyond the last page it is sent again rather than stall the channel forever.
    fake.drop("chat.postMessage", after=True)
    with pytest.raises(TransientDeliveryError):
        await adapter.send_alert(alert_for(story_item(2)))
    for n in range(LOOKUP_PAGE * LOOKUP_PAGES):
        fake.add_message("C1", f"more chatter {n}")
    before = len(history_calls(fake))
    await adapter.send_alert(alert_for(story_item(2)))
    assert len(history_calls(fake)) - before == LOOKUP_PAGES
    assert len([m for m in fake.messages("C1") if m.get("metadata")]) == 2 + 3
