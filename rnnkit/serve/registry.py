"""The runs a server serves: each run directory opened and its model loaded once, at start-up.

``load_runs(paths)`` opens every directory with its task's own loader (the one its command line
uses), so a directory that is not a run, or a damaged one, fails at start-up with the task's
``UserError`` instead of at the first request. Each run is named in URLs by its folder's name
(made unique with ``-2``, ``-3``... when two folders share a name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError
from rnnkit.tasks import open_run
from rnnkit.tasks.lifecycle import Run, Task

#: the endpoints each task serves (under ``/v1/{run}/``)
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "lm": ("generate", "generate/stream", "activations", "units"),
    "classify": ("classify", "classify-file"),
    "tag": ("tag",),
    "translate": ("translate",),
    "forecast": ("forecast",),
    "detect": ("detect",),
    "speech": ("transcribe",),
    "music": ("generate",),
    "caption": ("caption",),
    "video": ("predict", "clip"),
}


def _load_lm(path: Path) -> Any:
    from rnnkit.tasks.lm_sampling import LoadedLM

    return LoadedLM.open(path)


def _load_classify(path: Path) -> Any:
    from rnnkit.tasks import classify

    return classify.load_run(path)


def _load_tag(path: Path) -> Any:
    from rnnkit.tasks import tag

    return tag.load_run(path)


def _load_translate(path: Path) -> Any:
    from rnnkit.tasks import translate

    return translate.load_run(path)


def _load_forecast(path: Path) -> Any:
    from rnnkit.tasks import forecast

    return forecast.load_run(path)


def _load_detect(path: Path) -> Any:
    from rnnkit.tasks import detect

    return detect.load_run(path)


def _load_speech(path: Path) -> Any:
    from rnnkit.tasks import speech

    return speech.load_run(path)


def _load_music(path: Path) -> Any:
    from rnnkit.tasks import music

    return music.TASK_SPEC.load_model(music.TASK_SPEC.open(path))


def _load_caption(path: Path) -> Any:
    from rnnkit.tasks import caption

    return caption.load_run(path)


def _load_video(path: Path) -> Any:
    from rnnkit.tasks import video

    return video.TASK_SPEC.load_model(video.TASK_SPEC.open(path))


#: task -> the task's own loader of a run directory
LOADERS: dict[str, Callable[[Path], Any]] = {
    "lm": _load_lm,
    "classify": _load_classify,
    "tag": _load_tag,
    "translate": _load_translate,
    "forecast": _load_forecast,
    "detect": _load_detect,
    "speech": _load_speech,
    "music": _load_music,
    "caption": _load_caption,
    "video": _load_video,
}


@dataclass
class ServedRun:
    """A run being served: its URL name, directory, task, and what its task loaded."""

    name: str
    path: Path
    task: Task
    run: Run
    loaded: Any  # the task's loaded run (LoadedLM, ClassifierRun, ...); None: listed only
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return ENDPOINTS.get(self.task.name, ())


def load_runs(paths: Sequence[str | Path]) -> dict[str, ServedRun]:
    """Open and load every run directory; name -> run, in the order given. ``UserError`` naming
    the first directory that is not a usable run."""
    if not paths:
        raise UserError("no run directory was given; pass at least one RUN.")
    runs: dict[str, ServedRun] = {}
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise UserError(f"{path} is not a directory; give run directories written by training.")
        task, run = open_run(path)
        loader = LOADERS.get(task.name)
        loaded = loader(path) if loader is not None else None
        name = unique_name(_slug(path.resolve().name), runs)
        runs[name] = ServedRun(name, path, task, run, loaded, task.describe(run))
    return runs


def _slug(name: str) -> str:
    """A folder name as a URL path segment: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def unique_name(name: str, taken: dict[str, Any]) -> str:
    """``name``, or ``name-2``, ``name-3``... the first not in ``taken``."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    return candidate
