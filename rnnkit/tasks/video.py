"""Video: clips of frames -> a run that predicts the next frames or labels each clip.

The Python API behind ``rnnkit train video``, ``rnnkit evaluate`` and ``rnnkit predict`` on a
video run::

    from rnnkit.tasks import video

    run = video.train(video.VideoOptions(data="mfm_train.npz", out="runs/mfm", mode="predict"))
    video.evaluate(run, "mfm_test.npz")   # mse, mae, ssim beside copy_last_mse, ...
    video.predict_clips(run, "mfm_test.npz", "future.npz")      # or a .png strip and .gif

Data (``rnnkit.data.clips``): an ``.npz`` with ``frames`` ``(N, T, H, W[, C])`` uint8 and
optional ``labels``, an ``.npy`` of frames (memory-mapped), or a folder of clips (one ``.npy``
or one folder of PNG frames per clip, labels in ``labels.csv``). ``--val`` gives validation
clips; without it the last ``--val-fraction`` of the clips (in a seeded shuffle) validate.

``--mode predict``: the first ``--input-frames`` frames of a clip are the context and the next
``--output-frames`` the target. The model is a ConvLSTM (or ConvGRU) encoder-forecaster
(``rnnkit.models.video.FramePredictor``), trained on the mean squared error of the pixels with
teacher forcing, or scheduled sampling when ``--teacher-forcing-end`` is given. Validation and
evaluation run free (each predicted frame fed back) and report per frame ``mse`` and ``mae``
(summed over pixels, as OpenSTL reports them) and ``ssim``, each beside the copy-last-frame
baseline on the same clips (``copy_last_*``), and ``mse_vs_copy_last``, the model's MSE as a
share of the baseline's. The run directory gets ``prediction.png`` (context and truth row,
prediction row) and ``prediction.gif`` of the first validation clip.

``--mode classify``: one label per clip; a per-frame CNN feeds any sequence cell
(``rnnkit.models.video.ClipClassifier``, the LRCN design); metrics are classify's (accuracy,
macro-F1, per-class precision, recall and F1) and the run gets ``confusion.png``.

Only one batch of frames is ever decoded to floats: the clips stay uint8 (or memory-mapped).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.clips import ClipSet, read_clips
from rnnkit.data.labelled import label_order
from rnnkit.errors import UserError
from rnnkit.layers import CELL_NAMES
from rnnkit.metrics.classification import classification_metrics, confusion_matrix
from rnnkit.metrics.video import FrameScore, copy_last_frame
from rnnkit.models.video import FRAME_CELLS, ClipClassifier, FramePredictor
from rnnkit.tasks import lifecycle
from rnnkit.tasks.lifecycle import Prepared, Run, Task
from rnnkit.tasks.options import model_option, option
from rnnkit.tasks.search_space import TRAINING_SPACE, IntRange, SearchSpace
from rnnkit.tasks.teaching import TeacherForcingOptions
from rnnkit.training import StepResult
from rnnkit.viz.confusion import plot_confusion_matrix
from rnnkit.viz.frames import frame_gif, frame_strip, to_uint8

TASK = "video"
MODES = ("predict", "classify")
STRIP_FILE, GIF_FILE, CONFUSION_FILE = "prediction.png", "prediction.gif", "confusion.png"
#: clips a batch of evaluation holds
EVAL_BATCH = 16


@dataclass
class VideoOptions(TeacherForcingOptions):
    """Everything ``rnnkit train video`` takes: clips, mode, model, teaching (predict mode:
    the forecaster is fed true or predicted frames), training."""

    missing_data_message: ClassVar[str] = (
        "no clips were given; pass --data with an .npz, an .npy or a folder of clips."
    )
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    data: Path | None = option(None, help="Clips: .npz (frames, labels), .npy, or a folder.")
    val: Path | None = option(None, help="Validation clips (default: --val-fraction of --data).")
    mode: Literal["predict", "classify"] = option(
        "predict", help="predict: the next frames; classify: a label per clip.", fixed=True
    )
    val_fraction: float = option(
        0.1, help="Share of clips held out for validation without --val.", fixed=True
    )
    input_frames: int = option(10, help="Context frames (predict).", fixed=True)
    output_frames: int = option(10, help="Frames to predict (predict).", fixed=True)
    # predict mode's model
    frame_cell: Literal["conv_lstm", "conv_gru"] = model_option(
        "conv_lstm", help="Predict: the convolutional cell, conv_lstm or conv_gru."
    )
    hidden: int = model_option(64, help="Predict: state channels; classify: hidden units.")
    layers: int = model_option(2, help="Stacked recurrent layers.")
    kernel_size: int = model_option(5, help="Predict: side of the recurrent convolutions (odd).")
    patch: int = model_option(4, help="Predict: frames are cut into patches of this side.")
    # classify mode's model
    cell: str = model_option(
        "lstm", help=f"Classify: the cell reading the frames' features: {', '.join(CELL_NAMES)}."
    )
    features: int = model_option(128, help="Classify: features the frame CNN gives per frame.")
    batch_size: int = option(16, help="Clips per batch.", panel="Batching", fixed=True)
    lr: float = 1e-3
    epochs: int | None = 20

    #: what ``rnnkit tune video`` searches (rnnkit.tasks.search_space); the predict mode's
    #: ConvLSTM is costly, so its width and depth stay small
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "hidden": IntRange(16, 128, log=True),
        "layers": IntRange(1, 3),
    }

    def validate(self) -> VideoOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("mode", MODES)
        self.require_known("frame_cell", FRAME_CELLS)
        self.require_whole_numbers(
            "input_frames", "output_frames", "hidden", "layers", "kernel_size", "patch",
            "features", "batch_size",
        )  # fmt: skip
        if self.kernel_size % 2 == 0:
            raise UserError(f"--kernel-size must be odd, got {self.kernel_size}.")
        self.require_fractions("val_fraction")
        return self

    @property
    def clip_frames(self) -> int:
        """Frames a prediction clip must have: context and target."""
        return self.input_frames + self.output_frames


# ---------------------------------------------------------------------------------- data


def read_video_data(path: Path, options: VideoOptions) -> ClipSet:
    """Clips of ``path`` checked for ``options.mode``."""
    clips = read_clips(path)
    if options.mode == "predict":
        if clips.labels is not None:
            raise UserError(
                f"{path} holds labels, but a prediction run learns frames; drop the labels or "
                "use --mode classify."
            )
        clips.require_length(options.clip_frames, "--input-frames plus --output-frames")
        _channels, height, width = clips.frame_shape
        if height % options.patch or width % options.patch:
            raise UserError(
                f"{path}: frames of {height}x{width} do not divide into --patch {options.patch} "
                "patches; choose a --patch that divides both sides."
            )
    elif clips.labels is None:
        raise UserError(f"{path} has no labels; a classify run needs one label per clip.")
    return clips


def split_rows(count: int, fraction: float, seed: int, path: Path) -> tuple[list[int], list[int]]:
    """(training rows, validation rows): the last ``fraction`` of a seeded shuffle validates."""
    if count < 2:
        raise UserError(f"{path} holds {count} clip; give at least two, or --val clips.")
    order = np.random.default_rng(seed).permutation(count).tolist()
    held = min(count - 1, max(1, round(count * fraction)))
    return sorted(order[:-held]), sorted(order[-held:])


def batches(rows: Sequence[int], size: int) -> Iterator[list[int]]:
    for first in range(0, len(rows), size):
        yield list(rows[first : first + size])


# ---------------------------------------------------------------------------------- predict


def score_predictions(
    model: FramePredictor, clips: ClipSet, rows: Sequence[int], context: int, steps: int
) -> tuple[dict[str, float], list[float]]:
    """Free-running predictions of ``rows``: the model's and the copy-last-frame baseline's
    ``mse``, ``mae`` and ``ssim`` per frame, and the model's MSE at each future step."""
    model = getattr(model, "module", model)
    device = next(model.parameters()).device
    ours, baseline = FrameScore(), FrameScore()
    with torch.no_grad():
        for chosen in batches(rows, EVAL_BATCH):
            frames = clips.batch(chosen, context + steps).to(device)
            seen, future = frames[:, :context], frames[:, context:]
            ours.add(model(seen, steps=steps).float(), future)
            baseline.add(copy_last_frame(seen, steps), future)
    result = {**ours.result(), **baseline.result("copy_last_")}
    result["mse_vs_copy_last"] = result["mse"] / max(result["copy_last_mse"], 1e-12)
    return result, ours.mse_by_step()


