"""Data-parallel training on ``torch.distributed`` (what ``torchrun --nproc-per-node=N`` starts).

Each process (rank) sees the same global batches, keeps its contiguous slice of dim 0, computes
its loss and gradients, and the gradients are combined with one ``all_reduce`` per step, each rank
weighted by its share of the batch's items. The sum equals the gradient of the global batch's mean
loss, so N processes step exactly as one process with the whole batch would (up to float rounding
in the reduction), even when the batch does not split evenly.

The same arithmetic as ``DistributedDataParallel``, written out rather than wrapping the model:
objectives may call any method of the model (an encoder, a decoder step), not only ``forward``,
and parameters a batch leaves unused need no special flag. Rank 0 alone writes files.

The process group is set up from the environment variables torchrun exports (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rnnkit.training.protocol import Batch


def is_main_process() -> bool:
    """Whether this process writes the run directory: rank 0 under torchrun, or the only one.

    Before the process group exists (a task writes its config before the trainer starts), the
    ``RANK`` variable that torchrun sets decides.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


@dataclass
class DistributedContext:
    """Where this process stands among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_process_group: bool = False  # True if we created it (and so destroy it at the end)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_distributed() -> bool:
    """True when the environment asks for more than one process (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join (or reuse) the process group; a one-process context when not launched with torchrun."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        )
    if not launched_distributed():
        return DistributedContext()
    backend = "nccl" if device_type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://")
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        owns_process_group=True,
    )


def shutdown_distributed(context: DistributedContext) -> None:
    """Destroy the process group if ``init_distributed`` created it."""
    if context.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()


def shard_batch(batch: Batch, rank: int, world_size: int) -> Batch:
    """This rank's contiguous slice of dim 0 of every tensor (sizes differ by at most one)."""
    if world_size == 1:
        return batch
    return {name: torch.tensor_split(t, world_size, dim=0)[rank] for name, t in batch.items()}


def communication_device() -> torch.device:
    """Where tensors must live for collectives: the current GPU under nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(flags: list[bool]) -> list[bool]:
    """Each flag True on every rank if it is True on any rank (a logical OR across ranks)."""
    values = torch.tensor([float(f) for f in flags], device=communication_device())
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(v) for v in values.tolist()]


def all_reduce_sum(values: Tensor) -> Tensor:
    """Element-wise sum over ranks, in place; returns ``values``."""
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def combine_gradients(parameters: Iterable[nn.Parameter], weight: float) -> None:
    """Replace each gradient by the sum over ranks of ``weight * gradient`` (one all_reduce).

    With ``weight`` = this rank's items / all ranks' items, the result is the gradient of the
    mean loss over the global batch. Parameters without a gradient count as zero.
    """
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        return
    flat = torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
            for p in parameters
        ]
    )
    flat.mul_(weight)
    all_reduce_sum(flat)
    offset = 0
    for p in parameters:
        count = p.numel()
        combined = flat[offset : offset + count].view_as(p).to(p.dtype)
        if p.grad is None:
            p.grad = combined.clone()
        else:
            p.grad.copy_(combined)
        offset += count


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank, so all start identical."""
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def gather_tensors(tensor: Tensor) -> list[Tensor]:
    """Every rank's ``tensor`` (same dtype and at most 8 dims; shapes may differ), on every rank."""
    world_size = dist.get_world_size()
    home = tensor.device
    device = communication_device()
    tensor = tensor.to(device)
    shape = torch.tensor(
        list(tensor.shape) + [-1] * (8 - tensor.dim()), dtype=torch.int64, device=device
    )
    shapes = [torch.empty_like(shape) for _ in range(world_size)]
    dist.all_gather(shapes, shape)
    dims_per_rank = [[int(d) for d in s.tolist() if d >= 0] for s in shapes]
    sizes = [math.prod(dims) for dims in dims_per_rank]
    flat = torch.zeros(max(sizes), dtype=tensor.dtype, device=device)
    flat[: tensor.numel()] = tensor.reshape(-1)
    gathered = [torch.empty_like(flat) for _ in range(world_size)]
    dist.all_gather(gathered, flat)
    return [
        data[:size].reshape(dims).to(home)
        for dims, size, data in zip(dims_per_rank, sizes, gathered, strict=True)
    ]
