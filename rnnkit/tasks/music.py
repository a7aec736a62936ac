"""Polyphonic music: piano rolls or MIDI files -> a run that scores and generates music.

The Python API behind ``rnnkit train music``, ``rnnkit evaluate`` (with ``--split``) and
``rnnkit generate`` on a music run::

    from rnnkit.tasks import music

    run = music.train(music.MusicOptions(data="JSB_Chorales.mat", out="runs/jsb", head="nade"))
    music.evaluate(run, "JSB_Chorales.mat", split="test")
    # {"nll_per_frame", "frame_accuracy", "frames", "pieces"}
    music.generate(run, "chorale.mid", steps=128, temperature=0.9, seed=1)  # + chorale.png

Data (``rnnkit.data.piano_roll``): a ``.mat`` of Boulanger-Lewandowski et al. 2012 (its
``train`` split trains, ``valid`` validates), an ``.npz`` of piano rolls, or a folder of MIDI
files quantised to ``frames_per_quarter`` frames per quarter note (or ``fs`` per second); a source
without splits is split by piece (by file for MIDI), the last ``val_fraction`` validating.

The model (``rnnkit.models.music.PianoRollModel``) reads the frames before each frame with any
cell; its head is ``bernoulli`` (independent keys) or ``nade`` (the keys of a frame in turn,
RNN-NADE). Training cuts pieces into windows of ``seq_len`` frames (the frame before a window is
its first input; the state starts afresh), optionally transposed by up to ``transpose``
semitones. The training loss is the NLL per frame in nats summed over the 88 keys.

Evaluation scores every frame but the first of each piece, each given the frames before it (the
protocol of the TCN paper's code): ``nll_per_frame`` and Bay et al.'s ``frame_accuracy`` of the
likeliest frame (exact for Bernoulli; key by key greedy for NADE).

A run directory holds ``config.json``, ``model.safetensors``, ``metrics.csv``, ``loss.png`` and
``checkpoint/``; no artifact: the 88 keys need no fitting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.melody import melody_text, roll_from_tokens
from rnnkit.data.midi import KEYS, LOWEST_PITCH, MIDI_SUFFIXES, read_midi, write_midi, write_wav
from rnnkit.data.piano_roll import SPLITS, PieceSet, RollSource, read_pieces
from rnnkit.data.readers import read_text
from rnnkit.data.writers import write_output
from rnnkit.errors import UserError
from rnnkit.metrics.music import FrameScore, key_frequencies
from rnnkit.models.music import HEADS, PianoRollModel
from rnnkit.tasks import lifecycle
from rnnkit.tasks.lifecycle import RNN_DESCRIPTION, Prepared, Run, Task
from rnnkit.tasks.options import TaskOptions, model_option, option
from rnnkit.tasks.search_space import CELLS, TRAINING_SPACE, FloatRange, IntRange, SearchSpace
from rnnkit.training import StepResult
from rnnkit.viz.piano_roll import plot_piano_roll

TASK = "music"
BATCHING = "Batching"
#: pieces scored together in evaluation hold at most this many (padded) frames
EVAL_FRAMES = 16384


@dataclass
class MusicOptions(TaskOptions):
    """Everything ``rnnkit train music`` takes: data, quantisation, model, batching, training."""

    missing_data_message: ClassVar[str] = (
        "no music was given; pass --data with a .mat or .npz file or a folder of MIDI files."
    )
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    data: Path | None = option(
        None, help="Piano rolls (.mat, .npz) or a folder of .mid/.midi files."
    )
    val: Path | None = option(
        None,
        help="Validation pieces (default: the data's valid split, else its last --val-fraction).",
    )
    # fixed: another share would validate on pieces the run has trained on
    val_fraction: float = option(
        0.1, help="Share of pieces held out for validation when the data has no splits.", fixed=True
    )
    frames_per_quarter: int = option(
        8, help="MIDI quantisation: frames per quarter note.", fixed=True
    )
    fs: float | None = option(
        None,
        help="MIDI quantisation in frames per second instead (overrides the above).",
        fixed=True,
    )
    sustain: bool = option(False, help="Hold notes while the sustain pedal is down.", fixed=True)
    skip_bad: bool = option(False, help="List and skip MIDI files that do not read.")
    head: Literal["bernoulli", "nade"] = model_option(
        "nade", help="Output head: bernoulli (independent keys) or nade (keys of a frame in turn)."
    )
    hidden: int = model_option(256, help="Hidden units per layer.")
    layers: int = model_option(1, help="Stacked recurrent layers.")
    nade_hidden: int = model_option(128, help="Hidden units of the NADE head.")
    # 0.5 and 4 semitones: on JSB Chorales they took the NADE head's test NLL from 6.24 (0.3, no
    # transposition, overfitting after 27 epochs) to 5.81 (benchmarks/music.py)
    dropout: float = model_option(0.5, help="Dropout between layers and on the RNN's output.")
    weight_drop: float = model_option(
        0.0, help="DropConnect on the recurrent weights (AWD-LSTM), a regulariser for small sets."
    )
    transpose: int = option(
        4, help="Transpose training windows by up to +-this many semitones.", fixed=True
    )
    seq_len: int = option(128, help="Frames per training window.", panel=BATCHING, fixed=True)
    batch_size: int = option(16, help="Windows per batch.", panel=BATCHING, fixed=True)
    # TrainOptions defaults that suit these small data sets
    lr: float = 3e-3
    epochs: int | None = 100
    patience: int | None = 10

    #: what ``rnnkit tune music`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "hidden": IntRange(64, 512, log=True),
        "layers": IntRange(1, 3),
        "dropout": FloatRange(0.0, 0.6),
        "weight_drop": FloatRange(0.0, 0.5),
    }

    def validate(self) -> MusicOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("head", HEADS)
        self.require_whole_numbers(
            "frames_per_quarter", "hidden", "layers", "nade_hidden", "seq_len", "batch_size"
        )
        self.require_whole_numbers("transpose", at_least=0)
        self.require_rates("dropout", "weight_drop")
        self.require_fractions("val_fraction")
        if self.fs is not None and not self.fs > 0:
            raise UserError(f"--fs must be a positive number of frames per second, got {self.fs}.")
        return self

    def roll_source(self, skip_bad: bool | None = None) -> RollSource:
        """How the run turns MIDI files into frames."""
        return RollSource(
            self.frames_per_quarter,
            self.fs,
            self.sustain,
            self.skip_bad if skip_bad is None else skip_bad,
        )


# ---------------------------------------------------------------------------------- batches


def transpose_rolls(rolls: Tensor, shifts: Tensor) -> Tensor:
    """Each row of ``rolls (B, ..., K)`` moved up by ``shifts[b]`` keys (down when negative);
    notes pushed past the lowest or highest key are dropped."""
    moved = torch.zeros_like(rolls)
    keys = rolls.shape[-1]
    for row, shift in enumerate(shifts.tolist()):
        if shift >= 0:
            moved[row, ..., shift:] = rolls[row, ..., : keys - shift]
        else:
            moved[row, ..., :shift] = rolls[row, ..., -shift:]
    return moved


def window_batch(
    pieces: list[Tensor], windows: list[tuple[int, int]], seq_len: int
) -> dict[str, Tensor]:
    """``rolls (B, L, K)`` padded with silence, ``previous (B, K)`` (the frame before each
    window; silence at a piece's start) and ``mask (B, L)`` (1 on real frames)."""
    length = max(min(seq_len, len(pieces[p]) - s) for p, s in windows)
    rolls = torch.zeros(len(windows), length, KEYS)
    previous = torch.zeros(len(windows), KEYS)
    mask = torch.zeros(len(windows), length)
    for row, (piece, start) in enumerate(windows):
        frames = pieces[piece][start : start + seq_len]
        rolls[row, : len(frames)] = frames
        mask[row, : len(frames)] = 1
        if start > 0:
            previous[row] = pieces[piece][start - 1]
    return {"rolls": rolls, "previous": previous, "mask": mask}


class PianoRollObjective:
    """Frame NLL over windows of the training pieces; validation NLL per frame and accuracy."""

    monitor = "nll_per_frame"
    mode: Literal["min", "max"] = "min"

    def __init__(
        self,
        train: list[np.ndarray],
        val: list[np.ndarray],
        *,
        batch_size: int,
        seq_len: int,
        transpose: int,
    ) -> None:
        self.pieces = [torch.from_numpy(p.astype(np.float32)) for p in train]
        self.val = val
        self.batch_size, self.seq_len, self.transpose = batch_size, seq_len, transpose
        self.windows = [
            (index, start)
            for index, piece in enumerate(self.pieces)
            for start in range(0, len(piece), seq_len)
        ]

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.windows) / self.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.windows), generator=generator).tolist()
        for first in range(0, len(order), self.batch_size):
            chosen = [self.windows[i] for i in order[first : first + self.batch_size]]
            batch = window_batch(self.pieces, chosen, self.seq_len)
            if self.transpose:
                shifts = torch.randint(
                    -self.transpose, self.transpose + 1, (len(chosen),), generator=generator
                )
                batch["rolls"] = transpose_rolls(batch["rolls"], shifts)
                batch["previous"] = transpose_rolls(batch["previous"], shifts)
            yield batch

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        mask = batch["mask"].bool()
        log_p = model(batch["rolls"], batch["previous"], mask)  # (B, L), 0 on padding
        frames = int(mask.sum())
        return StepResult(loss=-log_p.sum() / max(frames, 1), items=frames)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.val:
            return {}
        score = score_pieces(model, self.val)
        return {"nll_per_frame": score.nll_per_frame, "frame_accuracy": score.frame_accuracy}


