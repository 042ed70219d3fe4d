"""The database schema as SQLAlchemy Core tables: the one picture of what Herald stores.

Migrations in ``bot/storage/migrations/versions`` create and evolve these tables; keep the two
in step (``tests/test_storage.py`` checks that a migrated database matches this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("name", String(100)),
    Column("title", String(300)),
    Column("source", String(16), nullable=False, server_default="config"),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
    Column("body_hash", String(64)),
    Column("interval", Float),
    Column("backfill", Integer),
    Column("next_poll_at", UTCDateTime, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False, server_default="new"),
    Column("last_error", String(500)),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_new_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # When a document was last parsed: entries seen then are still in the feed (retention).
    Column("last_parsed_at", UTCDateTime),
    Index("ix_feeds_next_poll_at", "next_poll_at"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("story_key", String(64), nullable=False),
    Column("link_key_hash", String(64)),
    Column("title_key_hash", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("link", String(2048)),
    Column("summary", Text, nullable=False),
    Column("published", UTCDateTime),
    Column("author", String(200)),
    Column("categories", Text, nullable=False, server_default="[]"),
    Column("image", String(2048)),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("feed_id", "key", name="uq_entries_feed_key"),
    Index("ix_entries_feed_title", "feed_id", "title_key_hash"),
    Index("ix_entries_link", "link_key_hash"),
    Index("ix_entries_first_seen", "first_seen_at"),
)

topics = Table(
    "topics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("query", String(500), nullable=False),
    Column("source", String(16), nullable=False, server_default="config"),
    Column("created_by", String(120)),
    Column("created_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    # '' rather than NULL: NULLs never collide in a unique constraint.
    Column("workspace", String(100), nullable=False, server_default=""),
    Column("channel", String(100), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("paused_reason", String(300)),
    Column("source", String(16), nullable=False, server_default="config"),
    Column("created_by", String(120)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "workspace", "channel", "topic", name="uq_subscriptions"),
    Index("ix_subscriptions_topic", "topic"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("workspace", String(100), nullable=False, server_default=""),
    Column("channel", String(100), nullable=False),
    Column("story_key", String(64), nullable=False),
    Column("kind", String(16), nullable=False, server_default="story"),
    Column("topics", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("message_id", String(100)),
    Column("last_error", String(500)),
    Column("digest_id", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # Send intents recorded before calling the platform (adapters that need them).
    Column("sends", Integer, nullable=False, server_default="0"),
    Column("first_send_at", UTCDateTime),
    UniqueConstraint("platform", "workspace", "channel", "story_key", name="uq_deliveries"),
    Index("ix_deliveries_due", "status", "platform", "next_attempt_at"),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(300), nullable=False, unique=True),
    Column("platform", String(16)),
    Column("workspace", String(100)),
    Column("channel", String(100)),
    Column("text", String(1000), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
)

admin_channels = Table(
    "admin_channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("workspace", String(100), nullable=False, server_default=""),
    Column("channel", String(100), nullable=False),
    Column("source", String(16), nullable=False, server_default="config"),
    UniqueConstraint("platform", "workspace", name="uq_admin_channels"),
)
