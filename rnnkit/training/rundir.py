"""The run directory: what ``rnnkit train`` leaves behind, and how every later command reads it.

Layout (one folder per run)::

    config.json          {"task", "format_version", "rnnkit_version", <sections: options, model...>}
    model.safetensors    final weights (the best ones when there was validation)
    metrics.csv          step, epoch, train_loss, items_per_s, lr, val_<metric>...
    loss.png             training and validation curves
    checkpoint/          state for --resume (see ``rnnkit.training.checkpoint``)
    (task files: tokenizer, vocabulary, scaler, task plots)

Weights are safetensors and configs JSON: loading a run never executes code. Every reader checks
what it reads and raises ``UserError`` with one sentence naming the file and the fault.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from rnnkit.errors import UserError
from rnnkit.training.atomic import atomic_write_bytes, atomic_write_text

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
LOSS_PLOT_FILE = "loss.png"
CHECKPOINT_DIR = "checkpoint"


def to_jsonable(value: Any) -> Any:
    """``value`` with dataclasses, paths and tuples turned into JSON types (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"config values must be JSON-like, got {type(value).__name__}: {value!r}")


def write_config(run_dir: str | Path, task: str, **sections: Any) -> Path:
    """Write ``run_dir/config.json`` atomically and return its path.

    Each keyword becomes one top-level section (a dataclass or a mapping), for example
    ``write_config(out, "lm", options=lm_options, model=model_config, data={"tokens": n})``.
    """
    import rnnkit  # late import: rnnkit/__init__ may import training modules

    reserved = {"task", "format_version", "rnnkit_version"} & sections.keys()
    if reserved:
        raise ValueError(f"section names {sorted(reserved)} are reserved in config.json")
    config = {"task": task, "format_version": FORMAT_VERSION, "rnnkit_version": rnnkit.__version__}
    config.update({name: to_jsonable(section) for name, section in sections.items()})
    path = Path(run_dir) / CONFIG_FILE
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=False) + "\n")
    return path


def read_run_config(path: str | Path, expected_task: str | None = None) -> dict[str, Any]:
    """Read and check ``path/config.json`` of a run directory; ``UserError`` if it is not usable."""
    run_dir = Path(path)
    if not run_dir.exists():
        raise UserError(
            f"run directory {run_dir} does not exist; give the --out directory of a run."
        )
    if not run_dir.is_dir():
        raise UserError(
            f"{run_dir} is not a directory; give the --out directory of a training run."
        )
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(
            f"{run_dir} has no {CONFIG_FILE}, so it is not an rnnkit run directory; "
            "give the --out directory that `rnnkit train` wrote."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(
            f"{config_path} is not valid JSON ({error}); restore it or train the run again."
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        raise UserError(f"{config_path} has no 'task' entry; restore it or train the run again.")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise UserError(f"{config_path} has no integer 'format_version'; train the run again.")
    if version > FORMAT_VERSION:
        raise UserError(
            f"{run_dir} was written by a newer rnnkit (run format {version}, this rnnkit reads up "
            f"to {FORMAT_VERSION}); upgrade rnnkit to read it."
        )
    if expected_task is not None and config["task"] != expected_task:
        raise UserError(
            f"{run_dir} is a run of task '{config['task']}', not '{expected_task}'; "
            f"give a run directory trained with `rnnkit train {expected_task}`."
        )
    return config


def require_same_config(
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    what: str = "model option",
    ignore: Iterable[str] = (),
) -> None:
    """Refuse to resume when ``current`` differs from ``stored``, naming the first difference.

    Nested mappings are compared key by key (reported as ``a.b``); keys in ``ignore`` are skipped.
    Both sides pass through ``to_jsonable`` first, so a dataclass compares equal to its JSON form.
    """
    old = _flatten(to_jsonable(stored))
    new = _flatten(to_jsonable(current))
    skipped = set(ignore)
    for key in sorted(old.keys() | new.keys()):
        if key in skipped or key.split(".")[0] in skipped:
            continue
        missing = "<unset>"
        if old.get(key, missing) != new.get(key, missing):
            raise UserError(
                f"cannot resume: {what} '{key}' was {old.get(key, missing)!r} in the run but is "
                f"{new.get(key, missing)!r} now; use the run's value or train into a new --out "
                "directory."
            )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


# ----------------------------------------------------------------------------- weights


def unique_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict without aliases (tied weights kept once, under the first name)."""
    unique: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name, tensor in module.state_dict().items():
        identity = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
        )
        if tensor.numel() > 0 and identity in seen:
            continue
        seen.add(identity)
        unique[name] = tensor
    return unique


def state_to_bytes(tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None) -> bytes:
    """Serialize tensors (any device) to safetensors bytes."""
    # Copies, so that views sharing one storage (which safetensors refuses) serialize too.
    cpu = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
    return save_safetensors_bytes(cpu, metadata=metadata)


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write the model's weights (parameters and buffers) to a safetensors file, atomically."""
    data = state_to_bytes(unique_state_dict(model), {"format": "pt"})
    atomic_write_bytes(path, data)


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; ``UserError`` naming the file if missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; train the run again or give the right directory.")
    try:
        return load_safetensors_bytes(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise UserError(
            f"{path} is truncated or corrupted ({error}); restore it or train the run again."
        ) from None


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights written by ``save_weights`` into ``model`` (in place) and return it.

    Raises ``UserError`` naming the file when it is missing, damaged, or does not fit the model.
    A model whose weight names changed offers ``upgrade_weight_names(tensors) -> tensors``, which
    renames those of older runs before they are checked.
    """
    tensors = read_safetensors(path)
    # a model whose weights were renamed since older runs were written maps the old names
    upgrade = getattr(model, "upgrade_weight_names", None)
    if upgrade is not None:
        tensors = upgrade(tensors)
    expected = unique_state_dict(model)
    for name, tensor in expected.items():
        if name not in tensors:
            raise UserError(
                f"{path} has no tensor '{name}', so it does not belong to this model; "
                "give the model.safetensors of the same run."
            )
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise UserError(
                f"{path} does not fit this model: '{name}' has shape {tuple(tensors[name].shape)} "
                f"in the file but {tuple(tensor.shape)} in the model; check the run's config.json."
            )
    unexpected = sorted(tensors.keys() - expected.keys())
    if unexpected:
        raise UserError(
            f"{path} holds tensor '{unexpected[0]}' that this model does not have; "
            "give the model.safetensors of the same run."
        )
    copy_weights_into(expected, tensors)
    return model


def copy_weights_into(
    targets: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor]
) -> None:
    """Copy ``tensors[name]`` into each of a model's ``targets`` (from ``unique_state_dict``), in
    place and outside autograd; the caller has checked that the names and shapes fit."""
    with torch.no_grad():
        for name, target in targets.items():
            target.copy_(tensors[name])
