"""Storage: one SQLAlchemy (async, Core) implementation that runs on SQLite and PostgreSQL.

Owns connections, schema migrations (Alembic, applied on start) and every query Herald makes.
Methods are coroutine-safe; each runs in its own transaction unless noted. Rows come back as
frozen dataclasses, never as live ORM objects. Errors reaching the database surface as
:class:`bot.errors.StorageError`.
"""

from __future__ import annotations

from bot.storage.store import (
    AdminChannelRow,
    DeliveryRow,
    EntryRef,
    FeedRow,
    NoticeRow,
    PollCommit,
    Storage,
    StoredEntry,
    SubscriptionRow,
    TopicRow,
    async_url,
    open_storage,
)

__all__ = [
    "AdminChannelRow",
    "DeliveryRow",
    "EntryRef",
    "FeedRow",
    "NoticeRow",
    "PollCommit",
    "Storage",
    "StoredEntry",
    "SubscriptionRow",
    "TopicRow",
    "async_url",
    "open_storage",
]
