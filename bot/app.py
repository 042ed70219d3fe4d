"""The application: wires settings, storage, fetcher, poller, dispatchers and adapters together.

Owns the lifecycle (open → sync config into storage → start adapters → schedule → stop) and the
two ways to run: :meth:`Herald.run_once` (poll every feed, deliver everything due, return) and
:meth:`Herald.run_forever`. Shared resources are created here and passed in, never global.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType

from bot.adapter import Adapter
from bot.clock import Clock, SystemClock
from bot.commands import CommandService
from bot.dispatch import Dispatcher
from bot.fetch import Fetcher, FetchLimits
from bot.health import HealthServer, Metrics
from bot.memory import limit_malloc_arenas
from bot.notices import Notifier
from bot.poller import Poller, PollResult
from bot.sandbox import ParsePool
from bot.scheduler import Schedule
from bot.settings import Settings
from bot.storage import FeedRow, Storage, open_storage
from bot.summary_service import SummaryService
from bot.topics import TopicMatcher

log = logging.getLogger("herald")
# Polls in flight per fetch slot: enough that parsing and the database overlap the fetches.
IN_FLIGHT_PER_FETCH = 4

ProgressFn = Callable[[int, int], None]


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    return FetchLimits(
        max_bytes=f.max_bytes,
        connect_timeout=f.connect_timeout,
        read_timeout=f.read_timeout,
        total_timeout=f.total_timeout,
        max_concurrency=f.max_concurrency,
        per_host=f.per_host,
    )


class Herald:
    """One Herald instance. Use as ``async with Herald(settings, adapters=...) as app``."""

    def __init__(
        self,
        settings: Settings,
        *,
        adapters: Sequence[Adapter] = (),
        clock: Clock | None = None,
        rng: random.Random | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.adapters = list(adapters)
        self._storage = storage
        self._tasks: list[asyncio.Task[None]] = []
        self._schedule: Schedule | None = None
        self._stop = asyncio.Event()
        self._started: list[Adapter] = []
        self.metrics = Metrics()
        self.health: HealthServer | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Herald:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        # Before the database driver's threads start allocating.
        limit_malloc_arenas()
        if self._storage is None:
            self._storage = await open_storage(self.settings.storage.url)
        self.storage = self._storage
        self.fetcher = Fetcher(
            fetch_limits(self.settings),
            allow_private_networks=self.settings.fetch.allow_private_networks,
            clock=self.clock,
        )
        self.notifier = Notifier(self.storage, self.clock)
        self.summaries = SummaryService(self.settings, self.fetcher, clock=self.clock)
        self.dispatchers = [
            Dispatcher(
                a,
                self.storage,
                self.settings.delivery,
                clock=self.clock,
                rng=self.rng,
                notifier=self.notifier,
                metrics=self.metrics,
            )
            for a in self.adapters
        ]
        f = self.settings.fetch
        self.parse_pool: ParsePool | None = None
        if f.parse_workers:
            self.parse_pool = ParsePool(
                f.parse_workers,
                memory_limit=f.parse_memory_mb * 1024 * 1024,
                timeout=f.parse_timeout,
            )
            await asyncio.to_thread(self.parse_pool.start)
        self.poller = Poller(
            self.settings,
            self.storage,
            self.fetcher,
            self.summaries,
            self.notifier,
            clock=self.clock,
            rng=self.rng,
            platforms=[a.platform for a in self.adapters],
            on_queued=self._wake_dispatchers,
            pool=self.parse_pool,
        )
        self.commands = CommandService(
            self.settings,
            self.storage,
            self.fetcher,
            clock=self.clock,
            read_document=self.poller.read_document,
        )
        await self.sync_config()

    async def close(self) -> None:
        self._stop.set()
        if self.health is not None:
            await self.health.stop()
            self.health = None
        if self._schedule is not None:
            self._schedule.shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for adapter in self.adapters:
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s adapter failed", adapter.platform)
        await self.summaries.close()
        if self.parse_pool is not None:
            await asyncio.to_thread(self.parse_pool.close)
        await self.fetcher.close()
        await self.storage.close()

    def request_stop(self) -> None:
        self._stop.set()

    def _wake_dispatchers(self) -> None:
        for d in self.dispatchers:
            d.wake()

    async def sync_config(self) -> None:
        """Make storage agree with the config file (admin-added items are left alone)."""
        now = self.clock.now()
        s = self.settings
        await self.storage.sync_config_feeds(
            [
                {"url": f.url, "name": f.name, "interval": f.interval, "backfill": f.backfill}
                for f in s.feeds
            ],
            now=now,
        )
        removed = await self.storage.remove_config_feeds_except(f.url for f in s.feeds)
        for url in removed:
            log.info("feed %s left the config; forgotten", url)
        for topic in s.topics:
            await self.storage.upsert_topic(topic.name, topic.query, now=now, source="config")
        await self.storage.remove_config_topics_except(t.name for t in s.topics)
        keep = [
            (sub.platform, sub.workspace or "", sub.channel, sub.topic.strip().lower())
            for sub in s.subscriptions
        ]
        # A config subscription paused for a broken channel stays paused across restarts.
        await self.storage.add_config_subscriptions(keep, now=now)
        await self.storage.remove_config_subscriptions_except(keep)
        for ac in s.admin_channels:
            await self.storage.set_admin_channel(
                ac.platform, ac.workspace, ac.channel, source="config"
            )

    # -- work ----------------------------------------------------------------------------

    async def matcher(self) -> TopicMatcher:
        return TopicMatcher({t.name: t.query for t in await self.storage.list_topics()})

    async def poll_feeds(
        self, feeds: Sequence[FeedRow], progress: ProgressFn | None = None
    ) -> list[PollResult]:
        """Poll ``feeds`` concurrently.

        The fetcher bounds the fetches (``fetch.max_concurrency``, ``fetch.per_host``); this
        bounds whole polls to a few times that, so a feed waiting for the parser or the database
        does not hold a fetch slot, while a large round's bodies and parsed documents still
        cannot all wait in memory at once.
        """
        matcher = await self.matcher()

        async def one(feed: FeedRow) -> PollResult:
            try:
                return await self.poller.poll(feed, matcher)
            except Exception as exc:  # a bug must not stop the other feeds
                log.exception("polling %s failed", feed.url)
                return PollResult(feed.id, feed.url, False, "error", error=repr(exc)[:300])

        # A fixed set of workers sharing one iterator: a round of 10,000 feeds is 64 coroutines,
        # not 10,000 waiting on a semaphore.
        todo = iter(enumerate(feeds))
        done: dict[int, PollResult] = {}

        async def worker() -> None:
            for index, feed in todo:
                done[index] = await one(feed)
                if progress:
                    progress(len(done), len(feeds))

        limit = IN_FLIGHT_PER_FETCH * self.settings.fetch.max_concurrency
        try:
            await asyncio.gather(*(worker() for _ in range(min(limit, len(feeds)))))
        finally:
            await self.poller.flush()
        results = [done[i] for i in range(len(feeds))]
        for r in results:
            self.metrics.poll(r)
        return results

    async def poll_due(self) -> list[PollResult]:
        """Claim the feeds whose time has come and poll them (safe with several instances)."""
        feeds = await self.storage.claim_due_feeds(
            self.clock.now(), lease=self.settings.schedule.lease
        )
        return await self.poll_feeds(feeds)

    async def deliver_due(self) -> int:
        sent = 0
        for d in self.dispatchers:
            if not d.stopped:
                sent += await d.drain()
        return sent

    async def housekeeping(self) -> int:
        cutoff = self.clock.now() - timedelta(days=self.settings.detect.retention_days)
        pruned = await self.storage.prune_entries(cutoff)
        self.poller.forget_feeds_except(f.id for f in await self.storage.list_feeds())
        if pruned:
            log.info("retention: forgot %d entries unseen since %s", pruned, cutoff.date())
        return pruned

    async def start_adapters(self) -> None:
        """Start every adapter; one that cannot start is logged and left out, the rest run."""
        for adapter, dispatcher in zip(self.adapters, self.dispatchers, strict=True):
            if dispatcher.stopped or adapter in self._started:
                continue
            try:
                await adapter.start(self.commands)
            except Exception as exc:
                dispatcher.stopped = True
                log.error(
                    "%s adapter could not start (%s: %s); its alerts stay queued",
                    adapter.platform,
                    type(exc).__name__,
                    exc,
                )
            else:
                self._started.append(adapter)

    async def run_once(self, progress: ProgressFn | None = None) -> list[PollResult]:
        """Poll every feed once, deliver everything due, and return the poll results."""
        await self.start_adapters()
        results = await self.poll_feeds(await self.storage.list_feeds(), progress)
        await self.deliver_due()
        return results

    async def run_forever(self) -> None:
        """Run until :meth:`request_stop` (or cancellation)."""
        h, slack = self.settings.health, self.settings.adapters.slack
        enabled = h.enabled if h.enabled is not None else (slack.enabled and slack.mode == "http")
        if enabled:
            # Up before the adapters: liveness answers during a slow connect, readiness waits.
            self.health = HealthServer(self, self.metrics, host=h.host, port=h.port)
            await self.health.start()
        await self.start_adapters()
        await self.housekeeping()
        self._schedule = Schedule(
            self.poll_due, self.housekeeping, tick_seconds=self.settings.schedule.tick
        )
        for d in self.dispatchers:
            self._tasks.append(asyncio.create_task(d.run(), name=f"dispatch-{d.platform}"))
        self._schedule.start()
        await self.poll_due()
        await self._stop.wait()