def score_pieces(model: nn.Module, pieces: list[np.ndarray]) -> FrameScore:
    """NLL and frame-accuracy counts of every frame but each piece's first, given the frames
    before it; in the model's current mode and precision context."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    device = next(model.parameters()).device
    score = FrameScore()
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    with torch.no_grad():
        for group in _frame_budget_groups([len(pieces[i]) for i in order], EVAL_FRAMES):
            chosen = [pieces[order[i]] for i in group]
            length = max(len(p) for p in chosen)
            rolls = torch.zeros(len(chosen), length, KEYS)
            mask = torch.zeros(len(chosen), length, dtype=torch.bool)
            for row, piece in enumerate(chosen):
                rolls[row, : len(piece)] = torch.from_numpy(piece.astype(np.float32))
                mask[row, 1 : len(piece)] = True  # the first frame has no context: not scored
            rolls, on_device = rolls.to(device), mask.to(device)
            log_p = model(rolls, mask=on_device)
            predicted = model.most_likely(rolls, on_device).cpu()
            score.add(
                -float(log_p.sum()), int(mask.sum()), predicted.numpy(), rolls.cpu()[mask].numpy()
            )
    return score


def _frame_budget_groups(lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive indices of ``lengths`` (sorted ascending) grouped so that each group's
    ``count * longest`` stays within ``budget`` (a longer piece alone)."""
    groups: list[list[int]] = []
    for index, length in enumerate(lengths):
        if groups and (len(groups[-1]) + 1) * length <= budget:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


