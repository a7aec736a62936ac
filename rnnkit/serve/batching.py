"""Dynamic batching: requests that arrive close together run as one batch.

A server answering many clients at once spends most of a small model's time in per-call
overhead; running the inputs of concurrent requests through one call amortises it. A
``DynamicBatcher`` owns one function ``run_batch(items) -> results`` (one result per item, in
order). ``await batcher.submit(item)`` queues the item; the first item of a batch waits
``window_s`` for others to join, then up to ``max_batch`` queued items run in one call on a
worker thread while newer items queue for the next batch. Each caller gets its own result.

If a batch raises, its items are run again one at a time, so a bad input fails only its own
request (with its own exception) and never its neighbours'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class BatchStats:
    """What a batcher has done: ``batches`` calls of ``run_batch`` over ``items`` items."""

    batches: int = 0
    items: int = 0
    largest: int = 0


class DynamicBatcher(Generic[Item, Result]):
    """Groups concurrent ``submit`` calls into calls of ``run_batch``.

    Args:
        run_batch: items -> one result per item, in order; runs on a worker thread.
        max_batch: the most items in one call.
        window_s: how long the first item of a batch waits for others to join.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        max_batch: int = 16,
        window_s: float = 0.005,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.run_batch, self.max_batch, self.window_s = run_batch, max_batch, window_s
        self.stats = BatchStats()
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue ``item``, wait for its batch to run, and return its result (or raise its
        exception)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Run queued items batch by batch until the queue is empty."""
        while self._queue:
            if self.window_s > 0:
                await asyncio.sleep(self.window_s)
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            await self._run(batch)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        items = [item for item, _ in batch]
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        try:
            results = await asyncio.to_thread(self.run_batch, items)
            if len(results) != len(items):
                raise RuntimeError(f"run_batch gave {len(results)} results for {len(items)} items")
        except Exception as error:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(error)
                return
            for one in batch:  # find whose input failed: each item alone
                await self._run([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
