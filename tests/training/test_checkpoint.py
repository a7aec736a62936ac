"""Checkpoint pieces: atomic writes, bit-exact round trips of optimiser, RNG and carry state."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.training.atomic import atomic_write_bytes
from rnnkit.training.checkpoint import (
    capture_rng_state,
    flatten_carry,
    load_checkpoint,
    load_optimizer_state,
    optimizer_state,
    restore_rng_state,
    save_checkpoint,
    unflatten_carry,
)


def test_interrupted_atomic_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "last.safetensors"
    atomic_write_bytes(target, b"old contents")

    def crash(*args):
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="unplugged"):
        atomic_write_bytes(target, b"new contents that never land")
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["last.safetensors"]  # no temporary file left behind


def test_atomic_write_interrupted_by_ctrl_c_mid_sync_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write_bytes(target, b"{}")

    def interrupt(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b'{"half": ')
    assert target.read_bytes() == b"{}"
    assert os.listdir(tmp_path) == ["config.json"]


def _trained_adam():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.8, 0.95))
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().mean().backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_optimizer_state_round_trips_bit_exactly_through_a_checkpoint(tmp_path, kind):
    model, optimizer = _trained_adam()
    if kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model(torch.randn(2, 3)).sum().backward()
        optimizer.step()
    tensors, document = optimizer_state(optimizer)
    save_checkpoint(tmp_path / "c.safetensors", {"optimizer": document}, tensors)
    loaded = load_checkpoint(tmp_path / "c.safetensors")

    twin = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    twin.load_state_dict(model.state_dict())
    fresh = type(optimizer)(twin.parameters(), lr=1.0)
    load_optimizer_state(fresh, loaded.tensors, loaded.state["optimizer"])
    original, restored = optimizer.state_dict(), fresh.state_dict()
    assert restored["param_groups"][0]["lr"] == original["param_groups"][0]["lr"]
    for index, entries in original["state"].items():
        for name, value in entries.items():
            assert torch.equal(restored["state"][index][name], value), (index, name)
    # and both take the same next step
    batch = torch.randn(4, 3)
    for m, opt in ((model, optimizer), (twin, fresh)):
        opt.zero_grad()
        m(batch).square().mean().backward()
        opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def _draws():
    return (
        torch.rand(4).tolist(),
        np.random.rand(3).tolist(),
        np.random.randn(1).tolist(),
        random.random(),
        random.gauss(0, 1),
    )


def test_rng_state_round_trip_replays_the_same_numbers(tmp_path):
    torch.manual_seed(11)
    np.random.seed(11)
    random.seed(11)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    random.gauss(0, 1)  # and one in Python's
    save_checkpoint(tmp_path / "rng.safetensors", {}, capture_rng_state())
    first = _draws()
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    restore_rng_state(load_checkpoint(tmp_path / "rng.safetensors").tensors)
    assert _draws() == first


def test_carry_structures_round_trip():
    h, c = torch.randn(1, 2, 3), torch.randn(1, 2, 3)
    carry = {"encoder": (h, c), "steps": [torch.arange(2), 5], "none": None}
    structure, tensors = flatten_carry(carry)
    restored = unflatten_carry(structure, tensors)
    assert isinstance(restored["encoder"], tuple) and isinstance(restored["steps"], list)
    assert torch.equal(restored["encoder"][0], h) and torch.equal(restored["encoder"][1], c)
    assert torch.equal(restored["steps"][0], torch.arange(2)) and restored["steps"][1] == 5
    assert restored["none"] is None
    assert unflatten_carry(*flatten_carry(None)) is None


def test_a_carry_of_unknown_objects_is_refused():
    with pytest.raises(TypeError, match="object"):
        flatten_carry((torch.zeros(1), object()))


def test_damaged_checkpoint_is_a_user_error(tmp_path):
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"step": 3}, {"w": torch.ones(10)})
    assert load_checkpoint(path).state["step"] == 3
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(UserError, match="damaged"):
        load_checkpoint(path)
    assert load_checkpoint(tmp_path / "absent.safetensors") is None