# ---------------------------------------------------------------------------------- the task


class MusicTask(Task[MusicOptions]):
    """The music task: piano rolls or MIDI files and a ``PianoRollModel``."""

    name = TASK
    options_class = MusicOptions
    summary = "Train a polyphonic music model on piano rolls (.mat, .npz) or MIDI files."
    splits = SPLITS
    described_model = {**RNN_DESCRIPTION, "head": "head", "nade_hidden": "nade_hidden"}
    described_training_options = ("precision", "batch_size", "seq_len", "lr", "transpose")

    def prepare(self, options: MusicOptions, resumed: Run | None) -> Prepared:
        train, val, data = _read_training(options)
        objective = PianoRollObjective(
            train,
            val,
            batch_size=options.batch_size,
            seq_len=options.seq_len,
            transpose=options.transpose,
        )
        model = build_model(options)
        # Start from the per-key marginal model: all 88 keys at 1/2 costs 61 nats a frame and
        # the first epochs would go to learning that most keys are silent. (On resume the
        # trainer loads the checkpoint's weights over these.)
        model.start_from_frequencies(torch.from_numpy(key_frequencies(train)).float())
        return Prepared(model=model, objective=objective, sections={"data": data})

    def model_from_config(self, model_config: dict[str, Any]) -> PianoRollModel:
        return PianoRollModel.from_config(model_config)

    def evaluate(
        self, run: Run, data: Path, *, encoding: str = "utf-8", split: str | None = None
    ) -> dict[str, Any]:
        """``nll_per_frame``, ``frame_accuracy``, ``frames`` and ``pieces`` of a file or folder;
        ``split`` names a split of a file that has them (default: ``test`` there, else all)."""
        options = run.options(MusicOptions)
        model = self.load_model(run)
        pieces = read_pieces(data, options.roll_source(skip_bad=False))
        if split is None:
            split = "test" if pieces.has_splits else "all"
        chosen = pieces.split(split)
        score = score_pieces(model, chosen)
        return {
            "nll_per_frame": score.nll_per_frame,
            "frame_accuracy": score.frame_accuracy,
            "frames": score.frames,
            "pieces": len(chosen),
        }


