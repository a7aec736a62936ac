"""What ``rnnkit tune`` searches: ranges and choices of a task's options, declared beside them.

Each task's options dataclass declares its search space in the class variable ``search_space``,
a mapping from option name to a *dimension*::

    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,                         # lr and weight_decay, log-uniform
        "hidden": IntRange(32, 256, log=True),
        "dropout": FloatRange(0.0, 0.5),
        "cell": Choice(("lstm", "gru")),
    }

A space file (``rnnkit tune TASK --space space.toml``) changes it, one key per option, merged
over the task's space (its entries replace the task's of the same names)::

    hidden = [64, 512]                        # two numbers: a range (of whole numbers here)
    lr = { low = 1e-4, high = 1e-2, log = true }
    cell = ["lstm", "gru", "layernorm_lstm"]  # a list of other values: a choice
    batch-size = { choices = [16, 32] }       # a choice of numbers
    layers = 2                                # one value: fixed for every trial, not searched

Names are checked against the task's options, and every end of a range and every choice against
the options' own ``validate()``, before any trial runs. Optuna is needed only to draw values
(``suggest``), so declaring and checking a space imports nothing optional.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rnnkit.data.readers import read_toml_file
from rnnkit.errors import UserError

#: options a search never changes: where the data and the runs are, and resuming
NOT_SEARCHABLE = frozenset({"data", "val", "out", "resume", "device", "progress"})


class Trial(Protocol):
    """The part of ``optuna.trial.Trial`` a dimension uses to draw its value."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False): ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False): ...
    def suggest_categorical(self, name: str, choices: Any): ...


