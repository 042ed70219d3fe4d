"""The schedule: a thin wrapper over APScheduler 3 (AsyncIOScheduler).

Per-feed schedules live in storage as data (``feeds.next_poll_at``); APScheduler only drives a
short "tick" that polls whatever is due, plus daily housekeeping. One job, not one per feed, so
thousands of feeds cost nothing and several instances can share one database later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("herald.scheduler")


class Schedule:
    def __init__(
        self,
        tick: Callable[[], Awaitable[object]],
        housekeeping: Callable[[], Awaitable[object]],
        *,
        tick_seconds: float,
        housekeeping_hours: float = 24.0,
    ) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        # coalesce + max_instances=1: a slow tick is never run twice at once nor queued up.
        self._scheduler.add_job(
            tick,
            "interval",
            seconds=tick_seconds,
            id="tick",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self._scheduler.add_job(
            housekeeping,
            "interval",
            hours=housekeeping_hours,
            id="housekeeping",
            coalesce=True,
            max_instances=1,
        )

    def start(self) -> None:
        self._scheduler.start()
        log.debug("scheduler started")

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
