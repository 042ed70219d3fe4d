"""Storage on real SQLite files and the real local PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from bot.storage import open_storage
from bot.storage.schema import metadata

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _row(story: str, channel: str = "c1") -> dict[str, object]:
    return {
        "platform": "slack",
        "workspace": "T1",
        "channel": channel,
        "story_key": story,
        "kind": "story",
        "topics": json.dumps(["nato"]),
        "payload": json.dumps([]),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
    }


async def test_migrations_match_the_schema_and_are_idempotent(storage_url: str) -> None:
    storage = await open_storage(storage_url)
    try:
        await storage.migrate()  # a second start migrates nothing and breaks nothing
        assert await storage.schema_revision() == "0004"

        def diff(conn: Connection) -> list[object]:
            ctx = MigrationContext.configure(conn)
            return list(compare_metadata(ctx, metadata))

        async with storage.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await storage.close()


async def test_outbox_keeps_one_row_per_channel_and_story(storage_url: str) -> None:
    storage = await open_storage(storage_url)
    try:
        assert await storage.enqueue([_row("s1"), _row("s1", "c2")]) == 2
        assert await storage.enqueue([_row("s1"), _row("s2")]) == 1
        rows = await storage.due_deliveries("slack", NOW)
        assert [(r.channel, r.story_key) for r in rows] == [
            ("c1", "s1"),
            ("c2", "s1"),
            ("c1", "s2"),
        ]
        assert rows[0].next_attempt_at == NOW and rows[0].next_attempt_at.tzinfo is not None
        await storage.mark_sent(rows[0].id, "m1", NOW)
        assert await storage.enqueue([_row("s1")]) == 0  # sent stays sent, never re-queued
        assert await storage.pending_count("slack") == 2
    finally:
        await storage.close()


async def test_feed_lifecycle_and_due_times(storage_url: str) -> None:
    storage = await open_storage(storage_url)
    try:
        feed, created = await storage.add_feed("https://a.example/f", now=NOW, name="A")
        assert created and feed.state == "new"
        again, created = await storage.add_feed("https://a.example/f", now=NOW, name="A2")
        assert not created and again.id == feed.id and again.name == "A2"
        await storage.update_feed(feed.id, next_poll_at=NOW + timedelta(minutes=5))
        assert await storage.due_feeds(NOW) == []
        assert [f.id for f in await storage.due_feeds(NOW + timedelta(minutes=5))] == [feed.id]
        await storage.update_feed(feed.id, state="disabled")  # probed rarely, still due
        assert len(await storage.due_feeds(NOW + timedelta(days=1))) == 1
        assert await storage.remove_feed("https://a.example/f")
        assert await storage.list_feeds() == []
    finally:
        await storage.close()


async def test_notices_are_recorded_once_per_key(storage_url: str) -> None:
    storage = await open_storage(storage_url)
    try:
        args = {"now": NOW, "platform": "slack", "workspace": "T1", "channel": "C9"}
        assert await storage.add_notice("feed-disabled:1:x", "Feed disabled", **args)
        assert not await storage.add_notice("feed-disabled:1:x", "Feed disabled", **args)
        assert [n.text for n in await storage.pending_notices("slack")] == ["Feed disabled"]
    finally:
        await storage.close()


async def test_sqlite_uses_wal_and_creates_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/var/h.db"
    storage = await open_storage(url)
    try:
        async with storage.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        assert mode == "wal"
        assert (tmp_path / "deep" / "var" / "h.db").exists()
    finally:
        await storage.close()


async def test_claims_split_work_and_expire(storage_url: str) -> None:
    storage = await open_storage(storage_url)
    other = await open_storage(storage_url, migrate=False)  # a second instance
    try:
        for n in range(6):
            await storage.add_feed(f"https://a.example/{n}", now=NOW)
        mine, theirs = await asyncio.gather(
            storage.claim_due_feeds(NOW, lease=60, limit=3),
            other.claim_due_feeds(NOW, lease=60, limit=3),
        )
        assert len(mine) + len(theirs) == 6
        assert not {f.id for f in mine} & {f.id for f in theirs}
        assert await storage.claim_due_feeds(NOW, lease=60) == []
        # A killed instance's claims come back once the lease has run out.
        assert len(await other.claim_due_feeds(NOW + timedelta(seconds=61), lease=60)) == 6

        await storage.enqueue([_row(f"s{n}") for n in range(4)])
        first = await storage.claim_deliveries("slack", NOW, lease=30, limit=2)
        second = await other.claim_deliveries("slack", NOW, lease=30, limit=10)
        assert [r.story_key for r in first] == ["s0", "s1"]
        assert [r.story_key for r in second] == ["s2", "s3"]
        assert await storage.claim_deliveries("slack", NOW, lease=30) == []
        await storage.mark_sent(first[0].id, "m", NOW)
        again = await other.claim_deliveries("slack", NOW + timedelta(seconds=31), lease=30)
        assert [r.story_key for r in again] == ["s1", "s2", "s3"]  # sent stays sent
    finally:
        await other.close()
        await storage.close()


async def test_concurrent_claims_never_share_a_feed(storage_url: str) -> None:
    """Four claimers on two connections, again and again: every feed goes to exactly one."""
    storage = await open_storage(storage_url)
    other = await open_storage(storage_url, migrate=False)
    try:
        for round_ in range(8):
            now = NOW + timedelta(hours=round_)
            for n in range(20):
                await storage.add_feed(f"https://c.example/{round_}/{n}", now=now)
            claims = await asyncio.gather(
                *(s.claim_due_feeds(now, lease=3600 * 24, limit=5) for s in (storage, other) * 2)
            )
            ids = [f.id for claim in claims for f in claim]
            assert len(ids) == len(set(ids)) == 20
    finally:
        await other.close()
        await storage.close()
