"""The task lifecycle: what every task does the same way, written once.

A task (``rnnkit.tasks.lm``, ``classify``, ...) is a subclass of ``Task`` that says only what is
its own: its options dataclass, how to read its data and fit what it learns from the data before
training (a tokenizer, a label list, a scaler: its *artifacts*), how to build its model from a
config, its objective (loss and validation metrics), and how to evaluate a trained run. The
lifecycle does the rest for every task alike::

    train(task, options)
      1. check the options, the device, and the out directory: a run there needs --resume, a
         resumed run must be of this task and format, and its model options must not change
      2. task.prepare(options, resumed)   read the data; fit artifacts, or load the resumed run's
      3. write the artifacts, then config.json (atomically; rank 0 only under torchrun; on resume
         nothing is rewritten: the artifacts stay as fitted)
      4. Trainer(...).fit()                 checkpoints, exact resume, early stopping, loss.png
      5. prepared.finish(model, results)    task plots and figures of the kept weights
      6. config.json again, with the results

Every check of the user's input runs in steps 1 and 2, before anything is written, so a refused
run (a bad option, a missing column, a changed ``--hidden`` on ``--resume``) leaves the run
directory exactly as it was.

``Run`` is a run directory opened for reading; ``Task.describe`` and ``Task.load_model`` serve
``rnnkit info`` and every command that uses a trained run.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from torch import Tensor, nn

from rnnkit.errors import UserError
from rnnkit.tasks.options import TaskOptions
from rnnkit.training import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    LOSS_PLOT_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    Objective,
    Trainer,
    TrainOptions,
    ValidationHook,
    load_weights,
    read_run_config,
    require_same_config,
    resolve_device,
    save_weights,
    seed_everything,
    write_config,
)
from rnnkit.training.atomic import atomic_write_text
from rnnkit.training.distributed import (
    init_distributed,
    is_main_process,
    shutdown_distributed,
)

Options = TypeVar("Options", bound=TaskOptions)

#: how ``describe`` shows the recurrent part of a model whose config says it in these keys
RNN_DESCRIPTION = {"cell": "cell", "layers": "num_layers", "hidden": "hidden_size"}

#: files the trainer writes into every run directory, whatever the task
TRAINER_FILES = (WEIGHTS_FILE, METRICS_FILE, LOSS_PLOT_FILE, CHECKPOINT_DIR, "tensorboard")


# ------------------------------------------------------------------------------------ Run


@dataclass
class Run:
    """A run directory opened for reading: its path and its checked ``config.json``."""

    path: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path, task: str | None = None) -> Run:
        """Open and check the run in ``path``; with ``task``, it must be a run of that task."""
        path = Path(path)
        return cls(path, read_run_config(path, expected_task=task))

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    def section(self, name: str) -> dict[str, Any]:
        """The config section ``name``; ``UserError`` when it is missing or not a mapping."""
        value = self.config.get(name)
        if not isinstance(value, dict):
            raise UserError(
                f"{self.config_path} has no usable {name!r} section; train the run again."
            )
        return value

    def options(self, options_class: type[Options]) -> Options:
        """The options the run was trained with (new fields take their defaults)."""
        try:
            return options_class.from_dict(self.section("options"))  # type: ignore[return-value]
        except (TypeError, ValueError) as error:
            raise UserError(
                f"{self.config_path} has unusable options ({error}); train the run again."
            ) from None

    def file(self, name: str) -> Path:
        """The path of file ``name`` of the run (not checked: its reader says what is wrong)."""
        return self.path / name

    def require_fit(self, name: str, what: str, in_file: Any, in_model: Any) -> None:
        """``UserError`` unless the run's file ``name`` holds as many ``what`` (``in_file``) as its
        model was built for (``in_model``): a tokenizer, vocabulary or label list of another run."""
        if in_file != in_model:
            raise UserError(
                f"{self.file(name)} holds {in_file} {what} but the run's model was built for "
                f"{in_model}; the run is damaged, train it again."
            )


# ------------------------------------------------------------------------------------ a task


@dataclass
class Prepared:
    """What a task's ``prepare`` hands the lifecycle: all that training needs and writes.

    ``artifacts`` maps a file name of the run directory to its JSON-ready content (a tokenizer's
    ``to_dict()``, a scaler's, a vocabulary's); they are written once, when the run starts, and
    read back (never fitted again) when it resumes. ``sections`` are the config.json sections
    besides ``options`` and ``model`` (``data``, ``tokenizer``, ...). ``finish``, if given, runs
    on the main process after training with the kept weights (eval mode) and the trainer's
    results: it may add entries to the results and returns further sections to store.
    """

    model: nn.Module
    objective: Objective
    sections: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[nn.Module, dict[str, Any]], dict[str, Any]] | None = None
    #: the ``model`` section, when it is more than ``model.config()`` (None: that)
    model_config: dict[str, Any] | None = None
    #: the trainer's options when ``prepare`` settles them (a refit's epoch count; None: the
    #: options' ``train_options()``)
    train_options: TrainOptions | None = None
    #: the results, when ``prepare`` trained the model itself (an ensemble of members trained
    #: one by one): no trainer runs, the lifecycle saves the weights as they are
    trained: dict[str, Any] | None = None


class Task(ABC, Generic[Options]):
    """One task rnnkit trains end to end; subclasses say what is their own (see module doc)."""

    #: the name in config.json and in ``rnnkit train <name>``
    name: ClassVar[str]
    #: the options dataclass of ``rnnkit train <name>``
    options_class: ClassVar[type[TaskOptions]]
    #: one line for ``rnnkit train <name> --help``
    summary: ClassVar[str] = ""
    #: every artifact file ``prepare`` may write (a resumable directory holds no other files)
    artifact_files: ClassVar[tuple[str, ...]] = ()
    #: the splits a data file of this task may hold, which ``evaluate`` then takes as
    #: ``split=``; empty: its files hold no splits and ``evaluate`` takes no ``split``
    splits: ClassVar[tuple[str, ...]] = ()

    # -------------------------------------------------------------- what each task writes

    @abstractmethod
    def prepare(self, options: Options, resumed: Run | None) -> Prepared:
        """Read the data, fit the artifacts (or load them from ``resumed``), build the model.

        Every check of the user's data happens here, before the lifecycle writes anything. The
        lifecycle has seeded the random generators with ``options.seed`` just before.
        """

    @abstractmethod
    def model_from_config(self, model_config: dict[str, Any]) -> nn.Module:
        """The (untrained) model that a run's ``model`` section describes."""

    @abstractmethod
    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Metrics of the trained run on a file in the training format (a task with ``splits``
        also takes ``split=``, one of them; further keywords are those in ``evaluate_accepts``)."""

    #: the further keywords of ``evaluate`` this task takes (``rnnkit evaluate --output``)
    evaluate_accepts: ClassVar[tuple[str, ...]] = ()

    def resume_fields(self, options: Options) -> dict[str, Any]:
        """The values that must not change when a run resumes: its model and data layout."""
        return options.model_options()

    # -------------------------------------------------------------- reading a run

    def open(self, run_dir: str | Path) -> Run:
        """Open ``run_dir`` as a run of this task."""
        return Run.open(run_dir, self.name)

    def load_model(self, run: Run) -> nn.Module:
        """The trained model of ``run`` (eval mode, CPU); ``UserError`` naming what is wrong."""
        model_config = run.section("model")
        try:
            model = self.model_from_config(model_config)
        except (ValueError, TypeError, KeyError) as error:
            raise UserError(
                f"{run.config_path} has an unusable 'model' section ({error}); train the run again."
            ) from None
        load_weights(model, run.file(WEIGHTS_FILE))
        return model.eval()

    def describe(self, run: Run) -> dict[str, Any]:
        """Task, model, size, data, training and metrics of a run, for ``rnnkit info``."""
        model_config = run.config.get("model", {})
        description: dict[str, Any] = {
            "task": self.name,
            "run_dir": str(run.path),
            "model": {**self.describe_model(model_config), "parameters": self._size(model_config)},
            "data": self.describe_data(run.config.get("data", {})),
        }
        results = run.config.get("results", {})
        options = run.config.get("options", {})
        training = {key: options.get(key) for key in self.described_training_options}
        if results:
            training.update(
                steps=results.get("step"),
                epochs=results.get("epoch"),
                seconds=results.get("train_seconds"),
                stopped_by=results.get("stop_reason"),
            )
            description["training"] = training
            description["metrics"] = results.get("metrics", {})
        else:
            description["training"] = {**training, "status": "not finished (no results yet)"}
        description.update(self.describe_more(run))
        return description

    #: the options ``describe`` shows under ``training``
    described_training_options: ClassVar[tuple[str, ...]] = ("precision", "batch_size", "lr")

    #: the model entries ``describe`` shows, as {shown name: key of the model section};
    #: None shows the whole section
    described_model: ClassVar[dict[str, str] | None] = None

    def describe_model(self, model_config: dict[str, Any]) -> dict[str, Any]:
        """The model entries ``describe`` shows (see ``described_model``)."""
        if self.described_model is None:
            return dict(model_config)
        return {shown: model_config.get(key) for shown, key in self.described_model.items()}

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data entries ``describe`` shows (default: the whole data section)."""
        return dict(data)

    def describe_more(self, run: Run) -> dict[str, Any]:
        """Further sections of ``describe`` (test figures, a detector's threshold...)."""
        return {}

    def _size(self, model_config: dict[str, Any]) -> int | None:
        try:
            return sum(p.numel() for p in self.model_from_config(model_config).parameters())
        except (ValueError, TypeError, KeyError):
            return None


