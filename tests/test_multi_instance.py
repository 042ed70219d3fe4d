"""Several Herald processes on one PostgreSQL split the work; killing one loses nothing.

Three real ``python -m bot run`` processes share a fresh PostgreSQL database, the local feed
server and the fake Discord (one holds the gateway, two deliver over REST only). Stories arrive
in rounds; one instance is SIGKILLed mid-run. Every alert must reach Discord exactly once, every
feed must keep being polled, and no feed may be polled by all three instances each interval.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.fakes.crash_driver import HeraldProcess, TrippingDiscord, config_text, delivered
from tests.fakes.fake_discord import TOKEN
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss
from tests.support import postgres_database

pytestmark = pytest.mark.postgres

FEEDS = tuple(f"/desk{n}.xml" for n in range(6))
TOPICS = {"nato": "nato"}
SUBSCRIPTIONS = (("111", "nato"), ("222", "nato"))
INTERVAL = 1.0


def instance_config(base: str, *, storage_url: str, gateway: bool) -> str:
    text = base.replace('url = "sqlite:///var/herald.db"', f'url = "{storage_url}"')
    text = text.replace("interval = 1\n", f"interval = {INTERVAL:g}\n")
    return text.replace(
        "[adapters.discord]\n", f"[adapters.discord]\ngateway = {str(gateway).lower()}\n"
    )


async def pending(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"))
    finally:
        await conn.close()


@pytest.fixture
def payloads(shared_data: Path) -> Path:
    path = shared_data / "payloads" / "discord"
    if not (path / "accord-jl" / "gateway_ready.json").is_file():
        pytest.skip(f"captured Discord payloads not found under {path}")
    return path


async def test_three_instances_share_the_work_and_survive_a_kill(
    tmp_path: Path, payloads: Path
) -> None:
    rng = random.Random(11)
    feeds, fake = FeedServer(), TrippingDiscord(payloads)
    await feeds.start()
    await fake.start()
    stories: dict[str, list[Item]] = {p: [] for p in FEEDS}
    expected: Counter[tuple[str, str]] = Counter()
    count = 0

    def publish(owed: bool, path: str | None = None) -> None:
        nonlocal count
        count += 1
        path = path or rng.choice(FEEDS)
        link = feeds.url(f"/article/{count}")
        stories[path].insert(
            0,
            Item(
                title=f"NATO desk story {count}",
                link=link,
                guid=f"urn:multi:{count}",
                summary=f"Report {count}.",
                published=datetime.now(UTC) - timedelta(minutes=1),
            ),
        )
        feeds.set(path, rss(stories[path], title=f"Desk {path}"))
        if owed:
            for channel, _ in SUBSCRIPTIONS:
                expected[(channel, link)] += 1

    procs: list[HeraldProcess] = []
    try:
        async with postgres_database() as dsn:
            base = config_text(
                feeds=[feeds.url(p) for p in FEEDS],
                api_base_url=fake.api_base_url,
                gateway_url=fake.gateway_url,
                guild=fake.guild_id,
                subscriptions=SUBSCRIPTIONS,
                topics=TOPICS,
                burst=50,
            )
            env = {"HERALD_DISCORD_TOKEN": TOKEN}
            log = tmp_path / "herald.log"

            def herald(n: int, *args: str) -> HeraldProcess:
                cfg = tmp_path / f"herald-{n}.toml"
                cfg.write_text(instance_config(base, storage_url=dsn, gateway=n == 0))
                work = tmp_path / f"i{n}"
                work.mkdir(exist_ok=True)
                return HeraldProcess(cfg, work, env, log, args)

            for path in FEEDS:
                publish(owed=False, path=path)
            warm = herald(0, "--once")
            await warm.start()
            assert await warm.wait(60) == 0, log.read_text()[-3000:]
            assert fake.messages == {}
            sessions = fake.identifies

            for n in range(3):
                procs.append(herald(n))
                await procs[-1].start()
            started = time.monotonic()
            for round_ in range(4):
                for _ in range(3):
                    publish(owed=True)
                if round_ == 1:
                    procs[1].kill()  # a REST-only instance dies mid-run, claims and all
                await asyncio.sleep(2.0)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = delivered(fake)
                if all(got[k] for k in expected) and await pending(dsn) == 0:
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)  # a late duplicate would show up here
            ran_for = time.monotonic() - started
            for p in procs:
                if p.running:
                    assert p.proc is not None
                    p.proc.terminate()
                    await p.wait(15)

            got = delivered(fake)
            lost = sorted(k for k in expected if got[k] == 0)
            doubled = {k: n for k, n in got.items() if n > 1}
            assert not lost, f"lost {lost}\n{log.read_text()[-3000:]}"
            assert not doubled, f"duplicated {doubled}"
            assert set(got) == set(expected)
            # Every feed kept being polled, but not three times per interval.
            for path in FEEDS:
                polls = len(feeds.requests(path))
                assert polls >= 3, (path, polls)
                assert polls <= ran_for / INTERVAL * 1.6 + 4, (path, polls, ran_for)
            assert fake.identifies - sessions == 1  # only the gateway instance opened a session
            assert TOKEN not in log.read_text(errors="replace")
    finally:
        for p in procs:
            p.kill()
        await fake.stop()
        await feeds.stop()
