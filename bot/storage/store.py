"""The Storage class: every query Herald makes, on SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, and_, bindparam, delete, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import ColumnElement, Insert

from bot.errors import StorageError
from bot.redact import redact
from bot.storage import schema as t

MIGRATIONS = Path(__file__).with_name("migrations")


def async_url(url: str) -> str:
    """Map a user-facing URL (``sqlite:///var/x.db``, ``postgresql://...``) to its async driver."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise StorageError(f"unsupported storage url scheme {backend!r}: use sqlite or postgresql")


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: int
    url: str
    name: str | None
    title: str | None
    source: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    interval: float | None
    backfill: int | None
    next_poll_at: datetime
    consecutive_failures: int
    state: str
    last_error: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_new_at: datetime | None
    created_at: datetime
    last_parsed_at: datetime | None

    @property
    def display_name(self) -> str:
        return self.name or self.title or redact(self.url)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: int
    feed_id: int
    key: str
    story_key: str
    link_key_hash: str | None
    title_key_hash: str
    title: str
    link: str | None
    summary: str
    published: datetime | None
    categories: tuple[str, ...]
    image: str | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class EntryRef:
    """What detection needs of a stored entry: its identities, not its text."""

    feed_id: int
    key: str
    story_key: str
    link_key_hash: str | None
    title_key_hash: str
    link: str | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    query: str
    source: str


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: int
    platform: str
    workspace: str
    channel: str
    topic: str
    state: str
    paused_reason: str | None
    source: str


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    platform: str
    workspace: str
    channel: str
    story_key: str
    kind: str
    topics: tuple[str, ...]
    payload: list[dict[str, Any]]
    status: str
    attempts: int
    next_attempt_at: datetime
    message_id: str | None
    last_error: str | None
    created_at: datetime
    sends: int = 0
    first_send_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NoticeRow:
    id: int
    platform: str | None
    workspace: str | None
    channel: str | None
    text: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PollCommit:
    """What one successful poll writes (see :meth:`Storage.commit_polls`)."""

    feed_id: int
    new_rows: Sequence[dict[str, Any]] = ()
    seen_keys: Sequence[str] = ()
    deliveries: Sequence[dict[str, Any]] = ()
    feed_values: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AdminChannelRow:
    platform: str
    workspace: str
    channel: str


def _feed(r: Any) -> FeedRow:
    return FeedRow(**{k: r._mapping[k] for k in FeedRow.__slots__})


def _entry(r: Any) -> StoredEntry:
    m = r._mapping
    return StoredEntry(
        id=m["id"],
        feed_id=m["feed_id"],
        key=m["key"],
        story_key=m["story_key"],
        link_key_hash=m["link_key_hash"],
        title_key_hash=m["title_key_hash"],
        title=m["title"],
        link=m["link"],
        summary=m["summary"],
        published=m["published"],
        categories=tuple(json.loads(m["categories"] or "[]")),
        image=m["image"],
        first_seen_at=m["first_seen_at"],
    )


def _delivery(r: Any) -> DeliveryRow:
    m = r._mapping
    return DeliveryRow(
        id=m["id"],
        platform=m["platform"],
        workspace=m["workspace"],
        channel=m["channel"],
        story_key=m["story_key"],
        kind=m["kind"],
        topics=tuple(json.loads(m["topics"])),
        payload=json.loads(m["payload"]),
        status=m["status"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        message_id=m["message_id"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        sends=m["sends"],
        first_send_at=m["first_send_at"],
    )


def _notice(r: Any) -> NoticeRow:
    return NoticeRow(**{k: r._mapping[k] for k in NoticeRow.__slots__})


def _sub(r: Any) -> SubscriptionRow:
    return SubscriptionRow(**{k: r._mapping[k] for k in SubscriptionRow.__slots__})


class Storage:
    """Herald's database. Create with :func:`open_storage`; close with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()

    # -- helpers -------------------------------------------------------------------------

    def _insert(self, table: Any) -> Insert:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_ignore(self, table: Any, *index: str) -> Insert:
        ins = self._insert(table)
        if isinstance(ins, postgresql.Insert):
            return ins.on_conflict_do_nothing(index_elements=list(index) or None)
        assert isinstance(ins, sqlite.Insert)
        return ins.on_conflict_do_nothing(index_elements=list(index) or None)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent; safe on every start)."""

        def upgrade(sync_conn: Connection) -> None:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        try:
            async with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    # Several instances may start together: one migrates, the others wait.
                    await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")
                await conn.run_sync(upgrade)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot migrate the database: {exc.__class__.__name__}") from exc

    async def schema_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            row = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])

    # -- feeds ---------------------------------------------------------------------------

    async def list_feeds(self) -> list[FeedRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.feeds).order_by(t.feeds.c.id))
            return [_feed(r) for r in rows]

    async def get_feed(self, *, id: int | None = None, url: str | None = None) -> FeedRow | None:
        cond = t.feeds.c.id == id if id is not None else t.feeds.c.url == url
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(t.feeds).where(cond))).first()
            return None if r is None else _feed(r)

    async def add_feed(
        self,
        url: str,
        *,
        now: datetime,
        name: str | None = None,
        source: str = "admin",
        interval: float | None = None,
        backfill: int | None = None,
        title: str | None = None,
    ) -> tuple[FeedRow, bool]:
        """Insert a feed (due at once); returns (row, created). An existing URL is updated."""
        async with self.engine.begin() as conn:
            existing = (await conn.execute(select(t.feeds).where(t.feeds.c.url == url))).first()
            if existing is not None:
                await conn.execute(
                    update(t.feeds)
                    .where(t.feeds.c.id == existing.id)
                    .values(name=name, interval=interval, backfill=backfill, source=source)
                )
                row = (await conn.execute(select(t.feeds).where(t.feeds.c.url == url))).one()
                return _feed(row), False
            await conn.execute(
                t.feeds.insert().values(
                    url=url,
                    name=name,
                    title=title,
                    source=source,
                    interval=interval,
                    backfill=backfill,
                    next_poll_at=now,
                    state="new",
                    consecutive_failures=0,
                    created_at=now,
                )
            )
            row = (await conn.execute(select(t.feeds).where(t.feeds.c.url == url))).one()
            return _feed(row), True

    async def sync_config_feeds(self, feeds: Sequence[dict[str, Any]], *, now: datetime) -> None:
        """Insert the config's feeds (due at once) and refresh the settings of known ones."""
        if not feeds:
            return
        c = t.feeds.c
        async with self.engine.begin() as conn:
            known = {r.url: r.id for r in await conn.execute(select(c.url, c.id))}
            fresh = [f for f in feeds if f["url"] not in known]
            if fresh:
                await conn.execute(
                    self._insert_ignore(t.feeds, "url"),
                    [
                        {
                            **f,
                            "source": "config",
                            "next_poll_at": now,
                            "state": "new",
                            "consecutive_failures": 0,
                            "created_at": now,
                        }
                        for f in fresh
                    ],
                )
            for f in feeds:
                if f["url"] in known:
                    await conn.execute(
                        update(t.feeds)
                        .where(c.id == known[f["url"]])
                        .values(
                            name=f["name"],
                            interval=f["interval"],
                            backfill=f["backfill"],
                            source="config",
                        )
                    )

    async def remove_feed(self, url: str) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(t.feeds).where(t.feeds.c.url == url))
            return bool(res.rowcount)

    async def remove_config_feeds_except(self, urls: Iterable[str]) -> list[str]:
        """Forget feeds that came from the config file but are no longer in it."""
        keep = set(urls)
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                select(t.feeds.c.id, t.feeds.c.url).where(t.feeds.c.source == "config")
            )
            gone = [(r.id, r.url) for r in rows if r.url not in keep]
            if gone:
                await conn.execute(delete(t.feeds).where(t.feeds.c.id.in_([g[0] for g in gone])))
            return [g[1] for g in gone]

    async def due_feeds(self, now: datetime, limit: int = 500) -> list[FeedRow]:
        """Feeds whose poll time has come (disabled ones too: they are probed rarely)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.feeds)
                .where(t.feeds.c.next_poll_at <= now)
                .order_by(t.feeds.c.next_poll_at)
                .limit(limit)
            )
            return [_feed(r) for r in rows]

    async def claim_due_feeds(
        self, now: datetime, *, lease: float, limit: int = 500
    ) -> list[FeedRow]:
        """Claim due feeds for one poll: their next poll time moves ``lease`` seconds ahead.

        Several instances sharing PostgreSQL each get different feeds (``SKIP LOCKED``); the
        poll's outcome then sets the real next poll time. If the instance dies mid-poll, the
        feed falls due again when the lease runs out and another instance takes it.
        """
        c = t.feeds.c
        rows = await self._claim(
            t.feeds, c.next_poll_at, [c.next_poll_at <= now], c.next_poll_at, now, lease, limit
        )
        # Callers see the schedule as it was when claimed (the poll decides the next one).
        return [replace(_feed(r), next_poll_at=now) for r in rows]

    async def update_feeds(self, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Apply several feeds' updates in one transaction, one executemany per shape."""
        async with self.engine.begin() as conn:
            await self._update_feeds(conn, rows)

    async def _update_feeds(
        self, conn: AsyncConnection, rows: Sequence[tuple[int, dict[str, Any]]]
    ) -> None:
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for feed_id, values in rows:
            shapes.setdefault(tuple(sorted(values)), []).append({"_id": feed_id, **values})
        for keys, params in shapes.items():
            stmt = (
                update(t.feeds)
                .where(t.feeds.c.id == bindparam("_id"))
                .values({k: bindparam(k) for k in keys})
            )
            await conn.execute(stmt, params)

    async def update_feed(self, feed_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(t.feeds).where(t.feeds.c.id == feed_id).values(**values))

    # -- entries (the seen store) -----------------------------------------------------------

    async def entries_for_detect_many(
        self,
        feed_ids: Sequence[int],
        *,
        keys: Sequence[str],
        link_hashes: Sequence[str],
        title_hashes: Sequence[str],
        title_since: datetime,
        link_since: datetime,
    ) -> list[EntryRef]:
        """Stored entries that may be the same story as some document's entries (a superset:
        :mod:`bot.detect` keeps, per document, the rows that concern it).

        Entries of ``feed_ids`` with one of ``keys`` or ``link_hashes``, or one of
        ``title_hashes`` seen since ``title_since``; and entries of any feed with one of
        ``link_hashes`` seen since ``link_since`` (cross-outlet syndication).
        """
        c = t.entries.c
        own: list[ColumnElement[bool]] = []
        if keys:
            own.append(c.key.in_(list(keys)))
        if link_hashes:
            own.append(c.link_key_hash.in_(list(link_hashes)))
        if title_hashes:
            own.append(
                and_(c.title_key_hash.in_(list(title_hashes)), c.first_seen_at >= title_since)
            )
        conds = []
        if feed_ids and own:
            conds.append(and_(c.feed_id.in_(list(feed_ids)), or_(*own)))
        if link_hashes:
            conds.append(
                and_(c.link_key_hash.in_(list(link_hashes)), c.first_seen_at >= link_since)
            )
        if not conds:
            return []
        cols = [c[name] for name in EntryRef.__slots__]
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(*cols).where(or_(*conds)))
            return [EntryRef(*r) for r in rows]

    async def commit_polls(self, commits: Sequence[PollCommit], *, now: datetime) -> list[int]:
        """In one transaction, for every polled feed: record its new entries, refresh
        ``last_seen_at`` of those still in its document, update its row and queue its
        deliveries. Returns, per commit, how many deliveries were queued (a (channel, story)
        already queued or sent is skipped)."""
        e = t.entries.c
        async with self.engine.begin() as conn:
            rows = [{**r, "feed_id": c.feed_id} for c in commits for r in c.new_rows]
            if rows:
                await conn.execute(self._insert_ignore(t.entries, "feed_id", "key"), rows)
            seen = [{"_f": c.feed_id, "_k": k} for c in commits for k in c.seen_keys]
            if seen:
                await conn.execute(
                    update(t.entries)
                    .where(e.feed_id == bindparam("_f"), e.key == bindparam("_k"))
                    .values(last_seen_at=now),
                    seen,
                )
            await self._update_feeds(
                conn, [(c.feed_id, c.feed_values) for c in commits if c.feed_values]
            )
            return await self._enqueue_many(conn, [c.deliveries for c in commits])

    async def prune_entries(self, before: datetime) -> int:
        """Retention: drop entries unseen since ``before`` that left their feed's document.

        An entry seen in its feed's most recently parsed document is kept however old: a feed
        whose body has not changed for months still lists it, and forgetting it would announce
        it again on the feed's next change.
        """
        e, f = t.entries.c, t.feeds.c
        latest = select(f.last_parsed_at).where(f.id == e.feed_id).scalar_subquery()
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(t.entries).where(
                    e.last_seen_at < before,
                    or_(latest.is_(None), e.last_seen_at < latest),
                )
            )
            return int(res.rowcount or 0)

    async def recent_entries(self, limit: int = 200) -> list[tuple[StoredEntry, str]]:
        """Newest first, with the feed's display name; one row per story."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.entries, func.coalesce(t.feeds.c.name, t.feeds.c.title, t.feeds.c.url))
                .join(t.feeds, t.feeds.c.id == t.entries.c.feed_id)
                .order_by(t.entries.c.first_seen_at.desc(), t.entries.c.id.desc())
                .limit(limit * 2)
            )
            out: list[tuple[StoredEntry, str]] = []
            stories: set[str] = set()
            for r in rows:
                entry = _entry(r)
                # A renamed or syndicated copy shares its story_key: show the story once.
                if entry.story_key not in stories:
                    stories.add(entry.story_key)
                    out.append((entry, str(r[-1])))
            return out[:limit]

    async def count_entries(self, feed_id: int | None = None) -> int:
        q = select(func.count()).select_from(t.entries)
        if feed_id is not None:
            q = q.where(t.entries.c.feed_id == feed_id)
        async with self.engine.connect() as conn:
            return int(await conn.scalar(q) or 0)

    # -- topics --------------------------------------------------------------------------

    async def list_topics(self) -> list[TopicRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.topics).order_by(t.topics.c.name))
            return [TopicRow(r.name, r.query, r.source) for r in rows]

    async def upsert_topic(
        self, name: str, query: str, *, now: datetime, source: str, created_by: str | None = None
    ) -> bool:
        """Create or replace a topic; returns True when it was created."""
        async with self.engine.begin() as conn:
            existing = await conn.scalar(select(t.topics.c.id).where(t.topics.c.name == name))
            if existing is not None:
                await conn.execute(
                    update(t.topics).where(t.topics.c.id == existing).values(query=query)
                )
                return False
            await conn.execute(
                t.topics.insert().values(
                    name=name, query=query, source=source, created_by=created_by, created_at=now
                )
            )
            return True

    async def remove_topic(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(t.topics).where(t.topics.c.name == name))
            await conn.execute(delete(t.subscriptions).where(t.subscriptions.c.topic == name))
            return bool(res.rowcount)

    async def remove_config_topics_except(self, names: Iterable[str]) -> None:
        keep = set(names)
        async with self.engine.begin() as conn:
            rows = await conn.execute(select(t.topics.c.name).where(t.topics.c.source == "config"))
            gone = [r.name for r in rows if r.name not in keep]
            if gone:
                await conn.execute(delete(t.topics).where(t.topics.c.name.in_(gone)))
                await conn.execute(
                    delete(t.subscriptions).where(
                        t.subscriptions.c.topic.in_(gone), t.subscriptions.c.source == "config"
                    )
                )

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(
        self,
        platform: str,
        workspace: str | None,
        channel: str,
        topic: str,
        *,
        now: datetime,
        source: str = "user",
        created_by: str | None = None,
        resume: bool = True,
    ) -> str:
        """Returns ``created``, ``resumed`` (was paused), ``paused`` or ``exists``."""
        ws = workspace or ""
        c = t.subscriptions.c
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(t.subscriptions).where(
                        c.platform == platform,
                        c.workspace == ws,
                        c.channel == channel,
                        c.topic == topic,
                    )
                )
            ).first()
            if row is None:
                await conn.execute(
                    t.subscriptions.insert().values(
                        platform=platform,
                        workspace=ws,
                        channel=channel,
                        topic=topic,
                        state="active",
                        source=source,
                        created_by=created_by,
                        created_at=now,
                    )
                )
                return "created"
            if row.state != "active":
                if not resume:
                    return "paused"
                await conn.execute(
                    update(t.subscriptions)
                    .where(c.id == row.id)
                    .values(state="active", paused_reason=None)
                )
                return "resumed"
            return "exists"

    async def unsubscribe(
        self, platform: str, workspace: str | None, channel: str, topic: str
    ) -> bool:
        c = t.subscriptions.c
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(t.subscriptions).where(
                    c.platform == platform,
                    c.workspace == (workspace or ""),
                    c.channel == channel,
                    c.topic == topic,
                )
            )
            return bool(res.rowcount)

    async def list_subscriptions(
        self,
        platform: str | None = None,
        workspace: str | None = None,
        channel: str | None = None,
    ) -> list[SubscriptionRow]:
        c = t.subscriptions.c
        q = select(t.subscriptions).order_by(c.platform, c.workspace, c.channel, c.topic)
        if platform is not None:
            q = q.where(c.platform == platform)
        if workspace is not None or channel is not None:
            q = q.where(c.workspace == (workspace or ""))
        if channel is not None:
            q = q.where(c.channel == channel)
        async with self.engine.connect() as conn:
            return [_sub(r) for r in await conn.execute(q)]

    async def active_subscriptions(self, topics: Iterable[str]) -> list[SubscriptionRow]:
        names = sorted(set(topics))
        if not names:
            return []
        c = t.subscriptions.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.subscriptions).where(c.topic.in_(names), c.state == "active")
            )
            return [_sub(r) for r in rows]

    async def refuse_channel(self, platform: str, workspace: str, channel: str, reason: str) -> int:
        """A channel refuses us for good: pause its active subscriptions and fail its pending
        deliveries, in one transaction. Returns how many subscriptions were paused."""
        where = {"platform": platform, "workspace": workspace, "channel": channel}
        s, d = t.subscriptions.c, t.deliveries.c
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(t.subscriptions)
                .where(*(s[k] == v for k, v in where.items()), s.state == "active")
                .values(state="paused", paused_reason=reason[:300])
            )
            await conn.execute(
                update(t.deliveries)
                .where(*(d[k] == v for k, v in where.items()), d.status == "pending")
                .values(status="failed", last_error=reason[:500])
            )
            return int(res.rowcount or 0)

    async def add_config_subscriptions(
        self, subs: Sequence[tuple[str, str, str, str]], *, now: datetime
    ) -> None:
        """Insert (platform, workspace, channel, topic) rows that do not exist yet; existing ones
        keep their state."""
        if not subs:
            return
        rows = [
            {
                "platform": p,
                "workspace": w,
                "channel": c,
                "topic": topic,
                "state": "active",
                "source": "config",
                "created_at": now,
            }
            for p, w, c, topic in dict.fromkeys(subs)
        ]
        ins = self._insert_ignore(t.subscriptions, "platform", "workspace", "channel", "topic")
        async with self.engine.begin() as conn:
            await conn.execute(ins, rows)

    async def remove_config_subscriptions_except(
        self, keep: Iterable[tuple[str, str, str, str]]
    ) -> None:
        wanted = set(keep)
        c = t.subscriptions.c
        async with self.engine.begin() as conn:
            rows = await conn.execute(select(t.subscriptions).where(c.source == "config"))
            gone = [
                r.id for r in rows if (r.platform, r.workspace, r.channel, r.topic) not in wanted
            ]
            if gone:
                await conn.execute(delete(t.subscriptions).where(c.id.in_(gone)))

    # -- admin channels ------------------------------------------------------------------

    async def set_admin_channel(
        self, platform: str, workspace: str | None, channel: str, *, source: str = "admin"
    ) -> None:
        c = t.admin_channels.c
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(t.admin_channels).where(
                    c.platform == platform, c.workspace == (workspace or "")
                )
            )
            await conn.execute(
                t.admin_channels.insert().values(
                    platform=platform, workspace=workspace or "", channel=channel, source=source
                )
            )

    async def admin_channels(self) -> list[AdminChannelRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.admin_channels))
            return [AdminChannelRow(r.platform, r.workspace, r.channel) for r in rows]

    # -- the outbox ----------------------------------------------------------------------

    async def enqueue(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert delivery rows; a (channel, story) already queued or sent is skipped."""
        async with self.engine.begin() as conn:
            [queued] = await self._enqueue_many(conn, [rows])
            return queued

    async def _enqueue_many(
        self, conn: AsyncConnection, groups: Sequence[Sequence[dict[str, Any]]]
    ) -> list[int]:
        """Queue several groups of delivery rows with one lookup and one executemany; returns
        how many rows of each group were new."""
        c = t.deliveries.c
        stories = sorted({r["story_key"] for g in groups for r in g})
        taken: set[tuple[str, str, str, str]] = set()
        for chunk in _chunks(stories, 500):
            found = await conn.execute(
                select(c.platform, c.workspace, c.channel, c.story_key).where(
                    c.story_key.in_(chunk)
                )
            )
            taken.update((r.platform, r.workspace, r.channel, r.story_key) for r in found)
        fresh: list[dict[str, Any]] = []
        counts: list[int] = []
        for group in groups:
            n = 0
            for row in group:
                ident = (row["platform"], row["workspace"], row["channel"], row["story_key"])
                if ident not in taken:
                    taken.add(ident)
                    fresh.append(row)
                    n += 1
            counts.append(n)
        if fresh:
            # Still insert-or-ignore: another instance may queue the same row meanwhile.
            ins = self._insert_ignore(t.deliveries, "platform", "workspace", "channel", "story_key")
            await conn.execute(ins, fresh)
        return counts

    async def due_deliveries(
        self, platform: str, now: datetime, limit: int = 500
    ) -> list[DeliveryRow]:
        c = t.deliveries.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.deliveries)
                .where(c.platform == platform, c.status == "pending", c.next_attempt_at <= now)
                .order_by(c.id)
                .limit(limit)
            )
            return [_delivery(r) for r in rows]

    async def claim_deliveries(
        self, platform: str, now: datetime, *, lease: float, limit: int = 200
    ) -> list[DeliveryRow]:
        """Claim due deliveries: their next attempt moves ``lease`` seconds ahead while we send.

        Row locks with ``SKIP LOCKED`` keep two instances from claiming the same row; a killed
        instance's claims fall due again when the lease runs out.
        """
        c = t.deliveries.c
        due = [c.platform == platform, c.status == "pending", c.next_attempt_at <= now]
        rows = await self._claim(t.deliveries, c.next_attempt_at, due, c.id, now, lease, limit)
        return [_delivery(r) for r in rows]

    async def _claim(
        self,
        table: Any,
        time_col: Any,
        conds: Sequence[Any],
        order: Any,
        now: datetime,
        lease: float,
        limit: int,
    ) -> list[Any]:
        """Lock up to ``limit`` due rows (skipping rows another instance holds), push their time
        ``lease`` seconds ahead, and return them in id order."""
        ids_q = select(table.c.id).where(*conds).order_by(order).limit(limit)
        until = {time_col.key: now + timedelta(seconds=lease)}
        async with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # No row locks (FOR UPDATE is ignored): one UPDATE takes the write lock before
                # it reads, so two processes' claims cannot both pick the same rows.
                stmt = update(table).where(table.c.id.in_(ids_q)).values(until)
                claimed = list(await conn.execute(stmt.returning(*table.c)))
                return sorted(claimed, key=lambda r: int(r.id))
            ids = [r.id for r in await conn.execute(ids_q.with_for_update(skip_locked=True))]
            if not ids:
                return []
            await conn.execute(update(table).where(table.c.id.in_(ids)).values(until))
            return list(
                await conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
            )

    async def next_delivery_time(self, platform: str) -> datetime | None:
        c = t.deliveries.c
        async with self.engine.connect() as conn:
            v = await conn.scalar(
                select(func.min(c.next_attempt_at)).where(
                    c.platform == platform, c.status == "pending"
                )
            )
            return v if isinstance(v, datetime) else None

    async def pending_count(self, platform: str | None = None) -> int:
        c = t.deliveries.c
        q = select(func.count()).select_from(t.deliveries).where(c.status == "pending")
        if platform is not None:
            q = q.where(c.platform == platform)
        async with self.engine.connect() as conn:
            return int(await conn.scalar(q) or 0)

    async def fold_deliveries(self, member_ids: Sequence[int], digest: dict[str, Any]) -> int:
        """Replace pending deliveries by one digest delivery, atomically; returns its id."""
        c = t.deliveries.c
        async with self.engine.begin() as conn:
            res = await conn.execute(t.deliveries.insert().values(**digest))
            digest_id = int(res.inserted_primary_key[0])  # type: ignore[index]
            await conn.execute(
                update(t.deliveries)
                .where(c.id.in_(list(member_ids)), c.status == "pending")
                .values(status="folded", digest_id=digest_id)
            )
            return digest_id

    async def get_delivery(self, delivery_id: int) -> DeliveryRow | None:
        async with self.engine.connect() as conn:
            r = (
                await conn.execute(select(t.deliveries).where(t.deliveries.c.id == delivery_id))
            ).first()
            return None if r is None else _delivery(r)

    async def mark_sending(self, delivery_id: int, now: datetime) -> None:
        """Record that a send is about to start (before the platform is called)."""
        c = t.deliveries.c
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.deliveries)
                .where(c.id == delivery_id)
                .values(sends=c.sends + 1, first_send_at=func.coalesce(c.first_send_at, now))
            )

    async def mark_sent_many(self, rows: Sequence[tuple[int, str | None, datetime]]) -> None:
        """Mark several deliveries sent in one transaction: (id, message id, sent at)."""
        if not rows:
            return
        stmt = (
            update(t.deliveries)
            .where(t.deliveries.c.id == bindparam("_id"))
            .values(
                status="sent",
                message_id=bindparam("_mid"),
                sent_at=bindparam("_at"),
                last_error=None,
            )
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, [{"_id": i, "_mid": m, "_at": at} for i, m, at in rows])

    async def mark_sent(self, delivery_id: int, message_id: str | None, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.id == delivery_id)
                .values(status="sent", message_id=message_id, sent_at=now, last_error=None)
            )

    async def mark_retry(
        self, delivery_id: int, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.id == delivery_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error[:500])
            )

    async def mark_failed(self, delivery_ids: Sequence[int], error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.id.in_(list(delivery_ids)))
                .values(status="failed", last_error=error[:500])
            )

    async def deliveries(self, status: str | None = None) -> list[DeliveryRow]:
        q = select(t.deliveries).order_by(t.deliveries.c.id)
        if status is not None:
            q = q.where(t.deliveries.c.status == status)
        async with self.engine.connect() as conn:
            return [_delivery(r) for r in await conn.execute(q)]

    # -- admin notices -------------------------------------------------------------------

    async def add_notice(
        self,
        dedupe_key: str,
        text: str,
        *,
        now: datetime,
        platform: str | None,
        workspace: str | None,
        channel: str | None,
    ) -> bool:
        """Record a notice once per ``dedupe_key``; returns False if it already existed."""
        ins = self._insert_ignore(t.notices, "dedupe_key").values(
            dedupe_key=dedupe_key[:300],
            text=text[:1000],
            platform=platform,
            workspace=workspace,
            channel=channel,
            status="pending" if channel else "logged",
            created_at=now,
        )
        async with self.engine.begin() as conn:
            res = await conn.execute(ins)
            return bool(res.rowcount)

    async def pending_notices(self, platform: str) -> list[NoticeRow]:
        c = t.notices.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.notices)
                .where(c.platform == platform, c.status == "pending")
                .order_by(c.id)
            )
            return [_notice(r) for r in rows]

    async def mark_notice(self, notice_id: int, status: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.notices)
                .where(t.notices.c.id == notice_id)
                .values(status=status, sent_at=now)
            )

    async def notices(self) -> list[NoticeRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.notices).order_by(t.notices.c.id))
            return [_notice(r) for r in rows]


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; busy_timeout: a second process waits, not fails.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


async def open_storage(url: str, *, migrate: bool = True) -> Storage:
    """Connect (creating the SQLite file's folder if needed) and migrate to the newest schema."""
    aurl = async_url(url)
    u = make_url(aurl)
    kwargs: dict[str, Any] = {}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite takes one writer at a time, so more connections buy little; each one is a
        # thread with its own page cache and malloc arena, and the default 5 + 10 made the
        # resident size climb ~4 MB per churn round (bench: flat at 2 + 2, same throughput).
        kwargs.update(pool_size=2, max_overflow=2)
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(aurl, **kwargs)
    if u.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    storage = Storage(engine)
    if migrate:
        await storage.migrate()
    return storage
