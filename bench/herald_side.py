"""Herald against the feed farm: cold ingest, warm poll, churn and latency, in one process.

Run by ``bench.run`` as a child process (``python -m bench.herald_side --farm URL ...``) so its
peak RSS is Herald's own; prints one JSON object on stdout. Platform delivery goes to
:class:`RecordingPlatform`, an in-process fake that timestamps every alert on arrival.
``delivery.pace_seconds`` is 0 here: per-channel pacing would measure the pause, not Herald.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from bench.farm import CHURN_WORD
from bot.adapter import CommandHandler
from bot.app import IN_FLIGHT_PER_FETCH, Herald
from bot.clock import SystemClock
from bot.settings import Settings
from bot.types import Alert, Notice

# Topics a newsroom might follow; the subscription load is spread over them.
TOPICS = {
    "nato": 'nato OR "north atlantic" OR alliance',
    "eu": '"european union" OR brussels',
    "climate": "climate OR emissions OR warming",
    "china": "china OR beijing",
    "ukraine": "ukraine OR kyiv OR kiev",
    "tech": "ai OR software OR chip*",
    "elections": "election* OR vote OR ballot",
    "economy": "inflation OR economy OR recession",
    "space": "nasa OR rocket OR satellite",
    "health": "vaccine OR virus OR hospital",
}
CHURN_TOPIC = "churn"
CHURN_CHANNELS = ("churn-desk-0", "churn-desk-1", "churn-desk-2")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident set size now (the peak only ever grows; this shows what a phase kept)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class RecordingPlatform:
    """A fake chat platform: records each alert's arrival time and the stories it carried."""

    platform = "console"

    def __init__(self) -> None:
        self.alerts = 0
        self.stories: set[tuple[str, str]] = set()  # (channel, story title)
        self.kinds: Counter[str] = Counter()
        self.last_at = 0.0
        self.changed = asyncio.Event()

    async def start(self, commands: CommandHandler) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_alert(self, alert: Alert) -> str | None:
        self.alerts += 1
        self.kinds[alert.kind.value] += 1
        for item in alert.items:
            self.stories.add((alert.channel, item.title))
        self.last_at = time.perf_counter()
        self.changed.set()
        return f"m{alert.delivery_id}"

    async def send_notice(self, notice: Notice) -> str | None:
        return None

    async def wait_for(self, pred: Callable[[], bool], within: float) -> bool:
        deadline = time.perf_counter() + within
        while not pred():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=left)
        return True


def bench_settings(db: Path, urls: list[str], subscriptions: int) -> Settings:
    names = list(TOPICS)
    subs: list[dict[str, str]] = []
    for i in range(subscriptions):
        ch, j = divmod(i, 5)
        subs.append({"platform": "console", "channel": f"desk-{ch}", "topic": names[(ch + j) % 10]})
    subs += [{"platform": "console", "channel": c, "topic": CHURN_TOPIC} for c in CHURN_CHANNELS]
    return Settings(
        storage={"url": f"sqlite:///{db}"},
        # One loopback host stands in for N publishers, so the per-host cap is the global one.
        fetch={"allow_private_networks": True, "per_host": 16, "max_concurrency": 16},
        schedule={"jitter": 0.0},
        delivery={"pace_seconds": 0.0},
        # The farm's article links point at hosts that do not resolve here (no internet): an
        # article fetch per teaser story would measure the resolver's timeout, not Herald.
        summary={"fetch_article": False},
        feeds=[{"url": u} for u in urls],
        topics=[{"name": n, "query": q} for n, q in {**TOPICS, CHURN_TOPIC: CHURN_WORD}.items()],
        subscriptions=subs,
        adapters={"console": {"enabled": False}},
    )


@contextlib.asynccontextmanager
async def profiled(name: str, out_dir: Path | None) -> AsyncIterator[None]:
    """Profile the block with pyinstrument when ``out_dir`` is set (text + HTML reports)."""
    if out_dir is None:
        yield
        return
    from pyinstrument import Profiler

    # "disabled" charges only time on the CPU; the default charges a coroutine for its waits.
    mode = os.environ.get("HERALD_PROFILE_ASYNC", "enabled")
    profiler = Profiler(interval=0.002, async_mode=mode)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"profile-{name}.txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
        )
        (out_dir / f"profile-{name}.html").write_text(profiler.output_html(), encoding="utf-8")


