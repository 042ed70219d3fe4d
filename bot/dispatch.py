"""Delivery workers: one Dispatcher per adapter drains that platform's outbox.

Owns pacing (at most one alert per ``pace_seconds`` per channel), overflow folding (past
``burst`` pending alerts, the rest of a channel's backlog becomes one digest), retries with
exponential backoff and jitter, and the reaction to permanent failures (pause the channel's
subscriptions, tell admins once). A delivery is marked sent only after the adapter returned, so
a crash means a retry -- adapters make that retry idempotent where the platform allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from datetime import datetime, timedelta

from bot.adapter import Adapter
from bot.clock import Clock
from bot.errors import (
    AdapterFatalError,
    PermanentDeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bot.health import Metrics
from bot.notices import Notifier
from bot.outbox import digest_row, to_alert
from bot.settings import DeliverySettings
from bot.storage import DeliveryRow, Storage
from bot.types import Notice

log = logging.getLogger("herald.dispatch")

MARK_BATCH = 25


class Dispatcher:
    def __init__(
        self,
        adapter: Adapter,
        storage: Storage,
        settings: DeliverySettings,
        *,
        clock: Clock,
        rng: random.Random,
        notifier: Notifier,
        metrics: Metrics | None = None,
    ) -> None:
        self.adapter = adapter
        self.platform = adapter.platform
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.notifier = notifier
        self.metrics = metrics
        self.needs_send_intent = bool(getattr(adapter, "needs_send_intent", False))
        self._paused_until: datetime | None = None
        self._marks: list[tuple[int, str | None, datetime]] = []
        self.stopped = False
        self.sent = 0
        self._ready_at: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New deliveries were queued: look now rather than at the next scheduled check."""
        self._wake.set()

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        base = min(self.settings.retry_max, self.settings.retry_base * 2 ** max(0, attempts - 1))
        jittered = base * (0.5 + self.rng.random() / 2)
        return float(max(jittered, retry_after or 0.0))

    async def _fold(self, rows: list[DeliveryRow]) -> list[DeliveryRow]:
        """Fold each channel's backlog beyond ``burst`` into one digest delivery."""
        by_channel: dict[tuple[str, str], list[DeliveryRow]] = defaultdict(list)
        for r in rows:
            by_channel[(r.workspace, r.channel)].append(r)
        out: list[DeliveryRow] = []
        now = self.clock.now()
        for group in by_channel.values():
            # A row whose send may already have posted is sent as itself, never inside a digest.
            stories = [r for r in group if r.kind == "story" and r.sends == 0]
            if len(stories) > self.settings.burst:
                keep = stories[: self.settings.burst - 1]
                rest = stories[self.settings.burst - 1 :]
                # The digest is born claimed by us, like the rows it replaces.
                claimed_until = now + timedelta(seconds=self.settings.lease)
                digest_id = await self.storage.fold_deliveries(
                    [r.id for r in rest], digest_row(rest, now, next_attempt_at=claimed_until)
                )
                digest = await self.storage.get_delivery(digest_id)
                assert digest is not None
                group = [r for r in group if r.kind != "story"] + keep + [digest]
            out.extend(group)
        out.sort(key=lambda r: r.id)
        return out

    async def drain(self) -> int:
        """Send everything due now, pacing each channel; returns the number of alerts sent."""
        sent = 0
        if self._paused_until is not None and self.clock.now() < self._paused_until:
            return 0
        self._paused_until = None
        try:
            await self._send_notices()
            while not self.stopped and self._paused_until is None:
                rows = await self.storage.claim_deliveries(
                    self.platform, self.clock.now(), lease=self.settings.lease
                )
                if not rows:
                    break
                queue = await self._fold(rows)
                progressed = False
                pending: dict[tuple[str, str], list[DeliveryRow]] = defaultdict(list)
                for r in queue:
                    pending[(r.workspace, r.channel)].append(r)
                while pending and not self.stopped and self._paused_until is None:
                    now_m = self.clock.monotonic()
                    ready = [c for c in pending if self._ready_at.get(c, 0.0) <= now_m]
                    if not ready:
                        wait = min(self._ready_at[c] for c in pending) - now_m
                        await self.flush_marks()
                        await self.clock.sleep(wait)
                        continue
                    for chan in ready:
                        row = pending[chan].pop(0)
                        outcome = await self._send(row)
                        if outcome == "paused":
                            break
                        if outcome == "sent":
                            sent += 1
                            progressed = True
                        if outcome == "refused" or not pending[chan]:
                            # A refusing channel's other queued rows were failed with it.
                            del pending[chan]
                        self._ready_at[chan] = self.clock.monotonic() + self.settings.pace_seconds
                if not progressed:
                    break
        finally:
            await self.flush_marks()
        self.sent += sent
        return sent

    async def _send(self, row: DeliveryRow) -> str:
        started = self.clock.monotonic()
        outcome = await self._attempt(row)
        if self.metrics is not None:
            delay = (
                (self.clock.now() - row.created_at).total_seconds() if outcome == "sent" else None
            )
            self.metrics.delivery(
                outcome, self.clock.monotonic() - started, platform=self.platform, delay=delay
            )
        return outcome

    async def _attempt(self, row: DeliveryRow) -> str:
        """Send one delivery: ``sent``, ``retry`` (rescheduled), ``given_up`` (too many
        attempts), ``rejected`` (invalid message), ``refused`` (the channel is gone: paused) or
        ``stopped`` (the adapter cannot go on)."""
        alert = to_alert(row)
        if self.needs_send_intent:
            await self.storage.mark_sending(row.id, self.clock.now())
        try:
            message_id = await self.adapter.send_alert(alert)
        except TransientDeliveryError as exc:
            if exc.scope == "adapter":
                # The platform is closed to us for a while: pause everything, count nothing.
                pause = exc.retry_after or self.settings.retry_max
                self._paused_until = self.clock.now() + timedelta(seconds=pause)
                await self.storage.mark_retry(
                    row.id,
                    attempts=row.attempts,
                    next_attempt_at=self._paused_until,
                    error=str(exc),
                )
                log.warning("%s paused for %.0f s: %s", self.platform, pause, exc)
                return "paused"
            attempts = row.attempts + 1
            if attempts >= self.settings.max_attempts:
                await self.storage.mark_failed([row.id], str(exc))
                await self.notifier.delivery_given_up(
                    row.platform, row.workspace, row.channel, alert.item.title, str(exc)
                )
                return "given_up"
            delay = self.backoff(attempts, exc.retry_after)
            log.info(
                "delivery %s to %s failed (%s); retry in %.0f s", row.id, row.channel, exc, delay
            )
            await self.storage.mark_retry(
                row.id,
                attempts=attempts,
                next_attempt_at=self.clock.now() + timedelta(seconds=delay),
                error=str(exc),
            )
            return "retry"
        except RejectedDeliveryError as exc:
            await self.storage.mark_failed([row.id], str(exc))
            await self.notifier.delivery_given_up(
                row.platform, row.workspace, row.channel, alert.item.title, str(exc)
            )
            return "rejected"
        except PermanentDeliveryError as exc:
            reason = str(exc)
            paused = await self.storage.refuse_channel(
                row.platform, row.workspace, row.channel, reason
            )
            log.warning(
                "channel %s refused delivery: %s; paused %d subscription(s)",
                row.channel,
                reason,
                paused,
            )
            if paused:
                await self.notifier.channel_paused(
                    row.platform, row.workspace, row.channel, reason, paused
                )
            return "refused"
        except AdapterFatalError as exc:
            self.stopped = True
            log.error("%s adapter stopped: %s; its deliveries stay queued", self.platform, exc)
            return "stopped"
        # Marks are written in small batches: one transaction per alert would cost more than
        # the send. A crash loses at most MARK_BATCH marks; those alerts are re-sent after
        # their lease, which Discord's nonce and Slack's intent lookup turn into no-ops.
        self._marks.append((row.id, message_id, self.clock.now()))
        if len(self._marks) >= MARK_BATCH:
            await self.flush_marks()
        return "sent"

    async def flush_marks(self) -> None:
        marks, self._marks = self._marks, []
        await self.storage.mark_sent_many(marks)

    async def _send_notices(self) -> None:
        for n in await self.storage.pending_notices(self.platform):
            assert n.channel is not None
            try:
                await self.adapter.send_notice(
                    Notice(self.platform, n.workspace or None, n.channel, n.text)
                )
            except (TransientDeliveryError, PermanentDeliveryError) as exc:
                log.warning("could not send admin notice to %s: %s", n.channel, exc)
                await self.storage.mark_notice(n.id, "failed", self.clock.now())
                continue
            except AdapterFatalError as exc:
                self.stopped = True
                log.error("%s adapter stopped: %s", self.platform, exc)
                return
            await self.storage.mark_notice(n.id, "sent", self.clock.now())

    async def run(self, idle: float = 5.0) -> None:
        """Drain forever: on :meth:`wake`, when a retry falls due, or every ``idle`` seconds."""
        while not self.stopped:
            try:
                await self.drain()
            except Exception:
                log.exception("%s dispatcher error; continuing", self.platform)
            nxt = await self.storage.next_delivery_time(self.platform)
            wait = idle
            if nxt is not None:
                wait = max(0.05, min(idle, (nxt - self.clock.now()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
