"""Polling one feed end to end: fetch → parse → normalize → detect → match → summarize → enqueue.

Owns a feed's health bookkeeping too: the next poll time (interval with jitter, stretched by
``Cache-Control: max-age`` and ``Retry-After``), exponential backoff while failing, disabling
after ``max_failures`` in a row (admins told once), and the recovery notice.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.detect import Detection, DetectRequest, claim_links, claimed_elsewhere, detect_many
from bot.errors import FetchError, ParseError
from bot.fetch import Fetcher
from bot.groups import GroupRunner
from bot.items import read_items
from bot.normalize import known_key
from bot.notices import Notifier
from bot.outbox import route
from bot.redact import redact
from bot.sandbox import ParsePool, read_items_sandboxed
from bot.settings import Settings
from bot.storage import FeedRow, PollCommit, Storage
from bot.summary_service import SummaryService
from bot.topics import MatchDoc, TopicMatcher, prepare
from bot.types import AlertItem, Entry, ItemIndex, ParsedFeed, Reading

log = logging.getLogger("herald.poll")


@dataclass(frozen=True, slots=True)
class PollResult:
    feed_id: int
    url: str
    ok: bool
    status: str  # "new-items" | "unchanged" | "not-modified" | "error"
    entries: int = 0
    new: int = 0
    queued: int = 0
    error: str | None = None
    partial: bool = False  # only the items the last committed document lacked were parsed


# Entries per group-commit batch: bounds the statement parameters and a batch's latency.
BATCH_WEIGHT = 2000
# A changed document is read in full (not only its new items) at least this often per feed and
# process: a full read refreshes the last-seen time of every entry still listed, which lets
# retention move on, and checks every item again.
FULL_READ_EVERY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class _Items:
    """What this process committed of a feed's document: its item index, valid while the feed's
    stored body hash is still the one committed with it (no other instance read the feed since)."""

    body_hash: str | None
    index: ItemIndex
    full_read_at: datetime


@dataclass(frozen=True, slots=True)
class _Commit:
    feed_id: int
    found: Detection
    alerts: tuple[tuple[AlertItem, tuple[str, ...]], ...]
    now: datetime
    feed_values: dict[str, object]

    def announced_rows(self) -> list[dict[str, object]]:
        """The new entry rows of the stories this poll alerts about."""
        keys = {item.story_key for item, _ in self.alerts}
        return [r for r in self.found.new_rows if r["story_key"] in keys] if keys else []


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Poller:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        fetcher: Fetcher,
        summaries: SummaryService,
        notifier: Notifier,
        *,
        clock: Clock,
        rng: random.Random,
        platforms: Iterable[str],
        pool: ParsePool | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.fetcher = fetcher
        self.summaries = summaries
        self.notifier = notifier
        self.clock = clock
        self.rng = rng
        self.platforms = set(platforms)
        self.pool = pool
        self.on_queued = on_queued
        self._commit = asyncio.Lock()
        # Group commit: feeds parsed while a batch is at the database go in the next batch,
        # so a busy round costs a few transactions instead of several per changed feed.
        # Detection only reads: it may run beside a commit. A story two feeds carry that one of
        # them commits meanwhile is caught at commit time (``claimed_elsewhere``).
        self._detects = GroupRunner(self._detect_batch, max_weight=BATCH_WEIGHT)
        self._commits = GroupRunner(self._commit_batch, max_weight=BATCH_WEIGHT, lock=self._commit)
        self._unchanged: list[tuple[int, dict[str, object]]] = []
        # feed id -> short keys (8 bytes each) of the entries its last committed document held.
        self._known: dict[int, bytes] = {}
        # feed id -> the item index of its last committed document (``bot.items``).
        self._items: dict[int, _Items] = {}

    @property
    def remembered_feeds(self) -> frozenset[int]:
        """Ids of the feeds whose stored entries' short keys or item index this process holds."""
        return frozenset(self._known) | frozenset(self._items)

    def forget_feeds_except(self, feed_ids: Iterable[int]) -> None:
        """Drop what is kept of feeds no longer configured (a removed feed's would stay)."""
        keep = set(feed_ids)
        for memo in (self._known, self._items):
            for feed_id in [f for f in memo if f not in keep]:
                del memo[feed_id]

    async def read_document(
        self, body: bytes, *, url: str, content_type: str | None, known: bytes = b""
    ) -> tuple[ParsedFeed, list[Entry]]:
        """Parse and normalize a fetched document in full: in the sandboxed pool when there is
        one (as ``bot.normalize.read_feed``; ``known``: short keys of stored entries whose text
        need not be extracted)."""
        reading = await self.read_changed(
            body, url=url, content_type=content_type, known=known, previous=None
        )
        return reading.feed, list(reading.entries)

    async def read_changed(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str | None,
        known: bytes,
        previous: ItemIndex | None,
    ) -> Reading:
        """Parse and normalize a changed document, only its new items where ``previous`` (the
        item index of the last document committed) allows it (``bot.items.read_items``)."""
        limit = self.settings.fetch.max_entries
        if self.pool is not None:
            return await read_items_sandboxed(
                body,
                url=url,
                content_type=content_type,
                max_entries=limit,
                pool=self.pool,
                known=known,
                previous=previous,
            )
        call = functools.partial(
            read_items,
            body,
            url=url,
            content_type=content_type,
            max_entries=limit,
            known=known,
            previous=previous,
        )
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def _interval(self, feed: FeedRow) -> float:
        base = feed.interval or self.settings.schedule.interval
        return max(base, self.settings.schedule.min_interval)

    def _jitter(self, seconds: float) -> float:
        j = self.settings.schedule.jitter
        return seconds * (1 + self.rng.uniform(-j, j))

    def next_ok_poll(self, feed: FeedRow, max_age: float | None) -> datetime:
        interval = self._interval(feed)
        if max_age:
            # A server asking us to come back later is obeyed, within reason.
            interval = max(interval, min(max_age, self.settings.schedule.max_backoff))
        return self.clock.now() + timedelta(seconds=self._jitter(interval))

    def next_failed_poll(self, feed: FeedRow, failures: int, retry_after: float | None) -> datetime:
        sched = self.settings.schedule
        delay = min(self._interval(feed) * 2 ** max(0, failures - 1), sched.max_backoff)
        if retry_after:
            delay = max(delay, min(retry_after, sched.max_backoff))
        return self.clock.now() + timedelta(seconds=self._jitter(delay))

    async def poll(self, feed: FeedRow, matcher: TopicMatcher) -> PollResult:
        """Poll one feed; never raises for the feed's own faults (they become its health)."""
        now = self.clock.now()
        # "First poll" means first *successful* poll: a feed whose first fetch failed must not
        # flood its whole backlog when it finally answers.
        first_poll = feed.last_success_at is None
        try:
            result = await self.fetcher.fetch(
                feed.url, etag=feed.etag, last_modified=feed.last_modified
            )
        except FetchError as exc:
            return await self._failed(feed, str(exc), exc.retry_after)
        if result.not_modified or (
            result.body_hash is not None and result.body_hash == feed.body_hash and not first_poll
        ):
            values = self._ok_values(
                feed,
                etag=result.etag,
                last_modified=result.last_modified,
                body_hash=feed.body_hash,
                max_age=result.max_age,
            )
            self._unchanged.append((feed.id, values))
            if len(self._unchanged) >= 500:
                await self.flush()
            await self._recovered(feed)
            status = "not-modified" if result.not_modified else "unchanged"
            return PollResult(feed.id, feed.url, True, status)
        assert result.body is not None
        backfill = feed.backfill if feed.backfill is not None else self.settings.detect.backfill
        # Entries this process saw stored after the feed's last poll: their text is skipped.
        known = b"" if first_poll else self._known.get(feed.id, b"")
        # Items this process committed, when nobody else has committed the feed since: only
        # the others are parsed. A full read now and then refreshes what retention reads.
        memo = self._items.get(feed.id)
        previous = (
            memo.index
            if memo is not None
            and not first_poll
            and memo.body_hash == feed.body_hash
            and now - memo.full_read_at < FULL_READ_EVERY
            else None
        )
        while True:
            try:
                reading = await self.read_changed(
                    result.body,
                    url=result.url,
                    content_type=result.content_type,
                    known=known,
                    previous=previous,
                )
            except ParseError as exc:
                return await self._failed(feed, str(exc), None)
            parsed, entries = reading.feed, reading.entries
            present = frozenset(
                reading.present[i : i + 8] for i in range(0, len(reading.present), 8)
            )
            found = await self._detects.submit(
                DetectRequest(
                    feed.id,
                    entries,
                    now,
                    first_poll,
                    backfill,
                    self.settings.detect.same_title_days,
                    present=present,
                ),
                weight=len(entries),
            )
            if not (found.needs_text and known):
                break
            # A key believed stored is not (pruned, or changed by another instance): read the
            # document again in full, so every entry recorded carries its text.
            log.debug("%s: stored entries changed since the last poll; reading in full", feed.url)
            known, previous = b"", None
        feed_name = feed.name or (parsed.title or "").strip()[:100] or feed.url
        alerts = await self._alerts(found, feed_name, matcher)
        values = self._ok_values(
            feed,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=result.body_hash,
            max_age=result.max_age,
            title=(parsed.title or "").strip()[:300] or None,
            had_new=found.stored > 0,
            # Only a full read refreshed every listed entry's last-seen time: retention keeps
            # what was seen since the feed's last full read (a kept item was seen then or later).
            parsed_at=None if reading.partial else now,
        )
        queued = await self._commits.submit(
            _Commit(feed.id, found, tuple(alerts), now, values), weight=found.stored
        )
        self._known[feed.id] = reading.present + b"".join(
            known_key(k) for k in (*found.seen_keys, *(r["key"] for r in found.new_rows))
        )
        if reading.index is None:
            self._items.pop(feed.id, None)
        else:
            full_at = memo.full_read_at if reading.partial and memo is not None else now
            self._items[feed.id] = _Items(result.body_hash, reading.index, full_at)
        await self._recovered(feed)
        if queued and self.on_queued:
            self.on_queued()
        listed = len(entries) + len(present)
        log.info(
            "%s: %d entries (%d read), %d new, %d alert(s) queued%s",
            feed_name,
            listed,
            len(entries),
            len(found.new),
            queued,
            " (first poll: marked seen)" if first_poll else "",
        )
        return PollResult(
            feed.id,
            feed.url,
            True,
            "new-items" if found.new else "unchanged",
            entries=listed,
            partial=reading.partial,
            new=len(found.new),
            queued=queued,
        )

    async def _alerts(
        self, found: Detection, feed_name: str, matcher: TopicMatcher
    ) -> list[tuple[AlertItem, tuple[str, ...]]]:
        """Match each new story against the topics and summarize the ones that matched."""
        out: list[tuple[AlertItem, tuple[str, ...]]] = []
        for story in found.new:
            e = story.entry
            doc = MatchDoc(
                title=e.title, summary=e.summary, feed=feed_name, categories=e.categories
            )
            topics = matcher.match(prepare(doc))
            if not topics:
                continue
            item = AlertItem(
                story_key=story.story_key,
                feed=feed_name,
                title=e.title,
                link=e.link,
                summary=await self.summaries.summary_for(e),
                published=e.published,
                image=e.image,
                categories=e.categories,
            )
            out.append((item, topics))
        return out

    async def _detect_batch(self, requests: list[DetectRequest]) -> list[Detection]:
        return await detect_many(self.storage, requests)

    async def _commit_batch(self, commits: list[_Commit]) -> list[int]:
        """Record entries, queue alerts and update feeds: one transaction for the whole batch."""
        now = max(c.now for c in commits)
        announced = {c.feed_id: c.announced_rows() for c in commits}
        # Another feed may have recorded the same article since detection ran: in storage,
        # or earlier in this very batch. The story must stay one story.
        stored = await claimed_elsewhere(
            self.storage, [r for rows in announced.values() for r in rows], now=now
        )
        topics = {t for c in commits for _, names in c.alerts for t in names}
        subs = await self.storage.active_subscriptions(topics) if topics else []
        earlier: list[dict[str, object]] = []
        writes: list[PollCommit] = []
        for c in commits:
            remap = claim_links(c.feed_id, announced[c.feed_id], itertools.chain(stored, earlier))
            rows = [
                {**r, "story_key": remap.get(r["story_key"], r["story_key"])}
                for r in c.found.new_rows
            ]
            earlier += ({**r, "feed_id": c.feed_id} for r in rows if r["link_key_hash"])
            deliveries: list[dict[str, object]] = []
            for item, names in c.alerts:
                if item.story_key in remap:
                    item = replace(item, story_key=remap[item.story_key])
                deliveries += route(item, names, subs, now=c.now, platforms=self.platforms)
            writes.append(PollCommit(c.feed_id, rows, c.found.seen_keys, deliveries, c.feed_values))
        return await self.storage.commit_polls(writes, now=now)

    def _ok_values(
        self,
        feed: FeedRow,
        *,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        max_age: float | None,
        title: str | None = None,
        had_new: bool = False,
        parsed_at: datetime | None = None,
    ) -> dict[str, object]:
        """The feed's row after a successful poll (health reset, next poll scheduled)."""
        now = self.clock.now()
        values: dict[str, object] = {
            "etag": etag,
            "last_modified": last_modified,
            "body_hash": body_hash,
            "consecutive_failures": 0,
            "state": "ok",
            "last_error": None,
            "last_polled_at": now,
            "last_success_at": now,
            "next_poll_at": self.next_ok_poll(feed, max_age),
        }
        if title:
            values["title"] = title
        if had_new:
            values["last_new_at"] = now
        if parsed_at is not None:
            values["last_parsed_at"] = parsed_at
        return values

    async def _recovered(self, feed: FeedRow) -> None:
        if feed.state == "disabled":
            await self.notifier.feed_recovered(feed)

    async def flush(self) -> None:
        """Write the batched rows of feeds that answered "nothing changed" (one transaction).

        A warm round is mostly 304s; one transaction per feed would cost more than the fetch.
        Losing a batch to a crash only means those feeds are polled again when their lease ends.
        """
        batch, self._unchanged = self._unchanged, []
        if batch:
            await self.storage.update_feeds(batch)

    async def _failed(self, feed: FeedRow, error: str, retry_after: float | None) -> PollResult:
        now = self.clock.now()
        failures = feed.consecutive_failures + 1
        limit = self.settings.schedule.max_failures
        state = "disabled" if failures >= limit else "failing"
        next_at = self.next_failed_poll(feed, failures, retry_after)
        if state == "disabled":
            # Still probed now and then, so a feed that comes back is noticed.
            next_at = now + timedelta(seconds=self.settings.schedule.max_backoff)
        message = redact(one_line(error))
        await self.storage.update_feed(
            feed.id,
            consecutive_failures=failures,
            state=state,
            last_error=message,
            last_polled_at=now,
            next_poll_at=next_at,
        )
        if state == "disabled" and feed.state != "disabled":
            await self.notifier.feed_disabled(feed, failures, message)
        log.warning("%s: %s (failure %d of %d)", feed.display_name, message, failures, limit)
        return PollResult(feed.id, feed.url, False, "error", error=message)