async def _farm_churn(farm: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(f"{farm}/_churn", json=spec) as r:
        r.raise_for_status()
        added: list[dict[str, Any]] = (await r.json())["added"]
        return added


def _title(k: int, n: int) -> str:
    return f"Heraldbench {CHURN_WORD} story c{k}.{n}"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    farm: str = args.farm
    urls = [f"{farm}/f/{k}/{name}" for k, name in enumerate(args.names)]
    out: dict[str, Any] = {"feeds": len(urls), "subscriptions": args.subscriptions + 3}
    profile_dir = Path(args.profile_dir) if args.profile_dir else None
    platform = RecordingPlatform()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        t = time.perf_counter()
        settings = bench_settings(Path(tmp) / "herald.db", urls, args.subscriptions)
        app = Herald(settings, adapters=[platform], clock=SystemClock(), rng=random.Random(0))
        await app.open()
        try:
            out["setup_s"] = round(time.perf_counter() - t, 2)
            await app.start_adapters()
            rows = await app.storage.list_feeds()
            by_url = {r.url: r.id for r in rows}

            # -- cold ingest ----------------------------------------------------------------
            async with profiled("cold", profile_dir):
                cpu = cpu_seconds()
                t = time.perf_counter()
                res = await app.poll_feeds(rows)
                cold_s = time.perf_counter() - t
                cpu = cpu_since(cpu)
            entries = sum(r.entries for r in res)
            out["cold"] = {
                "seconds": round(cold_s, 2),
                "feeds_ok": sum(r.ok for r in res),
                "errors": Counter(r.error or "" for r in res if not r.ok).most_common(3),
                "entries_parsed": entries,
                "entries_stored": await app.storage.count_entries(),
                "feeds_per_s": round(len(res) / cold_s, 1),
                "entries_per_s": round(entries / cold_s, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "cpu_s": cpu,
            }

            # -- warm poll: nothing changed, every answer is a 304 ---------------------------
            rows = await app.storage.list_feeds()
            async with profiled("warm", profile_dir):
                t = time.perf_counter()
                res = await app.poll_feeds(rows)
                warm_s = time.perf_counter() - t
            out["warm"] = {
                "seconds": round(warm_s, 2),
                "statuses": dict(Counter(r.status for r in res)),
                "feeds_per_s": round(len(res) / warm_s, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }

            dispatch = [asyncio.create_task(d.run(idle=1.0)) for d in app.dispatchers]
            try:
                async with profiled("churn", profile_dir):
                    out["churn"] = await _churn(app, farm, platform, args)
                out["churn"]["peak_rss_mb"] = round(peak_rss_mb(), 1)
                out["latency"] = await _latency(app, farm, platform, args, by_url, urls)
            finally:
                for task in dispatch:
                    task.cancel()
                await asyncio.gather(*dispatch, return_exceptions=True)
            out["peak_rss_mb"] = round(peak_rss_mb(), 1)
        finally:
            await app.close()
    return out


async def _churn(
    app: Herald, farm: str, platform: RecordingPlatform, args: argparse.Namespace
) -> dict[str, Any]:
    """``--churn-rounds`` rounds (a different 10 % of feeds each); the figures of the median one.

    One round is a single sample of a few seconds on a shared machine; the median of several is
    the figure worth comparing between runs.
    """
    rounds = [
        await _churn_round(app, farm, platform, args, seed)
        for seed in range(1, 1 + args.churn_rounds)
    ]
    ranked = sorted(rounds, key=lambda r: r["ratio_to_fetch_only"] or float("inf"))
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["rounds"] = len(rounds)
    median["ratios_all_rounds"] = [r["ratio_to_fetch_only"] for r in rounds]
    median["rss_after_each_round_mb"] = [r["rss_after_mb"] for r in rounds]
    median["peak_rss_after_each_round_mb"] = [r["peak_rss_so_far_mb"] for r in rounds]
    median["complete"] = all(r["complete"] for r in rounds)
    return median


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process, by its children (the parse workers: live ones
    from ``/proc``, exited ones as the kernel reports them once reaped) and by the whole machine
    (busy time over all cores), read from ``/proc`` (Linux; zeros elsewhere).

    A churn round is bound by CPU, not by waiting: these say which part spends it.
    """
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"main": 0.0, "parse_workers": reaped.ru_utime + reaped.ru_stime, "machine": 0.0}
    try:
        tick = os.sysconf("SC_CLK_TCK")
        me = os.getpid()
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        out["machine"] = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    # Fields after the command name (which may hold spaces and parentheses).
                    stat = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            used = (int(stat[11]) + int(stat[12])) / tick  # utime + stime
            if int(name) == me:
                out["main"] += used
            elif int(stat[1]) == me:
                out["parse_workers"] += used
    except OSError:
        pass
    return out


def cpu_since(before: dict[str, float]) -> dict[str, float]:
    """CPU seconds per part (as :func:`cpu_seconds`) used since ``before`` was read."""
    return {k: round(v - before[k], 2) for k, v in cpu_seconds().items()}


async def _churn_round(
    app: Herald, farm: str, platform: RecordingPlatform, args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    added = await _farm_churn(farm, {"fraction": args.churn, "seed": seed, "min": 1, "max": 3})
    want = {(c, _title(a["feed"], a["n"])) for a in added for c in CHURN_CHANNELS}
    rows = await app.storage.list_feeds()

    # The floor: the same fetches with the same fetcher and validators, nothing else, with as
    # many in flight as a poll round has (the fetcher's own limits decide the pace).
    todo = iter(rows)

    async def fetch_only() -> None:
        for row in todo:
            with contextlib.suppress(Exception):
                await app.fetcher.fetch(row.url, etag=row.etag, last_modified=row.last_modified)

    fetch_cpu = cpu_seconds()
    t = time.perf_counter()
    limit = IN_FLIGHT_PER_FETCH * app.settings.fetch.max_concurrency
    await asyncio.gather(*(fetch_only() for _ in range(limit)))
    fetch_s = time.perf_counter() - t
    fetch_cpu = cpu_since(fetch_cpu)
    rss_after_fetch_only = round(peak_rss_mb(), 1)

    before = set(platform.stories)
    alerts_before = Counter(platform.kinds)
    cpu_before = cpu_seconds()
    t = time.perf_counter()
    res = await app.poll_feeds(rows)
    polled_s = time.perf_counter() - t
    ok = await platform.wait_for(lambda: want <= platform.stories, within=args.timeout)
    done_s = platform.last_at - t if ok else float("nan")
    round_cpu = cpu_since(cpu_before)
    got = len(want & (platform.stories - before))
    return {
        "feeds_changed": len({a["feed"] for a in added}),
        "items_added": len(added),
        "stories_expected": len(want),
        "stories_delivered": got,
        "alerts": dict(Counter(platform.kinds) - alerts_before),
        "new_items_detected": sum(r.new for r in res),
        "fetch_only_s": round(fetch_s, 2),
        "peak_rss_after_fetch_only_mb": rss_after_fetch_only,
        "poll_round_s": round(polled_s, 2),
        "delivered_s": round(done_s, 2),
        "ratio_to_fetch_only": round(done_s / fetch_s, 2) if fetch_s else None,
        "complete": ok,
        "rss_after_mb": rss_mb(),
        "peak_rss_so_far_mb": round(peak_rss_mb(), 1),
        # Until every alert arrived.
        "cpu_s": round_cpu,
        "fetch_only_cpu_s": fetch_cpu,
    }


async def _latency(
    app: Herald,
    farm: str,
    platform: RecordingPlatform,
    args: argparse.Namespace,
    by_url: dict[str, int],
    urls: list[str],
) -> dict[str, Any]:
    rng = random.Random(2)
    pool = [k for k in args.churnable if k < len(urls)]
    samples: list[float] = []
    misses = 0
    for _ in range(args.trials):
        k = rng.choice(pool)
        [added] = await _farm_churn(farm, {"feeds": [k], "count": 1})
        want = {(c, _title(k, added["n"])) for c in CHURN_CHANNELS}
        row = await app.storage.get_feed(id=by_url[urls[k]])
        assert row is not None
        t = time.perf_counter()  # the poll starts now: the interval before it is excluded
        await app.poll_feeds([row])
        if await platform.wait_for(lambda w=want: w <= platform.stories, within=10.0):  # type: ignore[misc]
            samples.append(platform.last_at - t)
        else:
            misses += 1
    samples.sort()

    def pct(p: float) -> float | None:
        if not samples:
            return None
        return round(1000 * samples[min(len(samples) - 1, int(p * len(samples)))], 1)

    return {
        "trials": args.trials,
        "missed": misses,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * samples[-1], 1) if samples else None,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True, help="JSON file: farm, names, churnable")
    p.add_argument("--subscriptions", type=int, default=10_000)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--churn", type=float, default=0.10)
    p.add_argument("--churn-rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--profile-dir", default=None)
    args = p.parse_args()
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    args.farm, args.names, args.churnable = spec["farm"], spec["names"], spec["churnable"]
    result = _run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


def _run(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    return asyncio.run(coro)


if __name__ == "__main__":
    main()