class FramePredictionObjective:
    """Pixel MSE of the forecast under teacher forcing or scheduled sampling; validation runs
    free and keeps the weights of the lowest per-frame MSE."""

    monitor = "mse"
    mode: Literal["min", "max"] = "min"

    def __init__(
        self, clips: ClipSet, train: list[int], val: ClipSet, val_rows: list[int], options
    ) -> None:
        self.clips, self.train, self.val, self.val_rows = clips, train, val, val_rows
        self.options = options

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.options.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.train), generator=generator).tolist()
        total = self.batches_per_epoch()
        for position, chosen in enumerate(batches(order, self.options.batch_size)):
            rows = [self.train[i] for i in chosen]
            ratio = self.options.teacher_forcing_at(epoch + position / total)
            yield {
                "frames": self.clips.batch(rows, self.options.clip_frames),
                "teacher_forcing": torch.full((len(rows),), ratio),
            }

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        n = self.options.input_frames
        frames = batch["frames"]
        predicted = model(frames[:, :n], frames[:, n:], teacher_forcing=batch["teacher_forcing"])
        loss = (predicted.float() - frames[:, n:]).pow(2).mean()
        return StepResult(loss=loss, items=frames.shape[0])

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        options = self.options
        result, _ = score_predictions(
            model, self.val, self.val_rows, options.input_frames, options.output_frames
        )
        return result


