"""A model's configuration: the constructor's arguments that rebuild it, as a JSON-ready dict.

Two ways to keep them, one class each: ``KeepsArguments`` for models that store the arguments as
given (with ``**cell_options``) and offer ``from_config``, ``ConfigFromAttributes`` for models
whose every argument is also an attribute of the same name.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from torch import nn

_Model = TypeVar("_Model", bound="KeepsArguments")


class KeepsArguments(nn.Module):
    """``config()`` and ``from_config`` for a model that stores its arguments in ``_config``.

    ``_config`` holds every named argument of ``__init__`` and, under ``"cell_options"``, the
    dict of its ``**cell_options``.
    """

    _config: dict[str, Any]

    def config(self) -> dict[str, Any]:
        """The constructor's arguments as a JSON-serialisable dict (``from_config`` inverts it)."""
        return {**self._config, "cell_options": dict(self._config["cell_options"])}

    @classmethod
    def from_config(cls: type[_Model], config: dict[str, Any]) -> _Model:
        """A freshly initialised model built from ``config()``'s output."""
        known = set(inspect.signature(cls.__init__).parameters) - {"self", "cell_options"}
        unknown = set(config) - known - {"cell_options"}
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
