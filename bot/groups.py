"""Group commit: callers submit one request each and await its result; requests that arrive
while a batch is running are handled together in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class GroupRunner(Generic[Req, Res]):
    """Runs ``run`` on batches of submitted requests, one batch at a time.

    ``run`` gets the requests in submission order and returns one result per request, and runs
    holding ``lock`` (shared by runners whose batches must not interleave). A batch holds at most
    ``max_weight`` (each request's ``weight``, at least one request). When a batch
    of several fails, each of its requests is retried alone, so one bad request fails only its
    own caller.
    """

    def __init__(
        self,
        run: Callable[[list[Req]], Awaitable[list[Res]]],
        *,
        max_weight: int,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self._run = run
        self._max_weight = max_weight
        # Taking the batch only once the lock is held lets requests pile up while it is busy.
        self._lock = lock or asyncio.Lock()
        self._pending: list[tuple[Req, int, asyncio.Future[Res]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, request: Req, *, weight: int = 1) -> Res:
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append((request, max(1, weight), future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Req, int, asyncio.Future[Res]]]:
        total, n = 0, 0
        for _, weight, _ in self._pending:
            if n and total + weight > self._max_weight:
                break
            total += weight
            n += 1
        batch, self._pending = self._pending[:n], self._pending[n:]
        # A caller cancelled while waiting (its poll was abandoned) drops out of the batch.
        return [p for p in batch if not p[2].done()]

    async def _drain(self) -> None:
        try:
            while self._pending:
                async with self._lock:
                    batch = self._take()
                    if batch:
                        await self._run_batch(batch)
        finally:
            self._task = None
            for _, _, future in self._pending:  # only when cancelled mid-batch
                future.cancel()
            self._pending.clear()

    async def _run_batch(self, batch: list[tuple[Req, int, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._run([req for req, _, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][2], exc=exc)
                return
            for item in batch:
                await self._run_batch([item])
            return
        except BaseException:
            for _, _, future in batch:
                future.cancel()
            raise
        for (_, _, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[Res], *, result: Res | None = None, exc: Exception | None = None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
