"""Discord adapter: ``/news`` application commands in, embed alerts and notices out (discord.py 2).

Owns the translation between Discord and the core: slash commands and autocomplete → the core's
text grammar (``subscribe nato``) through ``CommandHandler``; ``Alert``/``Notice``/``Reply`` →
embeds escaped for Discord markdown and mentions. Delivery goes over REST with a nonce derived
from the delivery id (``enforce_nonce``), so a retry after a timeout or a crash never posts twice;
discord.py's own limiter handles REST rate limits. A 429 without Discord's ``Via`` header (or with
a non-JSON body) is Cloudflare refusing this IP: the adapter then stops sending altogether for a
long pause and answers every send with the same ``TransientDeliveryError`` without a request, so
the dispatcher backs off on every channel instead of deepening the ban. Command sync happens
only when the command set changed (its hash is kept in a small JSON file). The bot needs no
privileged intents.

``api_base_url``/``gateway_url`` are wired to discord.py's class-level ``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` while the adapter runs (restored on stop): one Discord
adapter per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl

from bot.adapter import AdapterContext, CommandHandler
from bot.clock import Clock, SystemClock
from bot.errors import (
    AdapterFatalError,
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bot.outbox import digest_headline
from bot.settings import DiscordSettings
from bot.types import Alert, AlertKind, Caller, Notice, Reply

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` for voice (unused here), deprecated since 3.11.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

log = logging.getLogger("herald.discord")

PLATFORM = "discord"
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 300  # Discord allows 2048; a footer is one line of source and topics
EMBED_TOTAL_MAX = 6000
CHOICES_MAX = 25
ELLIPSIS = "…"
COLOUR_ALERT = 0x2F6FDE
COLOUR_DIGEST = 0x6B7A8F
COLOUR_OK = 0x2E9D5B
COLOUR_ERROR = 0xD0453A
COLOUR_NOTICE = 0xE5A00D
NO_MENTIONS = discord.AllowedMentions.none()

# Discord's angle-bracket tokens: <@user> <@!nick> <@&role> <#channel> </cmd:id> <:emoji:id>
# <a:emoji:id> <t:unix>; a zero-width space after "<" leaves text readable but inert.
_ANGLE_TOKEN = re.compile(r"<(?=[@#/:]|a:|t:|id:)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def defang(text: str) -> str:
    """Make mentions and Discord tokens inert without adding visible escapes (for footers and
    code spans, where Discord renders no markdown)."""
    return _ANGLE_TOKEN.sub("<\u200b", discord.utils.escape_mentions(text))


def escape(text: str) -> str:
    """Feed text as literal Discord markdown: no formatting, no mentions, no masked links."""
    # Break "[label](url)" first so a title cannot show "bbc.co.uk" while linking elsewhere;
    # the raw URL then renders visibly.
    text = text.replace("](", "]\u200b(")
    return defang(discord.utils.escape_markdown(text))


def escape_reply(text: str) -> str:
    """A core reply: its `code` spans stay code spans (Discord renders nothing inside them),
    everything else is escaped."""
    parts = _CODE_SPAN.split(text)
    return "".join(f"`{defang(p)}`" if i % 2 else escape(p) for i, p in enumerate(parts))


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, never ending in a lone escape."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def http_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL Discord will accept, else None."""
    if not url or len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _link_target(url: str) -> str:
    # Inside "[label](<url>)" these characters would end the link early.
    for ch, enc in (("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E"), ("\\", "%5C")):
        url = url.replace(ch, enc)
    return url


def nonce_for(delivery_id: int) -> str:
    """Discord's idempotency key for a delivery (at most 25 characters)."""
    return f"herald-{delivery_id}"


def _fit(embed: discord.Embed) -> discord.Embed:
    """Shrink the description so the whole embed stays within Discord's 6000 characters."""
    if len(embed) > EMBED_TOTAL_MAX and embed.description:
        room = len(embed.description) - (len(embed) - EMBED_TOTAL_MAX)
        embed.description = clip(embed.description, max(1, room))
    return embed


