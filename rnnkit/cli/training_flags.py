"""The flags every ``rnnkit train <task>`` shares: optimiser, schedule, budgets, checkpoints, ...

They mirror ``rnnkit.training.TrainOptions`` field by field, so each task command declares only
its own flags and gets these (and ``--config``) from one decorator::

    @train_app.command("lm")
    @with_training_flags(LMOptions)
    def train_lm(ctx: typer.Context, data: ..., hidden: ...) -> None:
        options = options_from_context(LMOptions, ctx)

The defaults shown come from the task's options dataclass, which may override ``TrainOptions``'s.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from rnnkit.cli.options import ConfigOption
from rnnkit.training.options import TrainOptions

# field of TrainOptions -> (type on the command line, help)
TRAINING_FLAGS: dict[str, tuple[Any, str]] = {
    "optimizer": (Literal["sgd", "adam", "adamw"], "Optimiser."),
    "lr": (float, "Peak learning rate."),
    "weight_decay": (float | None, "Weight decay; when unset, 0.01 for adamw and 0 otherwise."),
    "momentum": (float, "Momentum of sgd."),
    "schedule": (
        Literal["constant", "step", "cosine", "plateau"],
        "Learning-rate schedule after the warm-up.",
    ),
    "warmup_steps": (int, "Steps of linear learning-rate warm-up."),
    "min_lr": (float, "Lowest learning rate of the cosine and plateau schedules."),
    "lr_decay": (float, "Factor of each decay of the step and plateau schedules."),
    "lr_step_size": (int | None, "Steps between decays of the step schedule (default: an epoch)."),
    "plateau_patience": (int, "Evaluations without improvement before plateau decays."),
    "clip_norm": (float | None, "Clip the gradient's norm to this."),
    "clip_value": (float | None, "Clip each gradient value to +-this."),
    "epochs": (int | None, "Passes over the training data."),
    "max_steps": (int | None, "Stop after this many training batches."),
    "time_limit": (str | None, "Stop after this much time, e.g. 90s, 10m, 1h30m."),
    "eval_every": (int | None, "Steps between validations (default: each epoch end)."),
    "patience": (int | None, "Stop after this many validations without improvement."),
    "min_delta": (float, "Smallest change of the validation metric that counts as improvement."),
    "checkpoint_every": (int | None, "Steps between checkpoints (default: by time, and epochs)."),
    "checkpoint_seconds": (float, "Seconds between checkpoints when --checkpoint-every is unset."),
    "resume": (bool, "Continue the run in --out from its last checkpoint."),
    "precision": (Literal["fp32", "bf16"], "Numeric precision (bf16 autocast on CPU or CUDA)."),
    "device": (str, "auto, cpu, cuda or cuda:N."),
    "seed": (int, "Seed of every random choice: weights, dropout, data order."),
    "max_bad_steps": (int, "Consecutive NaN/Inf steps before training stops."),
    "log_every": (int, "Steps between log lines and metrics.csv rows."),
    "progress": (Literal["auto", "bar", "plain", "off"], "Progress display on stderr."),
    "tensorboard": (bool, "Also write TensorBoard events (needs tensorboard installed)."),
}

_PANEL = "Training"


def _training_parameters(options_class: type) -> list[inspect.Parameter]:
    """One keyword parameter per ``TrainOptions`` field, with the task's default."""
    defaults = options_class()
    parameters = []
    for field in dataclasses.fields(TrainOptions):
        kind, help_text = TRAINING_FLAGS[field.name]  # KeyError: a new field needs a flag here
        option = typer.Option(help=help_text, rich_help_panel=_PANEL)
        default = getattr(defaults, field.name)
        if field.name == "time_limit" and default is not None:
            default = f"{default:g}s"  # TrainOptions stores seconds; the flag takes a duration
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[kind, option],
            )
        )
    return parameters


def with_training_flags(options_class: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the ``TrainOptions`` flags and ``--config`` to a typer command.

    The command itself receives only its own parameters; it reads everything, the added flags
    included, through ``options_from_context(options_class, ctx)``.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        own = list(signature.parameters)

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return command(*args, **{name: value for name, value in kwargs.items() if name in own})

        config = inspect.Parameter(
            "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption
        )
        parameters = [
            *(
                p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                for p in signature.parameters.values()
            ),
            *_training_parameters(options_class),
            config,
        ]
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        wrapper.options_class = options_class  # type: ignore[attr-defined]  (for tests and tools)
        return wrapper

    return decorate
