"""The tasks rnnkit trains end to end, and how to find the task of a run directory.

Each task is a module holding a ``rnnkit.tasks.lifecycle.Task`` subclass, its instance
``TASK_SPEC``, and the same public functions (its Python API, which the CLI calls):

- ``train(options) -> Path``: train and write a run directory (``lifecycle.train``);
- ``evaluate(run_dir, data, ...) -> dict[str, float]``: metrics of a run on a file;
- ``describe(run_dir) -> dict``: task, model, size, data and metrics of a run, for ``rnnkit info``;

plus its own commands (``lm.generate``, ``classify.predict_texts``, ...). Modules are imported
only when a run or command needs them, so ``rnnkit info`` on an lm run never imports the
translation code. A new task is one more module and one more line in ``TASK_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from rnnkit.errors import UserError
from rnnkit.tasks.lifecycle import Run, Task

#: task name (as written in config.json and as the `rnnkit train <task>` command) -> module
TASK_MODULES: dict[str, str] = {
    "lm": "rnnkit.tasks.lm",
    "classify": "rnnkit.tasks.classify",
    "tag": "rnnkit.tasks.tag",
    "translate": "rnnkit.tasks.translate",
    "forecast": "rnnkit.tasks.forecast",
    "detect": "rnnkit.tasks.detect",
    "speech": "rnnkit.tasks.speech",
    "music": "rnnkit.tasks.music",
    "caption": "rnnkit.tasks.caption",
    "video": "rnnkit.tasks.video",
}


def task_module(task: str) -> ModuleType:
    """The module implementing ``task``; ``UserError`` if this rnnkit does not know the task."""
    if task not in TASK_MODULES:
        raise UserError(
            f"task {task!r} is not one this rnnkit knows ({', '.join(TASK_MODULES)}); "
            "upgrade rnnkit or check the run's config.json."
        )
    try:
        return importlib.import_module(TASK_MODULES[task])
    except ModuleNotFoundError as error:
        if error.name != TASK_MODULES[task]:
            raise
        raise UserError(f"task {task!r} is not available in this rnnkit; upgrade rnnkit.") from None


def task_spec(task: str) -> Task:
    """The ``Task`` named ``task``; ``UserError`` if this rnnkit does not know it."""
    return task_module(task).TASK_SPEC


def open_run(run_dir: str | Path) -> tuple[Task, Run]:
    """The task of the run in ``run_dir`` and the run, opened and checked."""
    run = Run.open(run_dir)
    return task_spec(run.task), run
