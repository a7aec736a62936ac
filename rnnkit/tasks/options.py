"""What the options of every task share: input, output and cell fields, and the checks of values.

Each task's options dataclass (``LMOptions``, ``ClassifyOptions``, ``TagOptions``,
``TranslateOptions``, ``SeriesOptions`` and its subclasses) extends ``TaskOptions``, which extends
``TrainOptions`` with the fields every task has: the data file, the run directory, the files'
encoding and the recurrent cell. ``validate()`` checks those; a task's own ``validate()`` calls it
first and then checks its own fields with the ``require_*`` helpers, so every task words the same
kind of mistake in the same way.

Every field is declared with ``option(default, help=..., panel=..., fixed=...)``: its help text
and panel make the ``rnnkit train <task>`` flag (``rnnkit.cli.train_command``), and ``fixed``
marks the options a resumed run must keep (``model_options``). A subclass that only changes a
default may redeclare the field plainly (``lr: float = 3e-3``): the help is inherited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rnnkit.errors import UserError
from rnnkit.layers import CELL_NAMES
from rnnkit.training import TrainOptions
from rnnkit.training.options import TRAINING, option

#: the ``--help`` panels of task options (training options have their own, ``TRAINING``)
DATA, MODEL = "Data", "Model"

__all__ = [
    "DATA",
    "MODEL",
    "TRAINING",
    "TaskOptions",
    "flag",
    "model_option",
    "option",
    "require_at_least",
]


def model_option(default: Any = None, help: str = "", **more: Any) -> Any:
    """An option of the model: in the Model panel, and ``fixed`` (a resumed run keeps it)."""
    return option(default, help=help, panel=MODEL, fixed=True, **more)


@dataclass
class TaskOptions(TrainOptions):
    """The fields and checks every task shares; each task adds its own fields and defaults."""

    data: Path | None = option(None, help="Training file.")
    out: Path | None = option(None, help="Run directory to write.")
    encoding: str = option("utf-8", help="Text encoding of the files.")
    cell: str = model_option("lstm", help=f"Recurrent cell: {', '.join(CELL_NAMES)}.")

    #: what ``validate`` says when ``data`` is missing (each task names its kind of file)
    missing_data_message: ClassVar[str] = "no training data was given; pass --data FILE."
    #: the fields holding a path, turned into ``Path`` when given as text
    path_fields: ClassVar[tuple[str, ...]] = ("data", "out")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.path_fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))

    def validate(self) -> TaskOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        if self.data is None:
            raise UserError(self.missing_data_message)
        if self.out is None:
            raise UserError("no run directory was given; pass --out DIR.")
        self.require_known("cell", CELL_NAMES)
        return self

    def for_tuning(self) -> TaskOptions:
        """The options each ``rnnkit tune`` trial starts from (a task whose default suits one
        run but not a trial, such as an ensemble trained before the pruner hears of it, changes
        that default here)."""
        return self

    def model_options(self) -> dict[str, Any]:
        """The options that fix the model or the data layout (``fixed``), and the seed: a
        resumed run must keep them, or its weights and artifacts would not fit."""
        fixed = {f.name: getattr(self, f.name) for f in fixed_fields(type(self))}
        return {**fixed, "seed": self.seed}

    def train_options(self) -> TrainOptions:
        """The ``TrainOptions`` part, for the trainer."""
        return TrainOptions.from_dict(dataclasses.asdict(self))

    # checks for the subclasses' validate(), each naming the option by its flag

    def require_known(self, name: str, allowed: Collection[str]) -> None:
        """Option ``name`` must be one of ``allowed``."""
        value = getattr(self, name)
        if value not in allowed:
            raise UserError(
                f"{flag(name)} {value!r} is not known; use one of {', '.join(allowed)}."
            )

    def require_whole_numbers(self, *names: str, at_least: int = 1, optional: bool = False) -> None:
        """Options ``names`` must be whole numbers ``>= at_least`` (or None when ``optional``)."""
        for name in names:
            value = getattr(self, name)
            if not (optional and value is None):
                require_at_least(name, value, at_least)

    def require_rates(self, *names: str) -> None:
        """Options ``names`` must lie in [0, 1), as a dropout probability does."""
        for name in names:
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise UserError(f"{flag(name)} must be in [0, 1), got {value}.")

    def require_non_negative(self, *names: str) -> None:
        """Options ``names`` must be numbers ``>= 0``, as a weight or a margin is."""
        for name in names:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise UserError(f"{flag(name)} must be a number >= 0, got {value!r}.")

    def require_fractions(self, *names: str) -> None:
        """Options ``names`` must lie strictly between 0 and 1, as a share of the data does."""
        for name in names:
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise UserError(f"{flag(name)} must be in (0, 1), got {value}.")


def field_metadata(options_class: type, name: str) -> dict[str, Any]:
    """The ``option`` metadata of field ``name``, from the nearest class that declared it so
    (a subclass that only changes a default inherits the help)."""
    for klass in options_class.__mro__:
        declared = getattr(klass, "__dataclass_fields__", {}).get(name)
        if declared is not None and "help" in declared.metadata:
            return dict(declared.metadata)
    raise TypeError(f"{options_class.__name__}.{name} is not declared with option(help=...)")


def fixed_fields(options_class: type) -> list[dataclasses.Field]:
    """The fields of ``options_class`` marked ``fixed`` (model and data layout)."""
    return [
        f
        for f in dataclasses.fields(options_class)
        if field_metadata(options_class, f.name).get("fixed")
    ]


def flag(name: str) -> str:
    """The command-line flag of an options field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def require_at_least(name: str, value: Any, smallest: int) -> None:
    """``value`` of option ``name`` must be a whole number ``>= smallest``."""
    if not isinstance(value, int) or value < smallest:
        raise UserError(f"{flag(name)} must be a whole number >= {smallest}, got {value!r}.")