def draw_prediction(model: FramePredictor, clips: ClipSet, row: int, options, out: Path) -> None:
    """``prediction.png`` (context and truth, then the prediction under the future frames) and
    ``prediction.gif`` (truth and prediction side by side, the context shown in both)."""
    n, m = options.input_frames, options.output_frames
    frames = clips.batch([row], n + m)
    with torch.no_grad():
        predicted = model(frames[:, :n], steps=m)[0]
    truth = to_uint8(frames[0].numpy())
    guess = to_uint8(predicted.numpy())
    frame_strip([truth, guess], out / STRIP_FILE)
    frame_gif([truth, np.concatenate([truth[:n], guess])], out / GIF_FILE)


# ---------------------------------------------------------------------------------- classify


def predict_labels(
    model: ClipClassifier, clips: ClipSet, rows: Sequence[int]
) -> tuple[list[int], Tensor]:
    """Class index and probabilities ``(N, K)`` of each clip of ``rows`` (clips of a batch
    padded to the longest; the classifier reads each to its own length)."""
    model = getattr(model, "module", model)
    device = next(model.parameters()).device
    lengths = clips.lengths()
    probabilities = []
    with torch.no_grad():
        for chosen in batches(rows, EVAL_BATCH):
            frames, steps = _padded(clips, chosen, lengths)
            logits = model(frames.to(device), steps.to(device))
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu())
    joined = torch.cat(probabilities)
    return joined.argmax(dim=1).tolist(), joined


def _padded(clips: ClipSet, rows: list[int], lengths: list[int]) -> tuple[Tensor, Tensor]:
    """Clips ``rows`` as ``(B, T_max, C, H, W)`` zero-padded, and their lengths ``(B,)``."""
    steps = torch.tensor([lengths[r] for r in rows])
    if bool((steps == steps[0]).all()):
        return clips.batch(rows), steps
    frames = torch.zeros(len(rows), int(steps.max()), *clips.frame_shape)
    for i, row in enumerate(rows):
        frames[i, : lengths[row]] = clips.batch([row])[0]
    return frames, steps


