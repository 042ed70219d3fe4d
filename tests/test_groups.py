"""GroupRunner: the poller's group commit (batching, isolation of a failing request)."""

from __future__ import annotations

import asyncio

import pytest

from bot.groups import GroupRunner


class Recorder:
    """A batch function that records each batch and fails for requests named "bad"."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()

    async def run(self, batch: list[str]) -> list[str]:
        self.batches.append(list(batch))
        await self.gate.wait()
        if "bad" in batch:
            raise ValueError("bad request")
        return [r.upper() for r in batch]


async def test_requests_arriving_during_a_batch_share_the_next_one() -> None:
    rec = Recorder()
    runner: GroupRunner[str, str] = GroupRunner(rec.run, max_weight=100)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)  # "a" is now at the database, alone
    rest = [asyncio.create_task(runner.submit(r)) for r in ("b", "c", "d")]
    await asyncio.sleep(0)
    rec.gate.set()
    assert await first == "A"
    assert [await t for t in rest] == ["B", "C", "D"]
    assert rec.batches == [["a"], ["b", "c", "d"]]


async def test_batches_respect_the_weight_cap() -> None:
    rec = Recorder()
    rec.gate.set()
    runner: GroupRunner[str, str] = GroupRunner(rec.run, max_weight=10)
    tasks = [asyncio.create_task(runner.submit(r, weight=4)) for r in "abcde"]
    # One request heavier than the cap still goes through, alone.
    tasks.append(asyncio.create_task(runner.submit("f", weight=50)))
    assert [await t for t in tasks] == list("ABCDEF")
    assert rec.batches == [["a", "b"], ["c", "d"], ["e"], ["f"]]


async def test_a_failing_request_fails_alone() -> None:
    rec = Recorder()
    rec.gate.set()
    runner: GroupRunner[str, str] = GroupRunner(rec.run, max_weight=100)
    tasks = [asyncio.create_task(runner.submit(r)) for r in ("a", "bad", "c")]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    # The whole batch failed once, then each request ran alone.
    assert rec.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_a_cancelled_caller_leaves_the_others_alone() -> None:
    rec = Recorder()
    runner: GroupRunner[str, str] = GroupRunner(rec.run, max_weight=100)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(runner.submit("b"))
    stayer = asyncio.create_task(runner.submit("c"))
    await asyncio.sleep(0)
    quitter.cancel()
    rec.gate.set()
    assert await first == "A"
    assert await stayer == "C"
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert rec.batches == [["a"], ["c"]]
