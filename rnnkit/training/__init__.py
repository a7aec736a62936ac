"""The training engine shared by every task: loop, checkpoints, run directories, distribution.

A task builds a model and an ``Objective`` and calls ``Trainer(model, objective, options,
run_dir).fit()``; readers of a run call ``read_run_config`` and ``load_weights``.
"""

from rnnkit.layers.losses import linear_cross_entropy
from rnnkit.training.checkpoint import checkpoint_path, load_checkpoint
from rnnkit.training.options import TrainOptions, parse_duration
from rnnkit.training.protocol import (
    Batch,
    Carry,
    Objective,
    StepResult,
    ValidationHook,
    ValidationReport,
)
from rnnkit.training.rundir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FORMAT_VERSION,
    LOSS_PLOT_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    load_weights,
    read_run_config,
    read_safetensors,
    require_same_config,
    save_weights,
    write_config,
)
from rnnkit.training.runtime import preferred_precision, resolve_device, seed_everything
from rnnkit.training.trainer import Trainer, TrainingDiverged, build_optimizer

__all__ = [
    "linear_cross_entropy",
    "preferred_precision",
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "LOSS_PLOT_FILE",
    "METRICS_FILE",
    "WEIGHTS_FILE",
    "Batch",
    "Carry",
    "Objective",
    "StepResult",
    "TrainOptions",
    "Trainer",
    "TrainingDiverged",
    "ValidationHook",
    "ValidationReport",
    "build_optimizer",
    "checkpoint_path",
    "load_checkpoint",
    "load_weights",
    "parse_duration",
    "read_run_config",
    "read_safetensors",
    "require_same_config",
    "resolve_device",
    "save_weights",
    "seed_everything",
    "write_config",
]
