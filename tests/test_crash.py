"""Kill -9 at any moment: every due alert still reaches Discord exactly once.

Herald runs as a real subprocess (``python -m bot run``) against the local feed server and the
fake Discord. Each cycle publishes a few stories, starts Herald and SIGKILLs it at a seeded
random point: on a timer (start-up, migration, gateway handshake, anywhere), as a feed request
arrives (mid-fetch), just after a feed answer (mid-parse/detect/commit), or the instant the fake
Discord has stored a message but before Herald has read the answer (between the send and marking
it sent), or a few milliseconds after that. A last run, never killed, drains what is left. Then
every (channel, story) pair must have been accepted by the fake as a new message exactly once --
story embeds and digest listings both count -- and the outbox must hold nothing pending.

``HERALD_CRASH_CYCLES`` (default 5) and ``HERALD_CRASH_SEED`` (default 2026) choose the run;
``HERALD_CRASH_NONCE_WINDOW`` makes the fake forget nonces after that many seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.crash_driver import (
    HeraldProcess,
    TrippingDiscord,
    TrippingFeedServer,
    config_text,
    delivered,
)
from tests.fakes.fake_discord import TOKEN
from tests.fakes.feeds import Item, rss

CYCLES = int(os.environ.get("HERALD_CRASH_CYCLES", "5"))  # one of each mode
SEED = int(os.environ.get("HERALD_CRASH_SEED", "2026"))
# Unset: the fake remembers nonces for ever. Set below delivery.lease to see what a nonce window
# shorter than the claim lease does (Discord checks nonces only "in the past few minutes").
_window = os.environ.get("HERALD_CRASH_NONCE_WINDOW")
NONCE_WINDOW = float(_window) if _window else None
# Kill anyway if the planned event has not happened by then (start-up alone takes ~5 s).
FALLBACK_KILL = 9.0
# The last run may have to wait out a killed run's 10 s claim lease before re-sending.
DRAIN_WITHIN = 60.0

FEEDS = ("/world.xml", "/markets.xml")
TOPICS = {"nato": "nato", "energy": "energy OR gas"}
SUBSCRIPTIONS = (("111", "nato"), ("222", "energy"), ("333", "nato"), ("333", "energy"))
KINDS = {"nato": ("111", "333"), "energy": ("222", "333"), "both": ("111", "222", "333")}
MODES = ("timer", "fetch", "parse", "send", "send-late")


@dataclass
class Newsroom:
    """The feeds' contents; every story published after the warm-up is owed to its channels."""

    server: TrippingFeedServer
    rng: random.Random
    stories: dict[str, list[Item]] = field(default_factory=lambda: {p: [] for p in FEEDS})
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    count: int = 0

    def publish(self, *, owed: bool, path: str | None = None) -> None:
        self.count += 1
        n = self.count
        path = path or self.rng.choice(FEEDS)
        kind = self.rng.choice(tuple(KINDS))
        words = {"nato": "NATO allies", "energy": "Energy prices", "both": "NATO energy pact"}
        # Article links on the local server: the summarizer's article fetch fails fast there.
        link = self.server.url(f"/article{path.removesuffix('.xml')}/{n}")
        item = Item(
            title=f"{words[kind]}: story {n} (code {self.rng.randrange(10**6):06d})",
            link=link,
            guid=f"urn:crash:{n}",
            summary=f"Report number {n}. Details follow.",
            published=datetime.now(UTC) - timedelta(minutes=1),
        )
        self.stories[path].insert(0, item)
        self.server.set(path, rss(self.stories[path], title=f"Desk {path}"))
        if owed:
            for channel in KINDS[kind]:
                self.expected[(channel, link)] += 1


@dataclass
class Plan:
    mode: str
    nth: int = 1
    delay: float = 0.0
    fired: bool = False
    at: float = 0.0  # seconds after start when the kill landed


def plan_for(mode: str, rng: random.Random) -> Plan:
    if mode == "timer":
        return Plan(mode, delay=rng.uniform(0.3, FALLBACK_KILL - 1))
    if mode in ("fetch", "parse"):
        return Plan(mode, nth=rng.randint(1, 3), delay=rng.uniform(0.0, 0.03))
    if mode == "send":
        return Plan(mode, nth=rng.randint(1, 3))
    return Plan(mode, nth=rng.randint(1, 3), delay=rng.uniform(0.001, 0.05))


def arm(plan: Plan, proc: HeraldProcess, feeds: TrippingFeedServer, fake: TrippingDiscord) -> None:
    """Install the hook that kills ``proc`` when the plan's event happens."""
    seen = 0

    def tick() -> None:
        nonlocal seen
        seen += 1
        if seen == plan.nth and not plan.fired:
            plan.fired = True
            proc.kill_later(plan.delay)

    feeds.on_request = feeds.on_response = None
    fake.on_accept = None
    if plan.mode == "timer":
        plan.fired = True
        proc.kill_later(plan.delay)
    elif plan.mode == "fetch":
        feeds.on_request = lambda path: tick()
    elif plan.mode == "parse":
        feeds.on_response = lambda path: tick()
    else:
        fake.on_accept = lambda channel, message: tick()


def outbox(db: Path) -> Counter[str]:
    """Delivery rows by status, read while (or after) Herald runs."""
    if not db.exists():
        return Counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return Counter(
            {
                str(s): int(n)
                for s, n in conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
            }
        )
    finally:
        conn.close()


