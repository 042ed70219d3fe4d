"""The platform-neutral command service behind ``/news`` on every adapter.

Owns the command grammar (``subscribe nato``, ``feed add URL [name]``, ...), permission checks
(admin = the platform says so, or the user is listed in config ``admins``), input validation and
the replies' wording. Replies are plain text; adapters escape them for their platform. Every bad
input gets a reply that says what to do next; nothing here raises to the adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from bot.clock import Clock
from bot.errors import CommandError, FetchError, ParseError, QueryError
from bot.fetch import Fetcher
from bot.normalize import read_feed_off_loop
from bot.settings import Settings
from bot.storage import Storage
from bot.topics import MatchDoc, parse_query, prepare, validate_topic_name
from bot.types import Caller, Entry, ParsedFeed, Reply

log = logging.getLogger("herald.commands")

MAX_INPUT = 1000
PREFIXES = ("/news", "news", "/news-admin", "news-admin")
MAX_LATEST = 10

HELP = """Herald news alerts. Commands:
  subscribe <topic>      get alerts for a topic in this channel
  unsubscribe <topic>    stop them
  subscriptions          what this channel follows
  topics                 every topic you can follow
  latest [topic] [n]     the newest stories (n up to 10)
Admin only:
  feed add <url> [name]  add a feed (checked first)
  feed remove <url>      remove a feed
  feed list              every feed with its health
  topic add <name> <query>   define or change a topic, e.g. topic add nato nato OR "north atlantic"
  topic remove <name>    delete a topic and its subscriptions
  topic test <query>     which recent stories a query matches, and why
  admin channel          send admin notices (paused channels, dead feeds) to this channel"""

ADMIN_COMMANDS = {
    "feed add",
    "feed remove",
    "feed list",
    "topic add",
    "topic remove",
    "topic test",
    "admin channel",
}


class DocumentReader(Protocol):
    async def __call__(
        self, body: bytes, *, url: str, content_type: str | None
    ) -> tuple[ParsedFeed, list[Entry]]: ...


async def _read_in_thread(
    body: bytes, *, url: str, content_type: str | None
) -> tuple[ParsedFeed, list[Entry]]:
    return await read_feed_off_loop(body, url=url, content_type=content_type)


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


class CommandService:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        fetcher: Fetcher,
        *,
        clock: Clock,
        on_change: Callable[[], Awaitable[None]] | None = None,
        read_document: DocumentReader | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.fetcher = fetcher
        self.clock = clock
        self.on_change = on_change
        self.read_document = read_document or _read_in_thread

    def is_admin(self, caller: Caller) -> bool:
        return caller.is_platform_admin or self.settings.is_admin(caller.platform, caller.user_id)

    async def handle(self, caller: Caller, text: str) -> Reply:
        """Run one command line (with or without a leading ``/news``)."""
        try:
            return await self._dispatch(caller, text)
        except CommandError as exc:
            return Reply(str(exc), ok=False)
        except Exception:
            log.exception("command failed: %r", text[:200])
            return Reply(
                "Something went wrong on our side; the error was logged. Try again in a minute.",
                ok=False,
            )

    async def _dispatch(self, caller: Caller, text: str) -> Reply:
        if len(text) > MAX_INPUT:
            raise CommandError(
                f"That command is too long ({len(text)} characters; the limit is {MAX_INPUT})."
            )
        line = text.strip()
        first = line.split(None, 1)
        if first and first[0].lower() in PREFIXES:
            line = first[1] if len(first) > 1 else ""
        words = line.split()
        if not words or words[0].lower() in ("help", "-h", "--help", "?"):
            return Reply(HELP)
        head = words[0].lower()
        if head in ("feed", "topic", "admin") and len(words) >= 2:
            name, taken = f"{head} {words[1].lower()}", 2
        else:
            name, taken = head, 1
        pieces = line.split(None, taken)
        raw = pieces[taken] if len(pieces) > taken else ""
        args = words[taken:]
        if name in ADMIN_COMMANDS and not self.is_admin(caller):
            raise CommandError(
                f"`{name}` is for admins only. Ask a server admin, or have "
                f"your user id ({caller.user_id}) added to `admins` in the "
                f"config."
            )
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "subscriptions": self._subscriptions,
            "topics": self._topics,
            "latest": self._latest,
            "feed add": self._feed_add,
            "feed remove": self._feed_remove,
            "feed list": self._feed_list,
            "topic add": self._topic_add,
            "topic remove": self._topic_remove,
            "topic test": self._topic_test,
            "admin channel": self._admin_channel,
        }.get(name)
        if handler is None:
            raise CommandError(f"Unknown command `{name[:40]}`. Try `/news help`.")
        return await handler(caller, args, raw)

    async def topic_names(self) -> list[str]:
        return await self._topic_names()

    async def channel_topics(self, caller: Caller) -> list[str]:
        subs = await self.storage.list_subscriptions(
            caller.platform, caller.workspace, caller.channel
        )
        return [s.topic for s in subs]

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    async def _topic_names(self) -> list[str]:
        return [t.name for t in await self.storage.list_topics()]

    async def _known_topic(self, raw_name: str) -> str:
        try:
            name = validate_topic_name(raw_name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        names = await self._topic_names()
        if name not in names:
            listing = ", ".join(names) or "none yet (an admin adds them with `topic add`)"
            raise CommandError(f"There is no topic `{name}`. Topics: {listing}.")
        return name

    async def _subscribe(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if len(args) != 1:
            raise CommandError("Usage: `subscribe <topic>` — see `topics` for the list.")
        topic = await self._known_topic(args[0])
        outcome = await self.storage.subscribe(
            caller.platform,
            caller.workspace,
            caller.channel,
            topic,
            now=self.clock.now(),
            source="user",
            created_by=caller.user_id,
        )
        text = {
            "created": f"Subscribed this channel to `{topic}`. New stories will be posted here.",
            "resumed": f"Resumed `{topic}` in this channel (it had been paused).",
            "exists": f"This channel already follows `{topic}`.",
        }[outcome]
        return Reply(text)

    async def _unsubscribe(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if len(args) != 1:
            raise CommandError("Usage: `unsubscribe <topic>` — see `subscriptions`.")
        try:
            topic = validate_topic_name(args[0])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if await self.storage.unsubscribe(caller.platform, caller.workspace, caller.channel, topic):
            return Reply(f"Unsubscribed this channel from `{topic}`.")
        raise CommandError(f"This channel does not follow `{topic}`. See `subscriptions`.")

    async def _subscriptions(self, caller: Caller, args: list[str], raw: str) -> Reply:
        subs = await self.storage.list_subscriptions(
            caller.platform, caller.workspace, caller.channel
        )
        if not subs:
            return Reply(
                "This channel follows no topics yet. Try `topics`, then `subscribe <topic>`."
            )
        lines = [
            f"{s.topic}" + (f" (paused: {s.paused_reason})" if s.state != "active" else "")
            for s in subs
        ]
        return Reply("This channel follows: " + ", ".join(lines), lines=tuple(lines))

    async def _topics(self, caller: Caller, args: list[str], raw: str) -> Reply:
        topics = await self.storage.list_topics()
        if not topics:
            return Reply(
                "No topics are defined yet. An admin adds one with `topic add <name> <query>`."
            )
        lines = tuple(f"{t.name}: {t.query}" for t in topics)
        return Reply("Topics:\n" + "\n".join(lines), lines=lines)

    async def _latest(self, caller: Caller, args: list[str], raw: str) -> Reply:
        n = 5
        topic: str | None = None
        for a in args:
            if a.isdigit():
                n = int(a)
            elif topic is None:
                topic = await self._known_topic(a)
            else:
                raise CommandError("Usage: `latest [topic] [n]`.")
        if not 1 <= n <= MAX_LATEST:
            raise CommandError(f"n must be between 1 and {MAX_LATEST}.")
        queries = {t.name: parse_query(t.query) for t in await self.storage.list_topics()}
        if topic is not None:
            wanted = {topic: queries[topic]}
        else:
            subs = await self.storage.list_subscriptions(
                caller.platform, caller.workspace, caller.channel
            )
            wanted = {s.topic: queries[s.topic] for s in subs if s.topic in queries}
        found: list[str] = []
        for entry, feed in await self.storage.recent_entries(500):
            doc = prepare(MatchDoc(entry.title, entry.summary, feed, entry.categories))
            if wanted and not any(q.matches(doc) for q in wanted.values()):
                continue
            found.append(f"{entry.title} — {feed}" + (f" <{entry.link}>" if entry.link else ""))
            if len(found) >= n:
                break
        if not found:
            scope = f"on `{topic}`" if topic else "for this channel's topics" if wanted else ""
            return Reply(f"No stories {scope} yet.".replace("  ", " "))
        return Reply("Latest:\n" + "\n".join(found), lines=tuple(found))

    # -- admin ---------------------------------------------------------------------------

    async def _feed_add(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if not args:
            raise CommandError("Usage: `feed add <url> [name]`.")
        url = args[0].strip("<>")
        name = " ".join(args[1:]).strip()[:100] or None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
            raise CommandError("A feed URL must be an http:// or https:// address.")
        try:
            result = await self.fetcher.fetch(url)
            assert result.body is not None
            parsed, entries = await self.read_document(
                result.body, url=result.url, content_type=result.content_type
            )
        except (FetchError, ParseError) as exc:
            raise CommandError(f"Could not add that feed: {exc}. Nothing was changed.") from None
        _, created = await self.storage.add_feed(
            url,
            now=self.clock.now(),
            name=name,
            source="admin",
            title=(parsed.title or "")[:300] or None,
        )
        await self._changed()
        newest = f" Newest: “{entries[0].title}”." if entries and entries[0].title else ""
        verb = "Added" if created else "Updated"
        warn = " (the document had errors but was readable)" if parsed.bozo else ""
        return Reply(
            f"{verb} feed {name or parsed.title or url}: {parsed.format}, {len(entries)} "
            f"item(s){warn}.{newest} Existing items are marked as seen; new ones will be posted."
        )

    async def _feed_remove(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if len(args) != 1:
            raise CommandError("Usage: `feed remove <url>` — see `feed list`.")
        url = args[0].strip("<>")
        if await self.storage.remove_feed(url):
            await self._changed()
            return Reply(f"Removed feed {url}.")
        raise CommandError(f"No feed {url}. See `feed list` for the exact URLs.")

    async def _feed_list(self, caller: Caller, args: list[str], raw: str) -> Reply:
        feeds = await self.storage.list_feeds()
        if not feeds:
            return Reply("No feeds yet. Add one with `feed add <url>`.")
        lines = []
        for f in feeds:
            health = {"new": "not polled yet", "ok": "ok"}.get(f.state, f.state)
            line = f"{f.display_name} <{f.url}> — {health}"
            if f.state in ("failing", "disabled"):
                line += f" ({f.consecutive_failures} failures; last error: {f.last_error})"
            line += f"; last new item: {_fmt_time(f.last_new_at)}"
            lines.append(line)
        pending = [n.text for n in await self.storage.notices() if n.status == "logged"][-5:]
        if pending:
            lines.append("Recent admin notices (no admin channel set):")
            lines.extend(f"  {p}" for p in pending)
        return Reply("Feeds:\n" + "\n".join(lines), lines=tuple(lines))

    async def _topic_add(self, caller: Caller, args: list[str], raw: str) -> Reply:
        parts = raw.strip().split(None, 1)
        if len(parts) != 2:
            raise CommandError(
                'Usage: `topic add <name> <query>`, e.g. `topic add nato nato OR "north atlantic"`.'
            )
        try:
            name = validate_topic_name(parts[0])
            query = parse_query(parts[1])
        except QueryError as exc:
            raise CommandError(f"That query does not parse: {exc}\n{exc.pointer()}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        created = await self.storage.upsert_topic(
            name,
            parts[1].strip(),
            now=self.clock.now(),
            source="admin",
            created_by=caller.user_id,
        )
        await self._changed()
        verb = "Created" if created else "Updated"
        return Reply(f"{verb} topic `{name}`: {query}. Channels follow it with `subscribe {name}`.")

    async def _topic_remove(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if len(args) != 1:
            raise CommandError("Usage: `topic remove <name>`.")
        name = await self._known_topic(args[0])
        await self.storage.remove_topic(name)
        await self._changed()
        return Reply(f"Removed topic `{name}` and every subscription to it.")

    async def _topic_test(self, caller: Caller, args: list[str], raw: str) -> Reply:
        if not raw.strip():
            raise CommandError("Usage: `topic test <query>`.")
        lines = await topic_test(self.storage, raw.strip(), limit=10)
        return Reply("\n".join(lines), lines=tuple(lines))

    async def _admin_channel(self, caller: Caller, args: list[str], raw: str) -> Reply:
        await self.storage.set_admin_channel(caller.platform, caller.workspace, caller.channel)
        return Reply("Admin notices for this workspace will be posted in this channel.")


async def topic_test(
    storage: Storage, query_text: str, *, limit: int = 10, scan: int = 1000
) -> list[str]:
    """Lines saying which recent stored stories ``query_text`` matches, and why."""
    try:
        query = parse_query(query_text)
    except QueryError as exc:
        raise CommandError(f"That query does not parse: {exc}\n{exc.pointer()}") from None
    hits: list[str] = []
    recent = await storage.recent_entries(scan)
    for entry, feed in recent:
        doc = prepare(MatchDoc(entry.title, entry.summary, feed, entry.categories))
        why = query.explain(doc)
        if why:
            hits.append(f"✓ {entry.title} — {feed} [{'; '.join(why)}]")
            if len(hits) >= limit:
                break
    head = (
        f"Query {query} matches {len(hits)}{'+' if len(hits) >= limit else ''} of the "
        f"{len(recent)} most recent stories."
    )
    return [head, *hits]