class ClipClassificationObjective:
    """Cross-entropy of each clip's label; validation accuracy keeps the best weights."""

    monitor = "accuracy"
    mode: Literal["min", "max"] = "max"

    def __init__(
        self,
        clips: ClipSet,
        train: list[int],
        val: ClipSet,
        val_rows: list[int],
        classes: list[str],
        batch_size: int,
    ) -> None:
        self.clips, self.train, self.val, self.val_rows = clips, train, val, val_rows
        self.classes, self.batch_size = classes, batch_size
        self.index = {name: k for k, name in enumerate(classes)}
        self.lengths = clips.lengths()

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.train), generator=generator).tolist()
        for chosen in batches(order, self.batch_size):
            rows = [self.train[i] for i in chosen]
            frames, steps = _padded(self.clips, rows, self.lengths)
            labels = torch.tensor([self.index[self.clips.labels[r]] for r in rows])
            yield {"frames": frames, "lengths": steps, "labels": labels}

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        logits = model(batch["frames"], batch["lengths"])
        loss = nn.functional.cross_entropy(logits.float(), batch["labels"])
        return StepResult(loss=loss, items=len(batch["labels"]))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return classify_metrics(model, self.val, self.val_rows, self.classes)


def classify_metrics(
    model: ClipClassifier, clips: ClipSet, rows: Sequence[int], classes: list[str]
) -> dict[str, float]:
    """``accuracy``, ``macro_f1`` and per-class figures of ``rows`` (labels outside
    ``classes`` are refused)."""
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted({clips.labels[r] for r in rows} - set(classes))
    if unknown:
        raise UserError(
            f"{clips.path} has label {unknown[0]!r}, which the run never learned; its labels "
            f"are {', '.join(classes)}."
        )
    predicted, _ = predict_labels(model, clips, rows)
    truth = [index[clips.labels[r]] for r in rows]
    return classification_metrics(truth, predicted, classes)


# ---------------------------------------------------------------------------------- the task