TASK_SPEC = MusicTask()


def train(options: MusicOptions) -> Path:
    """Train a music model as ``options`` say; return the run directory."""
    return lifecycle.train(TASK_SPEC, options)


def build_model(options: MusicOptions) -> PianoRollModel:
    """The untrained ``PianoRollModel`` that ``options`` describe."""
    return PianoRollModel(
        KEYS,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        head=options.head,
        nade_hidden=options.nade_hidden,
        dropout=options.dropout,
        weight_drop=options.weight_drop,
    )


def _read_training(
    options: MusicOptions,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Training pieces, validation pieces, and the ``data`` section describing them."""
    pieces = read_pieces(options.data, options.roll_source())
    if pieces.has_splits:
        train = pieces.split("train")
        val = pieces.splits.get("valid", [])
    else:
        train, val = _split_by_piece(pieces, options.val_fraction)
    if options.val is not None:
        held = read_pieces(options.val, options.roll_source())
        val = held.splits.get("valid", []) if held.has_splits else held.splits["all"]
        if not val:
            raise UserError(f"{options.val} has no 'valid' split; give validation pieces.")
    data = {
        "train_file": str(options.data),
        "val_file": str(options.val) if options.val is not None else None,
        "train_pieces": len(train),
        "val_pieces": len(val),
        "train_frames": int(sum(len(p) for p in train)),
        "val_frames": int(sum(len(p) for p in val)),
    }
    return train, val, data


def _split_by_piece(
    pieces: PieceSet, val_fraction: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rolls = pieces.splits["all"]
    if len(rolls) < 2:
        raise UserError(
            f"{pieces.path} holds a single piece; give more, or validation pieces with --val."
        )
    cut = len(rolls) - max(1, round(len(rolls) * val_fraction))
    return rolls[:cut], rolls[cut:]


# ---------------------------------------------------------------------------------- generation


@dataclass
class GeneratedPiece:
    """What ``generate`` wrote: the roll ``(prime + steps, 88)`` and the files."""

    roll: np.ndarray
    prime_frames: int
    midi: Path
    png: Path
    wav: Path | None

    def pitches(self) -> list[list[int]]:
        """The MIDI pitches sounding in each frame of the roll (key ``k`` is pitch ``21 + k``)."""
        return [(np.flatnonzero(frame) + LOWEST_PITCH).tolist() for frame in self.roll]


def generate(
    run_dir: str | Path,
    output: str | Path,
    steps: int = 128,
    temperature: float = 1.0,
    seed: int | None = None,
    prime: str | Path | None = None,
    tempo: float = 120.0,
    program: int = 0,
    wav: str | Path | None = None,
    frames_per_quarter: int | None = None,
    model: PianoRollModel | None = None,
) -> GeneratedPiece:
    """Sample ``steps`` frames (after ``prime``, a MIDI file, if given) and write them as the
    MIDI file ``output`` (prime included) and a piano-roll picture beside it (``.png``), and as
    ``wav`` rendered by pretty_midi's sine synthesiser when given. ``seed`` makes it
    reproducible; ``temperature`` 0 takes the likeliest keys. ``frames_per_quarter`` (default:
    the run's) sets the grid of the written file (the prime is read on the run's): piano rolls
    from a ``.mat`` carry no tempo (JSB Chorales' frames are quarter notes: 1). ``model``: the
    run's model already loaded (a server's), else loaded here."""
    output = Path(output)
    if steps < 1:
        raise UserError(
            f"--steps must be a whole number >= 1, got {steps}; nothing to write to {output}."
        )
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}.")
    if output.suffix.lower() not in MIDI_SUFFIXES:
        raise UserError(f"{output} does not end in .mid or .midi; name a MIDI file for --output.")
    if not tempo > 0:
        raise UserError(
            f"--tempo must be a positive number of quarter notes a minute, got {tempo}."
        )
    if not 0 <= program <= 127:
        raise UserError(f"--program must be a General MIDI program 0..127, got {program}.")
    if frames_per_quarter is not None and frames_per_quarter < 1:
        raise UserError(f"--frames-per-quarter must be >= 1, got {frames_per_quarter}.")
    run = TASK_SPEC.open(run_dir)
    options = run.options(MusicOptions)
    model = model if model is not None else TASK_SPEC.load_model(run)
    prime_roll = None
    if prime is not None:
        source = options.roll_source(skip_bad=False)
        prime_roll = read_midi(
            Path(prime),
            frames_per_quarter=source.frames_per_quarter,
            fs=source.fs,
            sustain=source.sustain,
        )
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    prime_tensor = None if prime_roll is None else torch.from_numpy(prime_roll.astype(np.float32))
    sampled = model.generate(steps, prime_tensor, temperature, generator)[0].numpy()
    roll = sampled.astype(np.uint8)
    if prime_roll is not None:
        roll = np.concatenate([prime_roll, roll])
    written_fs = options.fs if frames_per_quarter is None else None
    frames_per_quarter = frames_per_quarter or options.frames_per_quarter
    settings = {
        "frames_per_quarter": frames_per_quarter,
        "fs": written_fs,
        "tempo": tempo,
        "program": program,
    }
    write_midi(output, roll, **settings)
    prime_frames = 0 if prime_roll is None else len(prime_roll)
    png = plot_piano_roll(
        roll,
        output.with_suffix(".png"),
        prime_frames=prime_frames,
        frames_per_quarter=None if written_fs is not None else frames_per_quarter,
        title=f"{run.path.name}: {steps} frames, temperature {temperature:g}",
    )
    wav_path = None
    if wav is not None:
        wav_path = Path(wav)
        write_wav(wav_path, roll, **settings)
    return GeneratedPiece(roll, prime_frames, output, png, wav_path)


# ---------------------------------------------------------------------------------- melody mode


def melodies_to_text(
    data: str | Path, output: str | Path, source: RollSource, *, split: str | None = None
) -> int:
    """Write the melody of every piece of ``data`` (``split``, default: ``train`` of a file with
    splits, else all) as a line of tokens (``rnnkit.data.melody``) to ``output``, the training
    text of ``rnnkit train lm --tokenizer word``; return the number of melodies."""
    pieces = read_pieces(data, source)
    rolls = pieces.split(split or ("train" if pieces.has_splits else "all"))
    text = melody_text(rolls)
    write_output(output, text)
    return text.count("\n")


def melody_to_midi(
    text_file: str | Path,
    output: str | Path,
    *,
    frames_per_quarter: int = 8,
    fs: float | None = None,
    tempo: float = 120.0,
    program: int = 0,
) -> list[Path]:
    """Write the melody tokens of ``text_file`` (all lines, in order; an lm run's generated text)
    as the MIDI file ``output`` and its piano roll beside it; return the paths written."""
    output = Path(output)
    roll = roll_from_tokens(read_text(text_file).split())
    if not roll.any():
        raise UserError(
            f"{text_file} holds no pitch and duration pair such as 'p60 d4'; give melody tokens."
        )
    write_midi(output, roll, frames_per_quarter=frames_per_quarter, fs=fs, tempo=tempo,
               program=program)  # fmt: skip
    png = plot_piano_roll(roll, output.with_suffix(".png"),
                          frames_per_quarter=None if fs else frames_per_quarter)  # fmt: skip
    return [output, png]


# ---------------------------------------------------------------------------------- using a run


def evaluate(run_dir: str | Path, data: str | Path, *, split: str | None = None) -> dict[str, Any]:
    """``nll_per_frame``, ``frame_accuracy``, ``frames`` and ``pieces`` of a file or folder."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), split=split)


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training and metrics of a music run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