@dataclass(frozen=True)
class IntRange:
    """Whole numbers from ``low`` to ``high`` (both included), every ``step``-th or log-uniform."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low <= self.high):
            raise ValueError(f"an IntRange needs whole numbers low <= high, got {self}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError(f"a log IntRange needs low >= 1 and step 1, got {self}")
        if self.step < 1:
            raise ValueError(f"an IntRange needs step >= 1, got {self}")

    def suggest(self, trial: Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def candidates(self) -> tuple[int, ...]:
        """The values that stand for the whole dimension when checking it: its ends."""
        return (self.low, self.high)

    def contains(self, value: Any) -> bool:
        """Whether the search could draw ``value``."""
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and self.low <= value <= self.high and (value - self.low) % self.step == 0

    def __str__(self) -> str:
        return f"{self.low}..{self.high}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class FloatRange:
    """Real numbers from ``low`` to ``high``, uniform or log-uniform."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"a FloatRange needs finite low <= high, got {self}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log FloatRange needs low > 0, got {self}")

    def suggest(self, trial: Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def candidates(self) -> tuple[float, ...]:
        return (self.low, self.high)

    def contains(self, value: Any) -> bool:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (strings, numbers, booleans)."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a Choice needs at least one value")

    def suggest(self, trial: Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def candidates(self) -> tuple[Any, ...]:
        return self.values

    def contains(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return " | ".join(str(value) for value in self.values)


@dataclass(frozen=True)
class Fixed:
    """One value for every trial (a space file's ``layers = 2``): not searched."""

    value: Any

    def suggest(self, trial: Trial, name: str) -> Any:
        return self.value

    def candidates(self) -> tuple[Any, ...]:
        return (self.value,)

    def contains(self, value: Any) -> bool:
        return value == self.value

    def __str__(self) -> str:
        return f"{self.value} (fixed)"


Dimension = IntRange | FloatRange | Choice | Fixed
SearchSpace = Mapping[str, Dimension]

#: the training options every task searches: the peak learning rate and the weight decay
TRAINING_SPACE: dict[str, Dimension] = {
    "lr": FloatRange(1e-4, 1e-2, log=True),
    "weight_decay": FloatRange(1e-6, 1e-1, log=True),
}

#: the recurrent cells a task whose ``cell`` is searched tries
CELLS = Choice(("lstm", "gru"))


def suggest(space: SearchSpace, trial: Trial) -> dict[str, Any]:
    """One value for every option of ``space``, drawn by ``trial`` (fixed ones as they are)."""
    return {name: dimension.suggest(trial, name) for name, dimension in space.items()}


def searched(space: SearchSpace) -> dict[str, Dimension]:
    """The dimensions of ``space`` that a search draws (all but the ``Fixed`` ones)."""
    return {name: d for name, d in space.items() if not isinstance(d, Fixed)}


def starting_point(space: SearchSpace, options: Any) -> dict[str, Any]:
    """The values ``options`` give the searched options, where the search could draw them: the
    first trial of a study trains these (the defaults, unless the user changed them), so the
    best trial is never worse on validation than the run ``rnnkit train`` would make."""
    values = {}
    for name, dimension in searched(space).items():
        value = getattr(options, name)
        if name == "weight_decay" and value is None:  # unset: the optimiser's customary one
            value = options.effective_weight_decay()
        if dimension.contains(value):
            values[name] = value
    return values


# ------------------------------------------------------------------------------------ checking


def check_space(space: SearchSpace, base: Any, source: str) -> None:
    """``UserError`` unless every option of ``space`` exists in ``base``'s options class and every
    end of a range and every choice passes the options' ``validate()`` (with ``base``'s other
    values). ``source`` names where the space came from (a file, or the task) in the sentence."""
    known = {f.name for f in dataclasses.fields(base)}
    for name, dimension in space.items():
        if name not in known:
            raise UserError(
                f"{source} names the option {name!r}, which this task does not have"
                f"{_did_you_mean(name, known)}."
            )
        if name in NOT_SEARCHABLE:
            raise UserError(f"{source} names the option {name!r}, which tuning cannot search.")
        for value in dimension.candidates():
            try:
                dataclasses.replace(base, **{name: value}).validate()
            except (UserError, TypeError, ValueError) as error:
                reason = str(error).rstrip(".")
                raise UserError(
                    f"{source} gives {name} the value {value!r}, which the task refuses ({reason})."
                ) from None


def read_space_file(path: Path, options_class: type) -> dict[str, Dimension]:
    """The dimensions a TOML space file declares (see the module doc), each read as the type of
    its option in ``options_class``; ``UserError`` naming the file and the entry otherwise."""
    table = read_toml_file(path, "space file", "--space")
    hints = typing.get_type_hints(options_class)
    known = {f.name for f in dataclasses.fields(options_class)}
    space: dict[str, Dimension] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise UserError(
                f"space file {path} names the option {key!r}, which this task does not have"
                f"{_did_you_mean(name, known)}."
            )
        try:
            space[name] = _dimension(value, _number_kind(hints[name]))
        except (ValueError, TypeError) as error:
            raise UserError(f"space file {path} has an unusable entry {key!r} ({error}).") from None
    return space


def _dimension(value: Any, kind: type | None) -> Dimension:
    """The dimension one entry of a space file declares, for an option of number type ``kind``
    (``int``, ``float``, or None for any other option)."""
    if isinstance(value, dict):
        if set(value) == {"choices"}:
            return Choice(tuple(value["choices"]))
        unknown = set(value) - {"low", "high", "log", "step"}
        if unknown or not {"low", "high"} <= set(value):
            raise ValueError("write a table as {low = ..., high = ...[, log = true, step = n]}")
        low, high, log = value["low"], value["high"], bool(value.get("log", False))
        if kind is int:
            return IntRange(low, high, log=log, step=value.get("step", 1))
        if kind is float:
            return FloatRange(float(low), float(high), log=log)
        raise ValueError("a range needs an option that takes a number")
    if isinstance(value, list):
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if kind is not None and numbers and len(value) == 2:
            low, high = value
            if kind is int:
                return IntRange(low, high)
            return FloatRange(float(low), float(high))
        return Choice(tuple(value))
    return Fixed(value)


def _number_kind(hint: Any) -> type | None:
    """``int`` or ``float`` when an option's annotation takes that number (maybe or None)."""
    kinds = typing.get_args(hint) or (hint,)
    if float in kinds:
        return float
    if int in kinds and bool not in kinds:
        return int
    return None


def _did_you_mean(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
