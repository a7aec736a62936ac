"""Starting or resuming a run directory, the same way for every task.

``train`` refuses to write over a run unless ``--resume`` is given; when resuming, it reads the
stored config and refuses options that would change the model or the data layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from rnnkit.errors import UserError
from rnnkit.training import CONFIG_FILE, read_run_config, require_same_config


class ResumableOptions(Protocol):
    """Options that say which of their values fix the model (``LMOptions``, ...)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ResumableOptions: ...

    def model_options(self) -> dict[str, Any]: ...


def refuse_existing_run(out: Path, resume: bool) -> None:
    """Refuse to train into ``out`` when it holds a run and ``resume`` is not set."""
    if (out / CONFIG_FILE).is_file() and not resume:
        raise UserError(
            f"{out} already holds a run; pass --resume to continue it, or choose another --out."
        )


def stored_config(
    out: Path, resume: bool, task: str, *, refuse: bool = True
) -> dict[str, Any] | None:
    """The config of the run in ``out`` to resume, or None when starting afresh.

    Refuses to overwrite a run when not resuming (unless ``refuse`` is False, as on the processes
    of a distributed run that do not write), and refuses to resume into a directory that has files
    but no run. A directory without a config is a run killed before it wrote anything: it starts
    from the beginning.
    """
    has_run = (out / CONFIG_FILE).is_file()
    if not resume:
        if refuse:
            refuse_existing_run(out, resume)
        return None
    if not has_run:
        if out.exists() and any(out.iterdir()):
            raise UserError(
                f"{out} has files but no {CONFIG_FILE}, so there is no run to resume; "
                "choose an empty or new --out."
            )
        return None
    return read_run_config(out, expected_task=task)


def check_resumable(stored: dict[str, Any], options: ResumableOptions, out: Path) -> None:
    """Refuse ``--resume`` when an option that fixes the model or the data layout changed."""
    stored_options = stored.get("options")
    if not isinstance(stored_options, dict):
        raise UserError(f"{out / CONFIG_FILE} has no 'options' section; train into a new --out.")
    before = type(options).from_dict(stored_options).model_options()
    require_same_config(before, options.model_options(), what="option")
