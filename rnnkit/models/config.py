"""A model's configuration: the constructor's arguments that rebuild it, as a JSON-ready dict.

Two ways to keep them, one class each: ``KeepsArguments`` for models that store the arguments as
given (``constructor_arguments``; with ``**cell_options`` where the model takes them) and offer
``from_config``, ``ConfigFromAttributes`` for models whose every argument is also an attribute of
the same name. ``check_choice`` and ``check_fraction`` are the argument checks the constructors
share.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from torch import nn

_Model = TypeVar("_Model", bound="KeepsArguments")


def constructor_arguments(init: Callable[..., None], values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``init`` by name, in the order of its signature, read from ``values``.

    ``values`` is ``locals()`` taken inside ``init`` before it rebinds any of its parameters. A
    ``**`` parameter (``**cell_options``) is kept as a dict of its own under its name.
    """
    arguments = {}
    for name, parameter in inspect.signature(init).parameters.items():
        if name == "self":
            continue
        value = values[name]
        arguments[name] = dict(value) if parameter.kind is parameter.VAR_KEYWORD else value
    return arguments


def check_choice(name: str, value: object, choices: Collection[object]) -> None:
    """A ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_fraction(name: str, value: float) -> None:
    """A ValueError unless ``0 <= value < 1`` (a dropout probability)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


class KeepsArguments(nn.Module):
    """``config()`` and ``from_config`` for a model that stores its arguments in ``_config``.

    ``_config`` holds every named argument of ``__init__`` and, for a model that takes
    ``**cell_options``, the dict of them under ``"cell_options"`` (``constructor_arguments``).
    """

    _config: dict[str, Any]

    def config(self) -> dict[str, Any]:
        """The constructor's arguments as a JSON-serialisable dict (``from_config`` inverts it)."""
        config = dict(self._config)
        if "cell_options" in config:
            config["cell_options"] = dict(config["cell_options"])
        return config

    @classmethod
    def from_config(cls: type[_Model], config: dict[str, Any]) -> _Model:
        """A freshly initialised model built from ``config()``'s output."""
        parameters = inspect.signature(cls.__init__).parameters
        takes_options = "cell_options" in parameters
        known = set(parameters) - {"self", "cell_options"}
        unknown = set(config) - known - ({"cell_options"} if takes_options else set())
        if unknown:
            raise ValueError(f"unknown {cls.__name__} config keys {sorted(unknown)}")
        options = {key: value for key, value in config.items() if key != "cell_options"}
        return cls(**options, **config.get("cell_options", {}))


class ConfigFromAttributes:
    """``config()`` for a model whose arguments are its attributes named in ``config_names``."""

    config_names: tuple[str, ...]

    def config(self) -> dict[str, Any]:
        """The constructor's arguments, to rebuild the model from a run's config.json."""
        return {name: getattr(self, name) for name in self.config_names}
