"""Fan-out: one story to many Discord channels through the real Discord adapter.

Run by ``bench.run`` as a child process (``python -m bench.fanout --discord JSON``) against the
rate-limited fake Discord (:mod:`bench.fake_discord`, its own process). One small farm feed,
one topic, ``--channels`` Discord channels subscribed to it; the first poll marks the feed's
items seen, the farm then gains one matching item, the next poll queues one delivery per
channel and ``Herald.deliver_due`` sends them. Per-channel pacing stays at its default: each
channel receives one message, so it never binds. If the Discord adapter cannot start, a
bench-local REST client (:class:`RestDiscord`) speaks the same API instead, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.farm import CHURN_WORD, FeedFarm
from bench.herald_side import profiled
from bot.adapter import Adapter, CommandHandler
from bot.app import Herald
from bot.clock import SystemClock
from bot.errors import TransientDeliveryError
from bot.settings import DiscordSettings, Settings
from bot.types import Alert, Notice

CHANNEL_BASE = 300_000_000_000_000_000


class RestDiscord:
    """Fallback platform: posts embeds over Discord's REST API, sleeping out 429s like
    discord.py does (no pre-emptive global limiter)."""

    platform = "discord"

    def __init__(self, api: str, token: str) -> None:
        self.api = api
        self.token = token
        self.session: aiohttp.ClientSession | None = None

    async def start(self, commands: CommandHandler) -> None:
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bot {self.token}"})

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send_alert(self, alert: Alert) -> str | None:
        assert self.session is not None
        body = {
            "embeds": [{"title": alert.item.title[:256], "url": alert.item.link}],
            "nonce": f"hd-{alert.delivery_id}",
            "enforce_nonce": True,
        }
        for _ in range(10):
            async with self.session.post(
                f"{self.api}/channels/{alert.channel}/messages", json=body
            ) as r:
                data = await r.json(content_type=None)
                if r.status == 429:
                    await asyncio.sleep(float(data["retry_after"]))
                    continue
                r.raise_for_status()
                return str(data["id"])
        raise TransientDeliveryError("still rate limited")

    async def send_notice(self, notice: Notice) -> str | None:
        return None


async def _discord_stats(api: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{api}/_bench/stats") as r:
        stats: dict[str, Any] = await r.json()
        return stats


async def run(args: argparse.Namespace) -> dict[str, Any]:
    d = json.loads(args.discord)
    out: dict[str, Any] = {"channels": args.channels}
    async with FeedFarm(200) as farm:
        k = farm.churnable()[0]
        with tempfile.TemporaryDirectory(prefix="herald-fanout-") as tmp:
            settings = Settings(
                storage={"url": f"sqlite:///{tmp}/herald.db"},
                fetch={"allow_private_networks": True},
                schedule={"jitter": 0.0},
                feeds=[{"url": farm.url(k)}],
                topics=[{"name": "fanout", "query": CHURN_WORD}],
                subscriptions=[
                    {"platform": "discord", "channel": str(CHANNEL_BASE + i), "topic": "fanout"}
                    for i in range(args.channels)
                ],
                adapters={"console": {"enabled": False}},
            )
            adapter: Adapter
            try:
                from adapters.discord_adapter import DiscordAdapter

                adapter = DiscordAdapter(
                    DiscordSettings(
                        enabled=True, api_base_url=d["api_base_url"], gateway_url=d["gateway_url"]
                    ),
                    d["token"],
                    sync_state=Path(tmp) / "discord-commands.json",
                )
                out["adapter"] = "adapters.discord_adapter"
            except Exception as exc:
                adapter = RestDiscord(d["api_base_url"], d["token"])
                out["adapter"] = f"bench RestDiscord (discord adapter unusable: {exc!r})"[:200]
            t = time.perf_counter()
            app = Herald(settings, adapters=[adapter], clock=SystemClock(), rng=random.Random(0))
            await app.open()
            try:
                out["setup_s"] = round(time.perf_counter() - t, 2)
                await app.start_adapters()
                if app.dispatchers[0].stopped and isinstance(adapter, RestDiscord) is False:
                    out["adapter"] = "bench RestDiscord (discord adapter did not start)"
                    adapter = RestDiscord(d["api_base_url"], d["token"])
                    await app.close()
                    app = Herald(
                        settings, adapters=[adapter], clock=SystemClock(), rng=random.Random(0)
                    )
                    await app.open()
                    await app.start_adapters()
                await app.poll_feeds(await app.storage.list_feeds())
                farm.churn([k], [1])
                [res] = await app.poll_feeds(await app.storage.list_feeds())
                out["queued"] = res.queued
                before = await _discord_stats(d["api_base_url"])
                profile_dir = Path(args.profile_dir) if args.profile_dir else None
                async with profiled("fanout", profile_dir):
                    t = time.perf_counter()
                    sent = await app.deliver_due()
                    took = time.perf_counter() - t
                after = await _discord_stats(d["api_base_url"])
                rate = sent / took if took else 0.0
                out.update(
                    sent=sent,
                    seconds=round(took, 2),
                    msgs_per_s=round(rate, 2),
                    fraction_of_50=round(rate / 50, 3),
                    global_429=after["global_429"] - before["global_429"],
                    route_429=after["route_429"] - before["route_429"],
                    server=after,
                    still_pending=await app.storage.pending_count("discord"),
                    peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                )
            finally:
                await app.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--discord", required=True, help="JSON printed by bench.fake_discord")
    p.add_argument("--channels", type=int, default=5000)
    p.add_argument("--profile-dir", default=None)
    args = p.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
