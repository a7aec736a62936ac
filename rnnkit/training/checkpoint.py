"""Resumable checkpoints without pickle: one safetensors file, its header holding JSON state.

``run_dir/checkpoint/last.safetensors`` holds every tensor of the training state (model weights,
best weights so far, optimiser moments, RNG states, the truncated-BPTT carry) and, in the
safetensors header metadata, a JSON document with everything else (step, epoch, position in the
epoch, schedule and early-stopping state, the structure of the carry and the optimiser). Keeping
it in one file makes the checkpoint atomic as a whole: it is written to a temporary file, synced
and renamed, so a run killed at any moment finds either the previous checkpoint or the new one.

The helpers here turn the pieces of training state into ``(tensors, json)`` pairs and back.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors_bytes

from rnnkit.errors import UserError
from rnnkit.training.atomic import atomic_write_bytes
from rnnkit.training.protocol import Carry
from rnnkit.training.rundir import CHECKPOINT_DIR, state_to_bytes

CHECKPOINT_FILE = "last.safetensors"
CHECKPOINT_VERSION = 1
_STATE_KEY = "rnnkit_state"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the JSON state and the named tensors."""

    state: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def tensors_under(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose names start with ``prefix + '.'``, with the prefix removed."""
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}


def checkpoint_path(run_dir: str | Path) -> Path:
    """Where the checkpoint of a run directory lives."""
    return Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_FILE


def save_checkpoint(path: str | Path, state: Mapping[str, Any], tensors: Mapping[str, Any]) -> None:
    """Write the checkpoint atomically: ``tensors`` as safetensors, ``state`` as JSON metadata."""
    document = json.dumps({"version": CHECKPOINT_VERSION, **state})
    atomic_write_bytes(path, state_to_bytes(tensors, {_STATE_KEY: document}))


def load_checkpoint(path: str | Path) -> Checkpoint | None:
    """Read a checkpoint; ``None`` if there is none; ``UserError`` if it is damaged."""
    path = Path(path)
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        tensors = load_safetensors_bytes(data)
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = json.loads(metadata[_STATE_KEY])
    except (SafetensorError, ValueError, RuntimeError, KeyError) as error:
        raise UserError(
            f"checkpoint {path} is damaged ({error}); delete it to start over without --resume."
        ) from None
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise UserError(f"checkpoint {path} comes from a newer rnnkit; upgrade rnnkit to resume.")
    return Checkpoint(state=state, tensors=tensors)


# ----------------------------------------------------------------------------- prefixes


def with_prefix(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tensors`` with every name turned into ``prefix.name``."""
    return {f"{prefix}.{name}": tensor for name, tensor in tensors.items()}


# ----------------------------------------------------------------------------- optimiser


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimiser's state dict as (tensors, JSON): moments as tensors, the rest as JSON."""
    full = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, dict[str, Any]] = {}
    for index, entries in full["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                values.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": full["param_groups"], "values": values}


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], document: dict
) -> None:
    """Inverse of ``optimizer_state``: rebuild the state dict and load it into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    for index, entries in document["values"].items():
        state.setdefault(int(index), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": document["param_groups"]})


# ----------------------------------------------------------------------------- random states


def capture_rng_state() -> dict[str, torch.Tensor]:
    """The states of torch (CPU and CUDA), NumPy and Python ``random``, all as tensors."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{index}"] = cuda_state
    _, keys, position, has_gauss, cached_gauss = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    tensors["numpy_extra"] = torch.tensor([position, has_gauss, cached_gauss], dtype=torch.float64)
    version, internal, gauss_next = random.getstate()
    tensors["python"] = torch.tensor([version, *internal], dtype=torch.int64)
    tensors["python_gauss"] = torch.tensor(
        [gauss_next is not None, gauss_next or 0.0], dtype=torch.float64
    )
    return tensors


def restore_rng_state(tensors: Mapping[str, torch.Tensor]) -> None:
    """Inverse of ``capture_rng_state``."""
    torch.set_rng_state(tensors["torch"].to(torch.uint8))
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            if f"cuda{index}" in tensors:
                torch.cuda.set_rng_state(tensors[f"cuda{index}"].to(torch.uint8), index)
    position, has_gauss, cached_gauss = tensors["numpy_extra"].tolist()
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(position), int(has_gauss), cached_gauss))
    python = tensors["python"].tolist()
    has_next, gauss_next = tensors["python_gauss"].tolist()
    random.setstate((python[0], tuple(python[1:]), gauss_next if has_next else None))


# ----------------------------------------------------------------------------- carry


def flatten_carry(carry: Carry) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a carry (tensor, tuple/list/dict of them, None) into a JSON structure and tensors."""
    tensors: dict[str, torch.Tensor] = {}

    def visit(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, torch.Tensor):
            key = str(len(tensors))
            tensors[key] = node.detach()
            return {"tensor": key}
        if isinstance(node, (tuple, list)):
            return {"tuple" if isinstance(node, tuple) else "list": [visit(n) for n in node]}
        if isinstance(node, Mapping):
            return {"dict": {str(k): visit(v) for k, v in node.items()}}
        if isinstance(node, (bool, int, float, str)):
            return {"value": node}
        raise TypeError(
            f"a carry must hold tensors, tuples, lists, dicts or numbers, got {type(node).__name__}"
        )

    return visit(carry), tensors


def unflatten_carry(
    structure: Any, tensors: Mapping[str, torch.Tensor], device: torch.device | str = "cpu"
) -> Carry:
    """Inverse of ``flatten_carry``, with tensors moved to ``device``."""
    if structure is None:
        return None
    if "tensor" in structure:
        return tensors[structure["tensor"]].to(device)
    if "tuple" in structure:
        return tuple(unflatten_carry(s, tensors, device) for s in structure["tuple"])
    if "list" in structure:
        return [unflatten_carry(s, tensors, device) for s in structure["list"]]
    if "dict" in structure:
        return {k: unflatten_carry(s, tensors, device) for k, s in structure["dict"].items()}
    return structure["value"]


def detach_carry(carry: Carry) -> Carry:
    """The carry with every tensor detached from the graph (the cut of truncated BPTT)."""
    if isinstance(carry, torch.Tensor):
        return carry.detach()
    if isinstance(carry, tuple):
        return tuple(detach_carry(c) for c in carry)
    if isinstance(carry, list):
        return [detach_carry(c) for c in carry]
    if isinstance(carry, Mapping):
        return {k: detach_carry(v) for k, v in carry.items()}
    return carry
