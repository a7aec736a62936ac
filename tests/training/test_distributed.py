"""Data parallelism: two gloo processes train to the same weights as one process."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from rnnkit.training.checkpoint import checkpoint_path, load_checkpoint
from rnnkit.training.distributed import shard_batch
from rnnkit.training.rundir import read_safetensors

sys.path.insert(0, str(Path(__file__).parent))
from torchrun_env import become_rank, run_two_ranks  # noqa: E402
from toy_objectives import train_toy  # noqa: E402


def test_shards_are_contiguous_slices_that_rebuild_the_batch():
    batch = {"x": torch.arange(7 * 2).reshape(7, 2), "lengths": torch.arange(7)}
    shards = [shard_batch(batch, rank, 3) for rank in range(3)]
    assert [len(s["x"]) for s in shards] == [3, 2, 2]
    for name in batch:
        assert torch.equal(torch.cat([s[name] for s in shards]), batch[name])
    assert shard_batch(batch, 0, 1) is batch


def _train_as_rank(rank: int, port: int, run_dir: str, streams: int = 7) -> None:
    """A worker as torchrun would start it: rank and rendezvous in environment variables."""
    become_rank(rank, port)
    train_toy(run_dir, dropout=0.0, streams=streams, checkpoint_every=3)


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    # 7 streams split 4 + 3 (uneven on purpose), truncated BPTT with a carried LSTM state.
    _, _, single = train_toy(tmp_path / "single", dropout=0.0, streams=7, checkpoint_every=3)
    assert run_two_ranks(_train_as_rank, str(tmp_path / "ddp")) == [0, 0]

    got = read_safetensors(tmp_path / "ddp" / "model.safetensors")
    want = read_safetensors(tmp_path / "single" / "model.safetensors")
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-5)

    # rank 0 alone wrote the run; its checkpoint holds every rank's random state
    state = load_checkpoint(checkpoint_path(tmp_path / "ddp"))
    assert state.state["world_size"] == 2 and state.state["step"] == single["step"]
    assert {"rank0.rng.torch", "rank1.rng.torch"} <= state.tensors.keys()
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(
        p.name for p in (tmp_path / "single").iterdir()
    )


def test_a_batch_smaller_than_the_world_leaves_a_rank_idle_and_matches_one_process(tmp_path):
    # one stream: rank 1's slice of every batch is empty, yet it joins every collective
    _, _, single = train_toy(tmp_path / "single", dropout=0.0, streams=1, checkpoint_every=3)
    assert run_two_ranks(_train_as_rank, str(tmp_path / "ddp"), 1) == [0, 0]
    got = read_safetensors(tmp_path / "ddp" / "model.safetensors")
    want = read_safetensors(tmp_path / "single" / "model.safetensors")
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)


def test_checkpoint_gathers_each_ranks_carry_of_its_own_slice(tmp_path):
    # stop mid-epoch (step 3 of 4): the checkpoint then holds a carry per rank
    assert run_two_ranks(_stop_mid_epoch_as_rank, str(tmp_path)) == [0, 0]
    tensors = load_checkpoint(checkpoint_path(tmp_path)).tensors
    assert tensors["rank0.carry.0"].shape == (1, 4, 8)  # (layers, streams of rank 0, hidden)
    assert tensors["rank1.carry.0"].shape == (1, 3, 8)
    assert not torch.equal(tensors["rank0.carry.0"][:, :3], tensors["rank1.carry.0"])


def _stop_mid_epoch_as_rank(rank: int, port: int, run_dir: str) -> None:
    become_rank(rank, port)
    train_toy(run_dir, dropout=0.0, streams=7, epochs=None, max_steps=3)