class VideoTask(Task[VideoOptions]):
    """The video task: clips of frames, frame prediction or clip classification."""

    name = TASK
    options_class = VideoOptions
    summary = "Predict the next frames of clips (ConvLSTM) or classify clips (CNN + RNN)."
    described_training_options = ("precision", "batch_size", "lr", "teacher_forcing")

    def prepare(self, options: VideoOptions, resumed: Run | None) -> Prepared:
        clips = read_video_data(options.data, options)
        if options.val is not None:
            val = read_video_data(options.val, options)
            train_rows, val_rows = list(range(len(clips))), list(range(len(val)))
        else:
            val = clips
            train_rows, val_rows = split_rows(
                len(clips), options.val_fraction, options.seed, options.data
            )
        channels, height, width = clips.frame_shape
        if val.frame_shape != clips.frame_shape:
            raise UserError(
                f"{options.val} has frames {val.frame_shape} (C, H, W) but {options.data} has "
                f"{clips.frame_shape}; give validation clips of the training clips' size."
            )
        data = {
            "train_file": str(options.data),
            "val_file": None if options.val is None else str(options.val),
            "train_clips": len(train_rows),
            "val_clips": len(val_rows),
            "frame_shape": [channels, height, width],
        }
        out = Path(options.out)
        if options.mode == "predict":
            model: nn.Module = FramePredictor(
                channels,
                (height, width),
                patch=options.patch,
                hidden_size=options.hidden,
                num_layers=options.layers,
                kernel_size=options.kernel_size,
                cell=options.frame_cell,
            )
            # (on resume the trainer loads the checkpoint's weights over this start)
            model.start_from_mean(float(clips.batch(train_rows[:EVAL_BATCH]).mean()))
            objective: Any = FramePredictionObjective(clips, train_rows, val, val_rows, options)

            def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
                draw_prediction(model, val, val_rows[0], options, out)
                return {}

        else:
            classes = label_order([clips.labels[r] for r in train_rows])
            if len(classes) < 2:
                raise UserError(
                    f"{options.data} has a single label ({classes[0]!r}); give clips of at "
                    "least two classes."
                )
            data["classes"] = classes
            model = ClipClassifier(
                len(classes),
                channels,
                features=options.features,
                hidden_size=options.hidden,
                num_layers=options.layers,
                cell=options.cell,
            )
            objective = ClipClassificationObjective(
                clips, train_rows, val, val_rows, classes, options.batch_size
            )

            def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
                predicted, _ = predict_labels(model, val, val_rows)
                truth = [classes.index(val.labels[r]) for r in val_rows]
                matrix = confusion_matrix(truth, predicted, len(classes))
                plot_confusion_matrix(matrix, classes, out / CONFUSION_FILE, title="validation")
                return {}

        return Prepared(model=model, objective=objective, sections={"data": data}, finish=finish)

    def model_from_config(self, model_config: dict[str, Any]) -> nn.Module:
        if "patch" in model_config:
            return FramePredictor.from_config(model_config)
        return ClipClassifier.from_config(model_config)

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Predict: ``mse``, ``mae``, ``ssim``, the copy-last-frame baseline's, their ratio and
        ``mse_by_step``; classify: accuracy, macro-F1 and per-class figures; and ``clips``."""
        options = run.options(VideoOptions)
        model = self.load_model(run)
        clips = read_video_data(Path(data), options)
        _require_run_shape(run, clips)
        rows = list(range(len(clips)))
        if options.mode == "predict":
            result, by_step = score_predictions(
                model, clips, rows, options.input_frames, options.output_frames
            )
            return {**result, "mse_by_step": by_step, "clips": len(clips)}
        classes = run.section("data")["classes"]
        return {**classify_metrics(model, clips, rows, classes), "clips": len(clips)}


def _require_run_shape(run: Run, clips: ClipSet) -> None:
    shape = run.section("data").get("frame_shape")
    if shape is not None and list(clips.frame_shape) != list(shape):
        raise UserError(
            f"{clips.path} has frames {list(clips.frame_shape)} (C, H, W) but the run was "
            f"trained on {shape}; give clips of the training size."
        )


TASK_SPEC = VideoTask()


def train(options: VideoOptions) -> Path:
    """Train a video model as ``options`` say; return the run directory."""
    return lifecycle.train(TASK_SPEC, options)


def evaluate(run_dir: str | Path, data: str | Path) -> dict[str, Any]:
    """Metrics of a video run on a file or folder of clips (see ``VideoTask.evaluate``)."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data))


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training and metrics of a video run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))


# ---------------------------------------------------------------------------------- predicting


def predict_clips(run_dir: str | Path, data: str | Path, output: str | Path) -> int:
    """Predict mode: the next frames of every clip of ``data`` (given its first
    ``--input-frames``) to ``output``: an ``.npz`` of ``frames (N, M, H, W[, C])`` uint8, or for
    a ``.png``/``.gif`` the strip and animation of the first clip (both written, beside each
    other). Returns the number of clips predicted."""
    output = Path(output)
    if output.suffix not in (".npz", ".png", ".gif"):
        raise UserError(f"{output} does not end in .npz, .png or .gif; name one of them.")
    run = TASK_SPEC.open(run_dir)
    options = run.options(VideoOptions)
    if options.mode != "predict":
        raise UserError(f"{run_dir} is a classify run; predict labels with --output FILE.csv.")
    model = TASK_SPEC.load_model(run)
    clips = read_clips(Path(data))
    clips.require_length(options.input_frames, "--input-frames")
    _require_run_shape(run, clips)
    n, m = options.input_frames, options.output_frames
    if output.suffix != ".npz":
        frames = clips.batch([0], n)
        with torch.no_grad():
            predicted = to_uint8(model(frames, steps=m)[0].numpy())
        seen = to_uint8(frames[0].numpy())
        frame_strip([seen, predicted], output.with_suffix(".png"))
        frame_gif([np.concatenate([seen, predicted])], output.with_suffix(".gif"))
        return 1
    written = []
    with torch.no_grad():
        for chosen in batches(range(len(clips)), EVAL_BATCH):
            predicted = model(clips.batch(chosen, n), steps=m)
            written.extend(to_uint8(clip.numpy()) for clip in predicted)
    frames = np.stack(written)
    np.savez(output, frames=frames[..., 0] if frames.shape[-1] == 1 else frames)
    return len(written)