# ------------------------------------------------------------------------------------ train


def train(
    task: Task[Options], options: Options, *, on_validation: ValidationHook | None = None
) -> Path:
    """Train ``task`` as ``options`` say, into ``options.out``; return the run directory.

    ``on_validation`` is handed to the trainer: it hears every validation and may stop the run
    (how ``rnnkit tune`` prunes a trial; the run directory is then complete, as after early
    stopping, with the hook's word as ``results.stop_reason``).
    """
    options.validate()
    device = resolve_device(options.device)  # fail on a missing GPU before anything is read
    # Under torchrun one process group serves every trainer of the run (an ensemble's members,
    # a language model's pretraining then the fine-tuning): a group destroyed after one trainer
    # and created again for the next hung at its first broadcast.
    group = init_distributed(device.type)
    try:
        return _train(task, options, on_validation)
    finally:
        shutdown_distributed(group)


def _train(task: Task[Options], options: Options, on_validation: ValidationHook | None) -> Path:
    """``train`` inside the run's process group (if any)."""
    out = Path(options.out)
    resumed = open_for_training(task, options)
    seed_everything(options.seed)  # artifacts and initial weights follow the run's seed
    prepared = task.prepare(options, resumed)
    model_config = prepared.model_config or _model_config(prepared.model)
    sections = {"options": options, "model": model_config, **prepared.sections}
    main = is_main_process()
    if main and resumed is None:
        write_artifacts(out, prepared.artifacts)
        write_config(out, task.name, **sections)  # last: a config marks a complete start
    if prepared.trained is not None:
        results = prepared.trained
        if main:
            save_weights(prepared.model, out / WEIGHTS_FILE)
    else:
        trainer = Trainer(
            prepared.model,
            prepared.objective,
            prepared.train_options or options.train_options(),
            out,
            on_validation=on_validation,
        )
        results = trainer.fit()
    results = storable_results(results)
    if main:
        more: dict[str, Any] = {}
        if prepared.finish is not None:
            more = prepared.finish(prepared.model.eval(), results)
        write_config(out, task.name, **sections, **more, results=results)
    return out