def alert_embed(alert: Alert) -> discord.Embed:
    """The embed for one alert: a story, or a digest listing its linked titles."""
    if alert.kind is AlertKind.DIGEST:
        return digest_embed(alert)
    item = alert.item
    embed = discord.Embed(
        title=clip(escape(item.title or "(untitled)"), TITLE_MAX),
        url=http_url(item.link),
        description=clip(escape(item.summary), DESCRIPTION_MAX) if item.summary else None,
        colour=COLOUR_ALERT,
        timestamp=item.published,
    )
    footer = " · ".join(p for p in (item.feed, ", ".join(alert.topics)) if p)
    if footer:
        embed.set_footer(text=clip(defang(footer), FOOTER_MAX))
    image = http_url(item.image)
    if image:
        embed.set_thumbnail(url=image)
    return _fit(embed)


def digest_embed(alert: Alert) -> discord.Embed:
    """One embed for a folded burst: the headline, then one linked title per line."""
    lines: list[str] = []
    used = 0
    for n, item in enumerate(alert.items):
        label = escape((item.title or "(untitled)").replace("[", "(").replace("]", ")"))
        label = clip(label, 200)
        url = http_url(item.link)
        line = f"• [{label}](<{_link_target(url)}>)" if url else f"• {label}"
        if item.feed:
            line += f" — {clip(escape(item.feed), 100)}"
        rest = len(alert.items) - n - 1
        tail = f"\n…and {rest} more" if rest else ""
        if used + len(line) + 1 + len(tail) > DESCRIPTION_MAX - 40:
            lines.append(f"…and {len(alert.items) - n} more")
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(
        title=clip(escape(digest_headline(alert)), TITLE_MAX),
        description="\n".join(lines) or None,
        colour=COLOUR_DIGEST,
    )
    if alert.topics:
        embed.set_footer(text=clip(defang(", ".join(alert.topics)), FOOTER_MAX))
    return _fit(embed)


def reply_embed(reply: Reply) -> discord.Embed:
    return _fit(
        discord.Embed(
            description=clip(escape_reply(reply.text), DESCRIPTION_MAX) or "(empty)",
            colour=COLOUR_OK if reply.ok else COLOUR_ERROR,
        )
    )


def notice_embed(notice: Notice) -> discord.Embed:
    return _fit(
        discord.Embed(
            title="Herald admin notice",
            description=clip(escape_reply(notice.text), DESCRIPTION_MAX) or None,
            colour=COLOUR_NOTICE,
        )
    )


def _choices(names: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    want = current.strip().lower()
    ranked = sorted(
        (n for n in names if want in n.lower()), key=lambda n: (not n.startswith(want), n)
    )
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in ranked[:CHOICES_MAX]]


class CommandSyncState:
    """Hashes of the command sets last synced, per application and target, in a JSON file.

    ``path=None`` keeps them in memory only (every new process syncs once).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, str] = {}

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def put(self, key: str, digest: str) -> None:
        data = self._read()
        data[key] = digest
        if self.path is None:
            self._memory = data
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def command_hash(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


# A Cloudflare ban (Discord: after 10,000 invalid requests in 10 minutes) lasts far longer than a
# rate limit and every request during it counts against us: pause all sends. Cloudflare's
# Retry-After is used when present, kept within these bounds.
CLOUDFLARE_PAUSE = 600.0
CLOUDFLARE_PAUSE_MIN = 60.0
CLOUDFLARE_PAUSE_MAX = 6 * 3600.0


def is_cloudflare_block(exc: discord.HTTPException) -> bool:
    """discord.py's own test: a 429 without ``Via`` or with a body that is not JSON is not
    Discord's rate limiter but Cloudflare in front of it."""
    if exc.status != 429:
        return False
    headers = getattr(exc.response, "headers", None) or {}
    content_type = str(getattr(exc.response, "content_type", "") or "")
    return not headers.get("Via") or content_type != "application/json"


