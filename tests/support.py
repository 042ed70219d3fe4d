"""Test support: settings builders, a scriptable in-memory platform, and storage backends.

``RecordingAdapter`` is a hand-written platform (like errbot's test backend): it implements the
real ``Adapter`` protocol, records what it was asked to post, and fails on demand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bot.adapter import CommandHandler
from bot.settings import Settings
from bot.types import Alert, Notice

PG_ADMIN_DSN = "postgresql://127.0.0.1:5432/test"


def make_settings(
    tmp_path: Any,
    *,
    feeds: Iterable[Mapping[str, Any] | str] = (),
    topics: Mapping[str, str] | None = None,
    subscriptions: Iterable[tuple[str, str]] = (),
    platform: str = "console",
    storage_url: str | None = None,
    **sections: Any,
) -> Settings:
    """Settings for a test: private networks allowed, no jitter, fast pacing unless overridden."""
    data: dict[str, Any] = {
        "storage": {"url": storage_url or f"sqlite:///{tmp_path}/herald.db"},
        # Threads instead of the sandboxed process pool keep each test's start-up cheap;
        # test_pipeline runs the real pool end to end.
        "fetch": {"allow_private_networks": True, "parse_workers": 0},
        "schedule": {"jitter": 0.0, "interval": 300, "min_interval": 60},
        "delivery": {"pace_seconds": 2.0},
        "feeds": [{"url": f} if isinstance(f, str) else dict(f) for f in feeds],
        "topics": [{"name": n, "query": q} for n, q in (topics or {}).items()],
        "subscriptions": [
            {"platform": platform, "channel": ch, "topic": t} for ch, t in subscriptions
        ],
        "adapters": {"console": {"enabled": False, "format": "jsonl"}},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


class RecordingAdapter:
    """A platform that records alerts and notices; ``fail`` queues exceptions to raise."""

    def __init__(self, platform: str = "console") -> None:
        self.platform = platform
        self.alerts: list[Alert] = []
        self.notices: list[Notice] = []
        self.attempts = 0
        self.failures: list[BaseException] = []
        self.broken: dict[str, BaseException] = {}
        self.started = False
        self.stopped = False

    def fail(self, *errors: BaseException) -> None:
        """The next sends raise these, in order, whatever the channel."""
        self.failures.extend(errors)

    def break_channel(self, channel: str, error: BaseException) -> None:
        """Every send to ``channel`` raises ``error`` (a deleted channel, a lost permission)."""
        self.broken[channel] = error

    async def start(self, commands: CommandHandler) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send_alert(self, alert: Alert) -> str | None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        if alert.channel in self.broken:
            raise self.broken[alert.channel]
        self.alerts.append(alert)
        return f"m{alert.delivery_id}"

    async def send_notice(self, notice: Notice) -> str | None:
        self.notices.append(notice)
        return None

    @property
    def titles(self) -> list[str]:
        return [a.item.title for a in self.alerts]


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"herald_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"postgresql://127.0.0.1:5432/{name}"
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