def absorbed_resends(fake: TrippingDiscord) -> int:
    """Posts that repeated an earlier nonce and were answered with the existing message."""
    seen: Counter[str] = Counter()
    for r in fake.requests:
        if r.method == "POST" and r.path.endswith("/messages") and r.status == 200:
            nonce = (r.body or {}).get("nonce")
            if nonce:
                seen[nonce] += 1
    return sum(n - 1 for n in seen.values())


@pytest.fixture
def payloads(shared_data: Path) -> Path:
    path = shared_data / "payloads" / "discord"
    if not (path / "accord-jl" / "gateway_ready.json").is_file():
        pytest.skip(f"captured Discord payloads not found under {path}")
    return path


@pytest_asyncio.fixture
async def world(payloads: Path) -> AsyncIterator[tuple[TrippingFeedServer, TrippingDiscord]]:
    feeds, fake = TrippingFeedServer(), TrippingDiscord(payloads, nonce_window=NONCE_WINDOW)
    await feeds.start()
    await fake.start()
    try:
        yield feeds, fake
    finally:
        await fake.stop()
        await feeds.stop()


async def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(
    tmp_path: Path, world: tuple[TrippingFeedServer, TrippingDiscord]
) -> None:
    feeds, fake = world
    began = time.monotonic()
    rng = random.Random(SEED)
    news = Newsroom(feeds, random.Random(rng.random()))
    config = tmp_path / "herald.toml"
    config.write_text(
        config_text(
            feeds=[feeds.url(p) for p in FEEDS],
            api_base_url=fake.api_base_url,
            gateway_url=fake.gateway_url,
            guild=fake.guild_id,
            subscriptions=SUBSCRIPTIONS,
            topics=TOPICS,
            burst=4,
        )
    )
    log = tmp_path / "herald.log"
    db = tmp_path / "var" / "herald.db"
    env = {"HERALD_DISCORD_TOKEN": TOKEN}

    def herald(*args: str) -> HeraldProcess:
        return HeraldProcess(config, tmp_path, env, log, args)

    def tail() -> str:
        return log.read_text(errors="replace")[-4000:]

    # Warm-up, never killed: the first poll of each feed marks its backlog seen (no alerts).
    for path in FEEDS * 2:
        news.publish(owed=False, path=path)
    warm = herald("--once")
    await warm.start()
    assert await warm.wait(60) == 0, tail()
    assert fake.messages == {}, "the first poll must not alert its backlog"

    modes = [MODES[i % len(MODES)] for i in range(CYCLES)]
    rng.shuffle(modes)
    plans: list[Plan] = []
    strays: list[int] = []
    for mode in modes:
        for _ in range(rng.randint(1, 3)):
            news.publish(owed=True)
        plan = plan_for(mode, rng)
        plans.append(plan)
        proc = herald()
        await proc.start()
        arm(plan, proc, feeds, fake)
        if await proc.wait(FALLBACK_KILL) is None:
            proc.kill()  # the planned event did not come in time: a timer kill after all
        code = await proc.wait(10)
        assert proc.killed_at is not None, f"Herald exited by itself ({code}):\n{tail()}"
        strays += await proc.reap_strays()
        plan.at = proc.killed_at - proc.started_at

    # The drain: one more run, left alone until everything owed has arrived and the outbox
    # is empty, then stopped gracefully.
    feeds.on_request = feeds.on_response = None
    fake.on_accept = None
    last = herald()
    await last.start()
    deadline = time.monotonic() + DRAIN_WITHIN
    while time.monotonic() < deadline:
        got = delivered(fake)
        if all(got[k] for k in news.expected) and outbox(db)["pending"] == 0:
            break
        assert last.running, f"Herald exited during the drain:\n{tail()}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a late duplicate would show up here
    assert last.proc is not None
    last.proc.terminate()
    assert await last.wait(15) is not None, "Herald did not stop on SIGTERM"

    got = delivered(fake)
    lost = sorted(k for k in news.expected if got[k] == 0)
    doubled = {k: n for k, n in got.items() if n > 1}
    unexpected = sorted(k for k in got if k not in news.expected)
    rows = outbox(db)
    fired = Counter(p.mode for p in plans if p.fired)
    summary = (
        f"{CYCLES} cycles (seed {SEED}) in {time.monotonic() - began:.0f} s; kills by mode "
        f"{dict(fired)}; {len(news.expected)} alerts owed, {len(lost)} lost, {len(doubled)} "
        f"duplicated, {len(unexpected)} unexpected; {absorbed_resends(fake)} re-sends absorbed "
        f"by nonce; outbox {dict(rows)}; stray processes {strays}"
    )
    print(summary)
    for p in plans:
        print(f"  {p.mode:9} nth={p.nth} delay={p.delay:.3f} fired={p.fired} at={p.at:.2f}s")
    assert not lost, f"lost: {lost}\n{summary}\n{tail()}"
    assert not doubled, f"duplicated: {doubled}\n{summary}\n{tail()}"
    assert not unexpected, f"unexpected: {unexpected}\n{summary}"
    assert rows["pending"] == 0 and rows["failed"] == 0, summary
    assert not strays, f"processes outlived a killed Herald: {strays}"
    text = log.read_text(errors="replace")
    assert TOKEN not in text, "the Discord token reached the log"
    if fired["send"]:
        # A kill between the send and mark-sent leaves a row Herald must send again; the
        # nonce is what keeps that re-send from becoming a second message.
        assert absorbed_resends(fake) >= 1, summary