def _header_seconds(exc: discord.HTTPException, name: str) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    try:
        value = float(headers.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def cloudflare_pause(exc: discord.HTTPException) -> float:
    """How long to send nothing after a Cloudflare 429 (seconds)."""
    wait = _header_seconds(exc, "Retry-After")
    if wait is None:
        return CLOUDFLARE_PAUSE
    return min(CLOUDFLARE_PAUSE_MAX, max(CLOUDFLARE_PAUSE_MIN, wait))


def delivery_error(exc: BaseException, token: str | None = None) -> DeliveryError | None:
    """The core's delivery error for a discord.py / network failure (None: not ours to map)."""
    if isinstance(exc, discord.LoginFailure):
        return AdapterFatalError("Discord rejected the bot token; check HERALD_DISCORD_TOKEN")
    if isinstance(exc, discord.RateLimited):
        return TransientDeliveryError(
            f"Discord rate limit of {exc.retry_after:.0f} s", retry_after=exc.retry_after
        )
    if isinstance(exc, discord.HTTPException):
        if is_cloudflare_block(exc):
            pause = cloudflare_pause(exc)
            return TransientDeliveryError(
                f"Discord's Cloudflare refused this IP (HTTP 429 without Via); "
                f"sending nothing for {pause:.0f} s",
                retry_after=pause,
                scope="adapter",
            )
        what = _scrub(f"Discord {exc.status} (code {exc.code}): {exc.text[:200]}", token)
        if isinstance(exc, discord.Forbidden | discord.NotFound):
            return PermanentDeliveryError(what)
        if exc.status == 401:
            return AdapterFatalError(what + "; check HERALD_DISCORD_TOKEN")
        if 400 <= exc.status < 500 and exc.status != 429:
            # An invalid request fails the same way every time, and invalid requests count
            # toward Discord's IP ban: give this message up instead of retrying it.
            return RejectedDeliveryError(what)
        # 5xx, or Discord's own 429 after discord.py's five tries: retrying later is the core's
        # job (it backs off, gives up after delivery.max_attempts and tells admins).
        retry_after = _header_seconds(exc, "Retry-After") if exc.status == 429 else None
        return TransientDeliveryError(what, retry_after=retry_after)
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError("Discord did not answer in time")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TransientDeliveryError(_scrub(f"cannot reach Discord: {exc!r}"[:300], token))
    return None


ErrorHook = Callable[[str, BaseException], None]

# Discord allows 50 requests/s per bot across all routes, and discord.py only reacts to the
# global limit after a 429. Staying a little under it proactively means fan-out never earns one.
GLOBAL_RATE = 48.0


class GlobalPace:
    """Spaces calls at least ``1/rate`` s apart (no bursts), so no 1-second window exceeds
    ``rate`` however many channels a story fans out to."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self.clock.monotonic()
            if self._next > now:
                await self.clock.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


class _Client(discord.Client):
    """discord.Client wired back to its adapter (setup, readiness, errors)."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        # Herald never joins voice: skip the "PyNaCl/davey is not installed" start-up warnings.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(**options)
        self.adapter = adapter
        self.ready_event = asyncio.Event()

    async def setup_hook(self) -> None:
        await self.adapter._sync_commands()

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        exc = sys.exc_info()[1]
        log.exception("discord event %s failed", event_method)
        if exc is not None:
            self.adapter._report(f"event {event_method}", exc)


class DiscordAdapter:
    """The Discord platform. ``start`` returns once the gateway session is READY."""

    platform = PLATFORM

    def __init__(
        self,
        settings: DiscordSettings,
        token: str | None,
        *,
        sync_state: Path | None = None,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        send_timeout: float = 60.0,
        defer_after: float = 1.5,
        error_hook: ErrorHook | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.token = token
        self.sync_state = CommandSyncState(sync_state)
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self.send_timeout = send_timeout
        self.defer_after = defer_after
        self.error_hook = error_hook
        self.clock = clock or SystemClock()
        self.pace = GlobalPace(GLOBAL_RATE, self.clock)
        self.blocked_until: float | None = None  # clock.monotonic() when a Cloudflare ban ends
        self.client: _Client | None = None
        self.tree: app_commands.CommandTree[_Client] | None = None
        self.synced: list[str] = []  # targets synced by this adapter ("global" or a guild id)
        self._commands: CommandHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved_endpoints: tuple[str, yarl.URL] | None = None
        self._fatal: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _wire_endpoints(self) -> None:
        if self._saved_endpoints is None:
            self._saved_endpoints = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.settings.api_base_url.rstrip("/")
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.gateway_url)

    def _restore_endpoints(self) -> None:
        if self._saved_endpoints is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    async def start(self, commands: CommandHandler) -> None:
        self._commands = commands
        if self._task is not None and not self._task.done():
            return  # already connected: run_once starts adapters on every round
        if not self.token:
            raise AdapterFatalError("no Discord bot token: set HERALD_DISCORD_TOKEN")
        if self._task is not None:
            await self.stop()  # the client died since the last start: begin afresh
        self._fatal = None
        self._wire_endpoints()
        client = _Client(
            self,
            intents=discord.Intents.default(),  # no privileged intents
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=self.guild_ready_timeout,
            # Longer waits come back to the core as a retry_after instead of blocking delivery.
            max_ratelimit_timeout=30.0,
            **self._shard_options(),
        )
        self.client = client
        self.tree = self._build_tree(client)
        self._task = asyncio.create_task(self._run(client), name="discord-client")
        ready = asyncio.create_task(client.ready_event.wait())
        try:
            await asyncio.wait(
                {self._task, ready}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if client.ready_event.is_set():
            log.info("connected to Discord as %s", client.user)
            return
        done = self._task.done() and not self._task.cancelled()
        failure = self._task.exception() if done else None
        await self.stop()
        if failure is not None:
            mapped = delivery_error(failure, self.token)
            if isinstance(failure, discord.PrivilegedIntentsRequired):
                mapped = AdapterFatalError(str(failure))
            raise AdapterFatalError(
                f"could not connect to Discord: {mapped or _scrub(repr(failure), self.token)}"
            ) from None
        raise AdapterFatalError(f"Discord did not become ready within {self.ready_timeout:g} s")

    def _shard_options(self) -> dict[str, int]:
        s = self.settings
        if s.shard_id is None or s.shard_count is None:
            return {}
        return {"shard_id": s.shard_id, "shard_count": s.shard_count}

    async def _run(self, client: _Client) -> None:
        assert self.token is not None
        try:
            if not self.settings.gateway:
                # REST only (another instance holds the gateway): log in, send, never connect.
                await client.login(self.token)
                client.ready_event.set()
                await asyncio.Future()  # until stop() cancels us
            await client.start(self.token, reconnect=True)
        except (discord.LoginFailure, discord.PrivilegedIntentsRequired) as exc:
            self._fatal = str(exc)
            raise
        except discord.ConnectionClosed as exc:
            if exc.code in (4004, 4010, 4011, 4012, 4013, 4014):
                self._fatal = f"Discord closed the gateway with {exc.code}"
            raise

    async def stop(self) -> None:
        client, task = self.client, self._task
        self.client, self._task = None, None
        if client is not None:
            await client.close()
        if task is not None:
            task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
            for r in results:
                if isinstance(r, Exception):
                    log.debug("discord client ended: %r", r)
        self._restore_endpoints()

    # -- command sync ------------------------------------------------------------------------

    async def _sync_commands(self) -> None:
        client, tree = self.client, self.tree
        assert client is not None and tree is not None
        guild = discord.Object(int(self.settings.test_guild)) if self.settings.test_guild else None
        if guild is not None:
            tree.copy_global_to(guild=guild)
        target = str(guild.id) if guild is not None else "global"
        payload = [c.to_dict(tree) for c in tree.get_commands(guild=guild)]
        key = f"{client.application_id}/{target}"
        digest = command_hash(payload)
        if self.sync_state.get(key) == digest:
            log.info("Discord commands unchanged (%s); not syncing", target)
            return
        try:
            await tree.sync(guild=guild)
        except discord.HTTPException as exc:
            if exc.status == 401:
                raise
            # Commands from an earlier sync keep working; try again on the next start.
            log.error("Discord command sync to %s failed: %s", target, exc)
            return
        self.sync_state.put(key, digest)
        self.synced.append(target)
        log.info("synced %d Discord command group(s) to %s", len(payload), target)

    # -- commands ----------------------------------------------------------------------------

    def _build_tree(self, client: _Client) -> app_commands.CommandTree[_Client]:
        tree: app_commands.CommandTree[_Client] = app_commands.CommandTree(client)
        news = app_commands.Group(
            name="news", description="News alerts in this channel", guild_only=True
        )
        admin = app_commands.Group(
            name="news-admin",
            description="Manage Herald's feeds and topics",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )

        @news.command(name="subscribe", description="Post new stories on a topic here")
        @app_commands.describe(topic="A topic; see /news topics")
        async def subscribe(interaction: discord.Interaction[_Client], topic: str) -> None:
            await self._run_command(interaction, f"subscribe {topic}")

        @subscribe.autocomplete("topic")
        async def _subscribe_topics(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return _choices(await self._handler().topic_names(), current)

        @news.command(name="unsubscribe", description="Stop posting a topic here")
        @app_commands.describe(topic="One of this channel's topics")
        async def unsubscribe(interaction: discord.Interaction[_Client], topic: str) -> None:
            await self._run_command(interaction, f"unsubscribe {topic}")

        @unsubscribe.autocomplete("topic")
        async def _channel_topics(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            caller = self._caller(interaction)
            return _choices(await self._handler().channel_topics(caller), current)

        @news.command(name="subscriptions", description="The topics this channel follows")
        async def subscriptions(interaction: discord.Interaction[_Client]) -> None:
            await self._run_command(interaction, "subscriptions")

        @news.command(name="topics", description="Every topic you can follow")
        async def topics(interaction: discord.Interaction[_Client]) -> None:
            await self._run_command(interaction, "topics")

        @news.command(name="latest", description="The newest stories")
        @app_commands.describe(topic="Only this topic", n="How many (1-10)")
        async def latest(
            interaction: discord.Interaction[_Client],
            topic: str | None = None,
            n: app_commands.Range[int, 1, 10] | None = None,
        ) -> None:
            words = ["latest", *([topic] if topic else []), *([str(n)] if n else [])]
            await self._run_command(interaction, " ".join(words), slow=True)

        @latest.autocomplete("topic")
        async def _latest_topics(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return _choices(await self._handler().topic_names(), current)

        @admin.command(name="feed-add", description="Add a feed (it is fetched and checked first)")
        @app_commands.describe(url="The feed's http(s) URL", name="A short display name")
        async def feed_add(
            interaction: discord.Interaction[_Client], url: str, name: str | None = None
        ) -> None:
            text = f"feed add {url}" + (f" {name}" if name else "")
            await self._run_command(interaction, text, slow=True)

        @admin.command(name="feed-remove", description="Remove a feed")
        @app_commands.describe(url="The feed's URL, as /news-admin feed-list shows it")
        async def feed_remove(interaction: discord.Interaction[_Client], url: str) -> None:
            await self._run_command(interaction, f"feed remove {url}")

        @admin.command(name="feed-list", description="Every feed with its health")
        async def feed_list(interaction: discord.Interaction[_Client]) -> None:
            await self._run_command(interaction, "feed list", slow=True)

        @admin.command(name="topic-add", description="Define or change a topic")
        @app_commands.describe(name="Topic name", query='Query, e.g. nato OR "north atlantic"')
        async def topic_add(
            interaction: discord.Interaction[_Client], name: str, query: str
        ) -> None:
            await self._run_command(interaction, f"topic add {name} {query}")

        @admin.command(name="topic-remove", description="Delete a topic and its subscriptions")
        @app_commands.describe(name="Topic name")
        async def topic_remove(interaction: discord.Interaction[_Client], name: str) -> None:
            await self._run_command(interaction, f"topic remove {name}")

        @topic_remove.autocomplete("name")
        async def _all_topics(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return _choices(await self._handler().topic_names(), current)

        @admin.command(name="topic-test", description="Which recent stories a query matches")
        @app_commands.describe(query='Query, e.g. nato OR "north atlantic"')
        async def topic_test(interaction: discord.Interaction[_Client], query: str) -> None:
            await self._run_command(interaction, f"topic test {query}", slow=True)

        @admin.command(name="admin-channel", description="Send admin notices to this channel")
        async def admin_channel(interaction: discord.Interaction[_Client]) -> None:
            await self._run_command(interaction, "admin channel")

        @tree.error
        async def on_tree_error(
            interaction: discord.Interaction[_Client], error: app_commands.AppCommandError
        ) -> None:
            log.error("Discord command failed", exc_info=error)
            self._report("command", error)
            if interaction.type is discord.InteractionType.application_command:
                with contextlib.suppress(discord.HTTPException):
                    embed = reply_embed(
                        Reply("Something went wrong on our side; try again in a minute.", ok=False)
                    )
                    if interaction.response.is_done():
                        await interaction.followup.send(
                            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
                        )
                    else:
                        await interaction.response.send_message(
                            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
                        )

        tree.add_command(news)
        tree.add_command(admin)
        return tree

    def _handler(self) -> CommandHandler:
        if self._commands is None:
            raise RuntimeError("the Discord adapter was not started")
        return self._commands

    def _report(self, where: str, exc: BaseException) -> None:
        if self.error_hook is not None:
            self.error_hook(where, exc)

    def _caller(self, interaction: discord.Interaction[_Client]) -> Caller:
        user = interaction.user
        # interaction.permissions is what Discord resolved for this member (owner and
        # Administrator included); the cached guild view is a second opinion when available.
        admin = interaction.permissions.manage_guild
        guild = interaction.guild
        if not admin and isinstance(user, discord.Member) and guild and not guild.unavailable:
            admin = user.guild_permissions.manage_guild
        return Caller(
            PLATFORM,
            str(user.id),
            str(interaction.channel_id),
            workspace=str(interaction.guild_id) if interaction.guild_id else None,
            is_platform_admin=admin,
            display_name=user.display_name,
        )

    async def _run_command(
        self, interaction: discord.Interaction[_Client], text: str, *, slow: bool = False
    ) -> None:
        """Run ``text`` through the core and answer ephemerally.

        Discord wants a first response within 3 s: known-slow commands defer at once, others
        defer only if the core has not answered within ``defer_after``, then follow up.
        """
        work = asyncio.ensure_future(self._handler().handle(self._caller(interaction), text))
        if not slow:
            await asyncio.wait({work}, timeout=self.defer_after)
        if work.done():
            await interaction.response.send_message(
                embed=reply_embed(work.result()), ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await work
        await interaction.followup.send(
            embed=reply_embed(reply), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # -- delivery ----------------------------------------------------------------------------

    def _messageable(self, channel: str, workspace: str | None) -> discord.PartialMessageable:
        client = self.client
        if self._fatal is not None:
            raise AdapterFatalError(self._fatal)
        if client is None or client.is_closed():
            raise TransientDeliveryError("the Discord client is not connected")
        if not channel.isdigit():
            raise PermanentDeliveryError(f"{channel!r} is not a Discord channel id")
        guild_id = int(workspace) if workspace and workspace.isdigit() else None
        return client.get_partial_messageable(int(channel), guild_id=guild_id)

    def _check_blocked(self) -> None:
        """Refuse without a request while a Cloudflare ban lasts: every request would count."""
        if self.blocked_until is None:
            return
        left = self.blocked_until - self.clock.monotonic()
        if left <= 0:
            self.blocked_until = None
            log.info("Discord Cloudflare pause over; sending again")
            return
        raise TransientDeliveryError(
            f"Discord's Cloudflare refused this IP; sending nothing for another {left:.0f} s",
            retry_after=left,
            scope="adapter",
        )

    async def _post(
        self, target: discord.PartialMessageable, embed: discord.Embed, nonce: str
    ) -> str:
        self._check_blocked()
        await self.pace.wait()
        self._check_blocked()  # another send may have been banned while this one waited
        try:
            message = await asyncio.wait_for(
                target.send(embed=embed, nonce=nonce, allowed_mentions=NO_MENTIONS),
                timeout=self.send_timeout,
            )
        except Exception as exc:
            mapped = delivery_error(exc, self.token)
            if mapped is None:
                raise
            if isinstance(exc, discord.HTTPException) and is_cloudflare_block(exc):
                pause = mapped.retry_after if isinstance(mapped, TransientDeliveryError) else None
                self.blocked_until = self.clock.monotonic() + (pause or CLOUDFLARE_PAUSE)
                log.error("%s; every Discord channel waits", mapped)
            raise mapped from None
        return str(message.id)

    async def send_alert(self, alert: Alert) -> str | None:
        target = self._messageable(alert.channel, alert.workspace)
        # discord.py sends enforce_nonce=True with any nonce: Discord then returns the message
        # it already created for this nonce instead of posting a duplicate.
        return await self._post(target, alert_embed(alert), nonce_for(alert.delivery_id))

    async def send_notice(self, notice: Notice) -> str | None:
        target = self._messageable(notice.channel, notice.workspace)
        # Same notice, same nonce: a retried notice is not posted twice either.
        key = hashlib.sha256(f"{notice.channel}\n{notice.text}".encode()).hexdigest()[:18]
        return await self._post(target, notice_embed(notice), f"hn-{key}")


def create(ctx: AdapterContext) -> DiscordAdapter:
    token = ctx.settings.secret("discord_token")
    if not token:
        raise ConfigError(
            ["adapters.discord: no bot token; set HERALD_DISCORD_TOKEN (see docs/discord.md)"]
        )
    return DiscordAdapter(
        ctx.settings.adapters.discord,
        token,
        sync_state=Path("var") / "discord-commands.json",
        clock=ctx.clock,
    )
