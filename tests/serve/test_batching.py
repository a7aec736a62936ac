"""DynamicBatcher: concurrent submissions run together, each caller gets its own result, a bad
item fails only its own caller, and batches never exceed max_batch."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rnnkit.serve.batching import DynamicBatcher


class Recorder:
    """A batch function that squares its items and records every batch it was given."""

    def __init__(self, refuse: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.refuse = refuse

    def __call__(self, items):
        self.batches.append(list(items))
        self.threads.add(threading.get_ident())
        if self.refuse in items:
            raise ValueError(f"refused {self.refuse}")
        return [item * item for item in items]


def submit_all(batcher: DynamicBatcher, items: list[int]) -> list:
    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_items_run_in_one_batch_and_each_gets_its_own_result():
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch=16, window_s=0.01)
    results = submit_all(batcher, list(range(10)))
    assert results == [i * i for i in range(10)]
    assert recorder.batches == [list(range(10))]
    assert threading.get_ident() not in recorder.threads  # ran off the event loop's thread
    assert (batcher.stats.batches, batcher.stats.items, batcher.stats.largest) == (1, 10, 10)


def test_batches_are_cut_at_max_batch_in_arrival_order():
    recorder = Recorder()
    results = submit_all(DynamicBatcher(recorder, max_batch=4, window_s=0.01), list(range(10)))
    assert results == [i * i for i in range(10)]
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_bad_item_fails_only_its_own_caller():
    recorder = Recorder(refuse=3)
    results = submit_all(DynamicBatcher(recorder, max_batch=8, window_s=0.01), [1, 2, 3, 4])
    assert results[:2] == [1, 4] and results[3] == 16
    assert isinstance(results[2], ValueError) and str(results[2]) == "refused 3"
    # the whole batch first, then each item alone
    assert recorder.batches == [[1, 2, 3, 4], [1], [2], [3], [4]]


def test_items_submitted_after_a_batch_ran_start_a_new_one():
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch=8, window_s=0.0)

    async def main():
        first = await batcher.submit(2)
        second = await asyncio.gather(batcher.submit(3), batcher.submit(4))
        return first, second

    assert asyncio.run(main()) == (4, [9, 16])
    assert recorder.batches == [[2], [3, 4]]


def test_a_wrong_number_of_results_is_an_error_not_a_silent_mismatch():
    batcher = DynamicBatcher(lambda items: [0], max_batch=4, window_s=0.01)
    results = submit_all(batcher, [1, 2])
    # alone, each item gets its one result
    assert results == [0, 0]
    lonely = DynamicBatcher(lambda items: [], max_batch=4, window_s=0.0)
    (result,) = submit_all(lonely, [1])
    assert isinstance(result, RuntimeError)


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"window_s": -1.0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        DynamicBatcher(lambda items: items, **kwargs)
