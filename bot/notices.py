"""Admin notices: one message per state change (feed disabled or recovered, channel paused).

Notices go to the admin channel of the workspace concerned (config ``admin_channels`` or the
``admin channel`` command); with none set they go to the log and stay visible in ``feed list``.
A dedupe key per state change makes "tell admins once" hold across restarts.
"""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.storage import FeedRow, Storage

log = logging.getLogger("herald.notices")


class Notifier:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self.storage = storage
        self.clock = clock

    async def _emit(
        self, event: str, text: str, *, platform: str | None = None, workspace: str | None = None
    ) -> int:
        """Queue ``text`` for every matching admin channel; returns how many were queued."""
        now = self.clock.now()
        targets = [
            a
            for a in await self.storage.admin_channels()
            if (platform is None or a.platform == platform)
            and (workspace is None or a.workspace == workspace)
        ]
        log.warning("admin notice: %s", text)
        queued = 0
        for a in targets:
            key = f"{event}|{a.platform}|{a.workspace}|{a.channel}"
            if await self.storage.add_notice(
                key, text, now=now, platform=a.platform, workspace=a.workspace, channel=a.channel
            ):
                queued += 1
        if not targets:
            await self.storage.add_notice(
                event, text, now=now, platform=platform, workspace=workspace, channel=None
            )
        return queued

    async def feed_disabled(self, feed: FeedRow, failures: int, error: str) -> None:
        stamp = self.clock.now().isoformat(timespec="seconds")
        await self._emit(
            f"feed-disabled:{feed.id}:{stamp}",
            f"Feed disabled after {failures} failures in a row: {feed.display_name} "
            f"({feed.url}). Last error: {error}. Herald retries it every few hours; "
            f"remove it with `feed remove {feed.url}`.",
        )

    async def feed_recovered(self, feed: FeedRow) -> None:
        stamp = self.clock.now().isoformat(timespec="seconds")
        await self._emit(
            f"feed-recovered:{feed.id}:{stamp}",
            f"Feed recovered: {feed.display_name} ({feed.url}) is being polled again.",
        )

    async def channel_paused(
        self, platform: str, workspace: str, channel: str, reason: str, paused: int
    ) -> None:
        stamp = self.clock.now().isoformat(timespec="seconds")
        await self._emit(
            f"channel-paused:{platform}:{workspace}:{channel}:{stamp}",
            f"Paused {paused} subscription(s) of channel {channel}: {reason}. Fix the channel "
            f"(invite the bot, restore permissions), then subscribe again to resume.",
            platform=platform,
            workspace=workspace,
        )

    async def delivery_given_up(
        self, platform: str, workspace: str, channel: str, title: str, error: str
    ) -> None:
        stamp = self.clock.now().isoformat(timespec="seconds")
        await self._emit(
            f"delivery-failed:{platform}:{workspace}:{channel}:{stamp}",
            f"Could not deliver “{title[:120]}” to channel {channel}; gave it up: {error}.",
            platform=platform,
            workspace=workspace,
        )