def storable_results(results: dict[str, Any]) -> dict[str, Any]:
    """A trainer's results without its tensors (the best weights): what config.json stores."""
    return {key: value for key, value in results.items() if not isinstance(value, Tensor)}


def open_for_training(task: Task[Options], options: Options) -> Run | None:
    """The run in ``options.out`` to resume, or None to start afresh; refuses before writing.

    Without ``--resume`` a directory holding a run is refused. With it, the run must be of this
    task and format, and the options that fix the model and the data layout must be the run's.
    A directory without config.json that holds only files a run of this task writes is a run
    killed before it started: it starts again. Under torchrun only rank 0 refuses an existing
    run (the other ranks may already see the config rank 0 wrote).
    """
    out = Path(options.out)
    has_run = (out / CONFIG_FILE).is_file()
    if not options.resume:
        if has_run and is_main_process():
            raise UserError(
                f"{out} already holds a run; pass --resume to continue it, or choose another --out."
            )
        return None
    if not has_run:
        own_files = {*TRAINER_FILES, *task.artifact_files}
        present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        strangers = [name for name in present if name not in own_files]
        if strangers:
            raise UserError(
                f"{out} has files but no {CONFIG_FILE} (such as {strangers[0]}), so there is no "
                "run to resume; choose an empty or new --out."
            )
        return None
    run = Run.open(out, task.name)
    stored = run.options(task.options_class)
    require_same_config(task.resume_fields(stored), task.resume_fields(options), what="option")
    return run


def write_artifacts(out: Path, artifacts: Mapping[str, Any]) -> None:
    """Write each artifact as a JSON file of the run directory, atomically."""
    for name, content in artifacts.items():
        atomic_write_text(out / name, json.dumps(content, ensure_ascii=False, indent=1) + "\n")


def _model_config(model: nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"{type(model).__name__} has no config() to store in config.json")
    return config()