def label_clips(run_dir: str | Path, data: str | Path) -> list[tuple[str, str, float]]:
    """Classify mode: (clip name, label, its probability) for every clip of ``data``."""
    run = TASK_SPEC.open(run_dir)
    options = run.options(VideoOptions)
    if options.mode != "classify":
        raise UserError(f"{run_dir} is a prediction run; name an .npz, .png or .gif --output.")
    model = TASK_SPEC.load_model(run)
    clips = read_clips(Path(data))
    _require_run_shape(run, clips)
    classes = run.section("data")["classes"]
    predicted, probabilities = predict_labels(model, clips, range(len(clips)))
    return [
        (name, classes[k], float(probabilities[i, k]))
        for i, (name, k) in enumerate(zip(clips.names, predicted, strict=True))
    ]


# ---------------------------------------------------------------------------------- one clip


@dataclass
class ClipView:
    """What a video run makes of one clip, for a person to look at (``rnnkit serve``'s video
    page). Frames are uint8 ``(T, H, W, C)``.

    Predict: ``context`` (the first ``--input-frames``), ``predicted`` (the next
    ``--output-frames``) and ``truth`` (the clip's own next frames, as many as it has beyond
    the context; empty for a clip no longer than the context). Classify: ``context`` is the
    whole clip, ``label`` the predicted class and ``probabilities`` every class's. ``clips``:
    how many clips the file holds.
    """

    clip: str
    clips: int
    context: np.ndarray
    predicted: np.ndarray | None = None
    truth: np.ndarray | None = None
    label: str | None = None
    probabilities: dict[str, float] | None = None


def clip_source(run_dir: str | Path) -> Path:
    """The clips a run can show without an upload: its validation file, else its training
    data; ``UserError`` when neither is still there."""
    data = TASK_SPEC.open(run_dir).section("data")
    for key in ("val_file", "train_file"):
        if data.get(key) and Path(data[key]).exists():
            return Path(data[key])
    raise UserError(f"the data {run_dir} was trained on is gone; send a clips file instead.")


def view_clip(run_dir: str | Path, data: str | Path, index: int = 0) -> ClipView:
    """Clip ``index`` of ``data`` (a clips file or folder) as the run sees it (``ClipView``)."""
    run = TASK_SPEC.open(run_dir)
    options = run.options(VideoOptions)
    clips = read_clips(Path(data))
    _require_run_shape(run, clips)
    if not 0 <= index < len(clips):
        raise UserError(f"{clips.path} has {len(clips)} clips; clip {index} is not one of them.")
    model = TASK_SPEC.load_model(run)
    name, length = clips.names[index], clips.lengths()[index]
    if options.mode == "classify":
        predicted, probabilities = predict_labels(model, clips, [index])
        classes = run.section("data")["classes"]
        return ClipView(
            clip=name,
            clips=len(clips),
            context=to_uint8(clips.batch([index])[0].numpy()),
            label=classes[predicted[0]],
            probabilities={c: float(p) for c, p in zip(classes, probabilities[0], strict=True)},
        )
    n, m = options.input_frames, options.output_frames
    if length < n:
        raise UserError(f"{clips.path}: clip {name} has {length} frames; the run needs {n}.")
    frames = clips.batch([index], min(length, n + m))
    with torch.no_grad():
        predicted = model(frames[:, :n], steps=m)[0]
    return ClipView(
        clip=name,
        clips=len(clips),
        context=to_uint8(frames[0, :n].numpy()),
        predicted=to_uint8(predicted.numpy()),
        truth=to_uint8(frames[0, n:].numpy()),
    )
