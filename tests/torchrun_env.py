"""Starting worker processes as ``torchrun`` starts them, for the data-parallel tests."""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for the rendezvous)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def become_rank(rank: int, port: int, world_size: int = 2) -> None:
    """Set the environment variables torchrun gives a worker: its rank and the rendezvous."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world_size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )


def run_two_ranks(worker: Callable[..., None], *args: Any) -> list[int | None]:
    """Fork two processes running ``worker(rank, port, *args)`` and wait for them (at most two
    minutes); their exit codes. Forked workers start in a blink: this process has already
    imported and warmed up torch."""
    port = free_port()
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=worker, args=(rank, port, *args)) for rank in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    return [process.exitcode for process in processes]
