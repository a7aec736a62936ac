"""Sequence classification: texts or numeric sequences in a file -> a run that predicts labels.

The Python API behind ``rnnkit train classify``, ``rnnkit predict`` and ``rnnkit evaluate`` /
``info`` on a classify run::

    from rnnkit.tasks import classify

    run = classify.train(classify.ClassifyOptions(data="reviews.csv", out="runs/sentiment"))
    classify.evaluate(run, "test.csv")        # accuracy, macro_f1, per-class figures, confusion
    classify.predict_texts(run, ["great phone"], explain=True)

Two kinds of input share one model, ``SequenceClassifier``:

- text: a CSV, TSV or JSONL table with a text and a label column, tokenized (word, char or bpe);
- numeric: a ``.npz`` (``x``, ``lengths``, ``y``) or a long-format table with ``sequence_column``;
  features are standardised with training statistics saved as ``scaler.json``.

Without ``val`` a stratified ``val_fraction`` of the examples is held out. ``init_from`` starts
from a trained lm run (its tokenizer, embedding and RNN, which reads left to right, so the
classifier is then unidirectional) and ``freeze_epochs`` unfreezes the pretrained layers one
group at a time from the top (ULMFiT, Howard & Ruder 2018).

A run directory holds ``config.json`` (sections ``options``, ``model``, ``data`` with the label
names, ``results``), ``tokenizer.json`` or ``scaler.json``, ``model.safetensors``, ``metrics.csv``,
``loss.png``, ``confusion.png`` (validation) and ``checkpoint/``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.numeric import (
    FeatureScaler,
    NumericSequences,
    read_long_sequences,
    read_npz_sequences,
)
from rnnkit.data.tables import read_table, require_columns
from rnnkit.data.tokenizers import TOKENIZER_KINDS, Tokenizer, load_tokenizer
from rnnkit.errors import UserError
from rnnkit.metrics.classification import classification_metrics, confusion_matrix
from rnnkit.models.classifier import POOLINGS, SequenceClassifier
from rnnkit.tasks import tokenizing
from rnnkit.tasks.describing import parameter_count
from rnnkit.tasks.options import TaskOptions
from rnnkit.tasks.resuming import refuse_existing_run
from rnnkit.training import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    StepResult,
    Trainer,
    load_weights,
    read_run_config,
    seed_everything,
    write_config,
)

TASK = "classify"
SCALER_FILE = "scaler.json"
CONFUSION_FILE = "confusion.png"
EVAL_BATCH = 256


@dataclass
class ClassifyOptions(TaskOptions):
    """Everything ``rnnkit train classify`` takes: data, tokenizer, model, transfer, training."""

    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out", "init_from")

    # data (``data`` is a training table (.csv/.tsv/.jsonl) or .npz)
    val: Path | None = None  # validation file; None: a stratified val_fraction of data
    val_fraction: float = 0.1
    text_column: str = "text"
    label_column: str = "label"
    # numeric sequences in a long-format table
    sequence_column: str | None = None
    time_column: str | None = None
    feature_columns: str | None = None  # comma-separated; None: every other numeric column
    # tokenizer (text)
    tokenizer: Literal["char", "word", "bpe"] = "word"
    vocab_size: int | None = None
    min_count: int | None = None
    lowercase: bool = True  # word tokenizer
    max_length: int | None = None  # keep at most this many tokens (steps) of each sequence
    # model
    embedding_size: int = 128
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = True
    pooling: str = "attention"
    dropout: float = 0.3
    class_weights: Literal["none", "balanced"] = "none"
    batch_size: int = 32
    # transfer from a language model
    init_from: Path | None = None
    freeze_epochs: int = 0
    # TrainOptions defaults that suit classification
    lr: float = 2e-3
    epochs: int | None = 10

    def validate(self) -> ClassifyOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("pooling", POOLINGS)
        if self.tokenizer not in TOKENIZER_KINDS:
            raise UserError(f"--tokenizer {self.tokenizer!r} is not known; use char, word or bpe.")
        if self.class_weights not in ("none", "balanced"):
            raise UserError(
                f"--class-weights {self.class_weights!r} is not known; use none or balanced."
            )
        self.require_whole_numbers("embedding_size", "hidden", "layers", "batch_size")
        self.require_whole_numbers("vocab_size", "min_count", "max_length", optional=True)
        self.require_whole_numbers("freeze_epochs", at_least=0)
        self.require_rates("dropout")
        self.require_fractions("val_fraction")
        if self.freeze_epochs and self.init_from is None:
            raise UserError(
                "--freeze-epochs applies to a model started --init-from an lm run; give one."
            )
        return self

    @property
    def numeric(self) -> bool:
        """Whether the data are numeric sequences (``.npz`` or ``sequence_column``)."""
        return self.sequence_column is not None or Path(self.data or "").suffix.lower() == ".npz"


# ---------------------------------------------------------------------------------- reading data


@dataclass
class LabelledData:
    """Raw examples of one file: texts or numeric sequences, their labels, and row names."""

    texts: list[str] | None
    numeric: NumericSequences | None
    labels: list[str] | None
    names: list[str]
    path: Path

    def __len__(self) -> int:
        return len(self.names)


def read_text_table(
    path: Path, text_column: str, label_column: str | None, encoding: str
) -> LabelledData:
    """Texts (and labels) of a table; rows with an empty text are skipped with a count on stderr.

    ``label_column=None`` reads texts only (prediction); a label column that is absent then is
    not an error, but a missing text column always is.
    """
    frame = read_table(path, encoding=encoding, as_text=True)
    require_columns(frame, [text_column] + ([label_column] if label_column else []), path)
    texts = frame[text_column].tolist()
    keep = [i for i, text in enumerate(texts) if text.strip()]
    if not keep:
        raise UserError(
            f"{path}: every cell of column {text_column!r} is empty; give the column that "
            "holds the texts with --text-column."
        )
    skipped = len(texts) - len(keep)
    if skipped:
        print(f"warning: {path}: skipped {skipped} rows with an empty text", file=sys.stderr)
    labels = None
    if label_column is not None:
        labels = [frame[label_column].iloc[i].strip() for i in keep]
        empty = [keep[j] for j, label in enumerate(labels) if not label]
        if empty:
            raise UserError(
                f"{path}: row {empty[0] + 1} has an empty {label_column!r}; give every row a "
                "label or drop the row."
            )
    return LabelledData([texts[i] for i in keep], None, labels, [str(i + 1) for i in keep], path)


def read_labelled(
    path: Path, options: ClassifyOptions, *, need_labels: bool = True
) -> LabelledData:
    """Read one data file as ``options`` describe it (text or numeric)."""
    if options.numeric:
        if path.suffix.lower() == ".npz":
            numeric = read_npz_sequences(path, need_labels=need_labels)
        else:
            if options.sequence_column is None:
                raise UserError(
                    f"{path} is a table but the run reads numeric sequences; give "
                    "--sequence-column, or an .npz file."
                )
            features = (
                [c.strip() for c in options.feature_columns.split(",") if c.strip()]
                if options.feature_columns
                else None
            )
            numeric = read_long_sequences(
                path,
                sequence_column=options.sequence_column,
                time_column=options.time_column,
                label_column=options.label_column if need_labels else None,
                feature_columns=features,
                encoding=options.encoding,
            )
        return LabelledData(None, numeric, numeric.labels, numeric.names, path)
    return read_text_table(
        path, options.text_column, options.label_column if need_labels else None, options.encoding
    )


# ---------------------------------------------------------------------------------- labels, split


def label_order(labels: Sequence[str]) -> list[str]:
    """The distinct labels, numerically ordered when they are all integers, else alphabetically."""
    distinct = set(labels)
    if all(re.fullmatch(r"[+-]?\d+", label) for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def check_labels(train: LabelledData, val: LabelledData | None) -> list[str]:
    """The class names; ``UserError`` for a single class or a validation label not in training."""
    assert train.labels is not None
    names = label_order(train.labels)
    if len(names) < 2:
        raise UserError(
            f"{train.path} has a single class ({names[0]!r}) in its label column; a classifier "
            "needs examples of at least two classes."
        )
    if val is not None and val.labels is not None:
        unseen = sorted(set(val.labels) - set(names))
        if unseen:
            raise UserError(
                f"{val.path} has label {unseen[0]!r}, which never occurs in the training data "
                f"{train.path}; add training examples of it or drop those rows."
            )
    return names


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """(training indices, validation indices): about ``fraction`` of each class held out, at
    least one example of every class with two or more, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train, val = [], []
    for label in sorted(by_class):
        members = rng.permutation(by_class[label]).tolist()
        held = min(len(members) - 1, max(1, round(len(members) * fraction)))
        val.extend(members[:held])
        train.extend(members[held:])
    return sorted(train), sorted(val)


def subset(data: LabelledData, indices: list[int]) -> LabelledData:
    """The examples at ``indices``."""
    numeric = None
    if data.numeric is not None:
        n = data.numeric
        numeric = NumericSequences(
            [n.sequences[i] for i in indices],
            None if n.labels is None else [n.labels[i] for i in indices],
            [n.names[i] for i in indices],
            n.feature_names,
        )
    return LabelledData(
        None if data.texts is None else [data.texts[i] for i in indices],
        numeric,
        None if data.labels is None else [data.labels[i] for i in indices],
        [data.names[i] for i in indices],
        data.path,
    )


# ---------------------------------------------------------------------------------- encoding


@dataclass
class Encoder:
    """Turns raw examples into model inputs: a tokenizer (text) or a feature scaler (numeric)."""

    tokenizer: Tokenizer | None = None
    scaler: FeatureScaler | None = None
    max_length: int | None = None

    def encode(self, data: LabelledData) -> list[Tensor]:
        """One input per example: ids ``(T,)`` (at least one) or features ``(T, F)``."""
        if data.texts is not None:
            return [self.encode_text(text) for text in data.texts]
        assert data.numeric is not None and self.scaler is not None
        if data.numeric.sequences[0].shape[1] != self.scaler.num_features:
            raise UserError(
                f"{data.path} has {data.numeric.sequences[0].shape[1]} features per step but the "
                f"model was trained on {self.scaler.num_features}; give the same feature columns."
            )
        return [self.scaler.transform(s)[: self.max_length] for s in data.numeric.sequences]

    def encode_text(self, text: str) -> Tensor:
        if self.tokenizer is None:
            raise UserError("this run classifies numeric sequences, not text; give --data FILE.")
        ids = self.tokenizer.encode(text)[: self.max_length] or [self.tokenizer.unk_id]
        return torch.tensor(ids, dtype=torch.long)

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as the model sees them (for explanations)."""
        assert self.tokenizer is not None
        # Word and char tokenizers can show a word as written even when it encodes as <unk>;
        # their split yields exactly one piece per id.
        split = getattr(self.tokenizer, "_split", None)
        pieces = split(text) if split is not None else self.tokenizer.tokens(text)
        tokens = pieces[: self.max_length]
        return tokens or [self.tokenizer.id_to_token(self.tokenizer.unk_id)]


def fit_tokenizer(options: ClassifyOptions, texts: list[str]) -> Tokenizer:
    """The tokenizer ``options`` ask for, trained on the training texts."""
    settings = tokenizing.tokenizer_settings(
        options.tokenizer,
        vocab_size=options.vocab_size,
        min_count=options.min_count,
        lowercase=options.lowercase,
    )
    return tokenizing.fit_tokenizer(options.tokenizer, texts, settings)


# ---------------------------------------------------------------------------------- objective


def make_batch(inputs: Sequence[Tensor], labels: Tensor | None = None) -> dict[str, Tensor]:
    """Pad a list of inputs into ``{"inputs", "lengths"[, "labels"]}`` (batch dimension first)."""
    padded, lengths = pad_sequences(inputs)
    batch = {"inputs": padded, "lengths": lengths}
    if labels is not None:
        batch["labels"] = labels
    return batch


def balanced_class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """``N / (K * n_k)`` per class (scikit-learn's "balanced"), so each class weighs the same."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    return (labels.numel() / (num_classes * counts.clamp(min=1))).float()


def unfrozen_groups(epoch: int, freeze_epochs: int, groups: int) -> int:
    """How many pretrained groups (from the top) train in ``epoch``: none in epoch 0, all from
    epoch ``freeze_epochs`` on, and evenly more in between."""
    if epoch >= freeze_epochs:
        return groups
    return math.floor(epoch * groups / freeze_epochs)


class ClassificationObjective:
    """Cross-entropy over length-bucketed batches; validation accuracy, macro-F1 and loss."""

    monitor = "accuracy"
    mode: Literal["min", "max"] = "max"

    def __init__(
        self,
        train_inputs: list[Tensor],
        train_labels: Tensor,
        val_inputs: list[Tensor] | None,
        val_labels: Tensor | None,
        class_names: list[str],
        *,
        batch_size: int,
        class_weights: Tensor | None = None,
        freeze_epochs: int = 0,
    ) -> None:
        self.train_inputs, self.train_labels = train_inputs, train_labels
        self.val_inputs, self.val_labels = val_inputs, val_labels
        self.class_names = class_names
        self.batch_size = batch_size
        self.class_weights = class_weights
        self.freeze_epochs = freeze_epochs
        self.epoch = 0
        self.lengths = [len(x) for x in train_inputs]

    def batches_per_epoch(self) -> int:
        return len(bucket_batches(self.lengths, self.batch_size, torch.Generator().manual_seed(0)))

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        self.epoch = epoch
        for indices in bucket_batches(self.lengths, self.batch_size, generator):
            yield make_batch([self.train_inputs[i] for i in indices], self.train_labels[indices])

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        if self.freeze_epochs:
            inner = getattr(model, "module", model)
            groups = len(inner.pretrained_groups())
            inner.freeze_bottom(groups - unfrozen_groups(self.epoch, self.freeze_epochs, groups))
        logits = model(batch["inputs"], batch["lengths"])
        weight = None if self.class_weights is None else self.class_weights.to(logits.device)
        loss = F.cross_entropy(logits.float(), batch["labels"], weight=weight)
        return StepResult(loss=loss, items=batch["labels"].numel())

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.val_inputs is None or self.val_labels is None:
            return {}
        probabilities = predict_probabilities(model, self.val_inputs)
        loss = F.nll_loss(probabilities.clamp_min(1e-12).log(), self.val_labels).item()
        predicted = probabilities.argmax(dim=1).tolist()
        scores = classification_metrics(self.val_labels.tolist(), predicted, self.class_names)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "loss": loss}


def predict_probabilities(model: nn.Module, inputs: list[Tensor]) -> Tensor:
    """Class probabilities ``(N, K)`` for each input, in input order (batched by length)."""
    device = next(model.parameters()).device
    probabilities = torch.empty(len(inputs), model.num_classes)
    with torch.no_grad():
        for indices in bucket_batches([len(x) for x in inputs], EVAL_BATCH, shuffle=False):
            batch = make_batch([inputs[i] for i in indices])
            logits = model(batch["inputs"].to(device), batch["lengths"])
            probabilities[indices] = torch.softmax(logits.float(), dim=1).cpu()
    return probabilities


# ---------------------------------------------------------------------------------- training


def train(options: ClassifyOptions) -> Path:
    """Train a classifier as ``options`` say; return the run directory."""
    options.validate()
    out = Path(options.out)
    resuming = _check_out_dir(out, options.resume)
    train_data = read_labelled(options.data, options)
    if options.val is not None:
        val_data: LabelledData | None = read_labelled(options.val, options)
    else:
        val_data = None
    class_names = check_labels(train_data, val_data)
    if val_data is None:
        train_rows, val_rows = stratified_split(
            train_data.labels, options.val_fraction, options.seed
        )
        train_data, val_data = subset(train_data, train_rows), subset(train_data, val_rows)

    seed_everything(options.seed)  # the initial weights follow the run's seed
    pretrained = None
    if options.init_from is not None:
        if options.numeric:
            raise UserError(
                "--init-from starts from a language model, which reads text, not numeric "
                "sequences; drop it."
            )
        pretrained = _load_language_model(options.init_from)
    if resuming:
        encoder = load_encoder(out, read_run_config(out, expected_task=TASK))
    elif pretrained is not None:
        encoder = Encoder(tokenizer=pretrained[1], max_length=options.max_length)
    elif options.numeric:
        encoder = Encoder(
            scaler=FeatureScaler.fit(train_data.numeric.sequences), max_length=options.max_length
        )
    else:
        encoder = Encoder(
            tokenizer=fit_tokenizer(options, train_data.texts), max_length=options.max_length
        )

    train_inputs, val_inputs = encoder.encode(train_data), encoder.encode(val_data)
    index = {name: k for k, name in enumerate(class_names)}
    train_labels = torch.tensor([index[label] for label in train_data.labels])
    val_labels = torch.tensor([index[label] for label in val_data.labels])

    model = build_model(options, class_names, encoder, pretrained)
    weights = None
    if options.class_weights == "balanced":
        weights = balanced_class_weights(train_labels, len(class_names))
    sections = {
        "options": options,
        "model": model.config(),
        "data": {
            "kind": "numeric" if options.numeric else "text",
            "labels": class_names,
            "train_file": str(options.data),
            "val_file": str(options.val) if options.val is not None else None,
            "train_examples": len(train_inputs),
            "val_examples": len(val_inputs),
            "class_weights": None if weights is None else weights.tolist(),
            "max_length": options.max_length,
            "features": train_data.numeric.feature_names if options.numeric else None,
            "init_from": str(options.init_from) if options.init_from is not None else None,
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, TASK, **sections)
    if encoder.tokenizer is not None:
        encoder.tokenizer.save(out)
    if encoder.scaler is not None:
        encoder.scaler.save(out / SCALER_FILE)

    objective = ClassificationObjective(
        train_inputs,
        train_labels,
        val_inputs,
        val_labels,
        class_names,
        batch_size=options.batch_size,
        class_weights=weights,
        freeze_epochs=options.freeze_epochs,
    )
    result = Trainer(model, objective, options.train_options(), out).fit()
    model.freeze_bottom(0)
    model.eval()
    predicted = predict_probabilities(model, val_inputs).argmax(dim=1).tolist()
    matrix = confusion_matrix(val_labels.tolist(), predicted, len(class_names))
    _plot_confusion(matrix, class_names, out / CONFUSION_FILE, "validation")
    results = {k: v for k, v in result.items() if not isinstance(v, Tensor)}
    write_config(out, TASK, **sections, results=results)
    return out


def build_model(
    options: ClassifyOptions,
    class_names: list[str],
    encoder: Encoder,
    pretrained: tuple[nn.Module, Tokenizer, dict[str, Any]] | None = None,
) -> SequenceClassifier:
    """The classifier ``options`` describe; with ``pretrained`` (an lm run), its shape and
    weights."""
    common = dict(pooling=options.pooling, dropout=options.dropout)
    if pretrained is not None:
        language_model, tokenizer, config = pretrained
        lm_config = config["model"]
        model = SequenceClassifier(
            len(class_names),
            vocab_size=tokenizer.vocab_size,
            embedding_size=lm_config["embedding_size"],
            hidden_size=lm_config["hidden_size"],
            num_layers=lm_config["num_layers"],
            cell=lm_config["cell"],
            bidirectional=False,
            **common,
            **lm_config.get("cell_options", {}),
        )
        copy_language_model(language_model, model)
        return model
    if encoder.scaler is not None:
        inputs: dict[str, int] = {"input_size": encoder.scaler.num_features}
    else:
        inputs = {
            "vocab_size": encoder.tokenizer.vocab_size,
            "embedding_size": options.embedding_size,
        }
    return SequenceClassifier(
        len(class_names),
        **inputs,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        bidirectional=options.bidirectional,
        **common,
    )


def copy_language_model(language_model: nn.Module, model: SequenceClassifier) -> None:
    """Copy an lm's embedding and RNN weights into ``model`` (same shapes)."""
    with torch.no_grad():
        model.embedding.weight.copy_(language_model.embedding.weight)
        target = model.rnn.state_dict()
        for name, tensor in language_model.rnn.state_dict().items():
            # weight drop stores a recurrent matrix as parametrizations.weight_hh.original
            plain = name.replace("parametrizations.", "").replace(".original", "")
            if plain in target:
                target[plain].copy_(tensor)


def _load_language_model(run_dir: Path) -> tuple[nn.Module, Tokenizer, dict[str, Any]]:
    """The model, tokenizer and config of the lm run ``--init-from`` names."""
    config = read_run_config(run_dir)
    if config["task"] != "lm":
        raise UserError(
            f"--init-from {run_dir} is a run of task '{config['task']}', not 'lm'; give the --out "
            "directory of `rnnkit train lm`."
        )
    from rnnkit.tasks import lm

    return lm.load_run(run_dir)


def _check_out_dir(out: Path, resume: bool) -> bool:
    """Whether a run in ``out`` is being resumed; refuses to overwrite a run otherwise."""
    refuse_existing_run(out, resume)
    has_run = (out / CONFIG_FILE).is_file()
    if has_run:
        read_run_config(out, expected_task=TASK)
    return has_run


def _plot_confusion(matrix: np.ndarray, names: list[str], path: Path, what: str) -> None:
    from rnnkit.viz.confusion import plot_confusion_matrix

    try:
        plot_confusion_matrix(
            matrix, names, path, title=f"confusion matrix ({what}, {int(matrix.sum())} examples)"
        )
    except Exception as error:  # a plot must never cost the user a finished run
        print(f"warning: could not draw {path.name}: {error}", file=sys.stderr)


# ---------------------------------------------------------------------------------- loading a run


@dataclass
class ClassifierRun:
    """A trained classify run, ready to predict."""

    model: SequenceClassifier
    encoder: Encoder
    class_names: list[str]
    config: dict[str, Any]
    run_dir: Path

    @property
    def numeric(self) -> bool:
        return self.encoder.scaler is not None

    def data_options(self) -> ClassifyOptions:
        """The run's options, for reading new files the way training read them."""
        stored = self.config.get("options", {})
        return ClassifyOptions.from_dict(stored) if isinstance(stored, dict) else ClassifyOptions()


def load_encoder(run_dir: Path, config: dict[str, Any]) -> Encoder:
    data = config.get("data", {})
    if data.get("kind") == "numeric":
        return Encoder(
            scaler=FeatureScaler.load(run_dir / SCALER_FILE), max_length=data.get("max_length")
        )
    return Encoder(tokenizer=load_tokenizer(run_dir), max_length=data.get("max_length"))


def load_run(run_dir: str | Path) -> ClassifierRun:
    """The model (eval mode, CPU), encoder, class names and config of a classify run; checked."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    names = config.get("data", {}).get("labels")
    try:
        if not isinstance(names, list) or len(names) < 2:
            raise ValueError("no list of labels in 'data'")
        model = SequenceClassifier.from_config(config["model"])
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(
            f"{run_dir / CONFIG_FILE} is unusable ({error}); train the run again."
        ) from None
    load_weights(model, run_dir / WEIGHTS_FILE)
    return ClassifierRun(model.eval(), load_encoder(run_dir, config), names, config, run_dir)


# ---------------------------------------------------------------------------------- evaluation


def evaluate(
    run_dir: str | Path,
    data: str | Path,
    *,
    encoding: str = "utf-8",
    confusion_plot: str | Path | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, and the confusion matrix
    (``confusion``: rows true, columns predicted, in ``labels`` order) of a labelled file."""
    run = load_run(run_dir)
    options = dataclasses.replace(run.data_options(), encoding=encoding)
    labelled = read_labelled(Path(data), options)
    unseen = sorted(set(labelled.labels) - set(run.class_names))
    if unseen:
        raise UserError(
            f"{data} has label {unseen[0]!r}, which the model was not trained on; its labels are "
            f"{', '.join(run.class_names)}."
        )
    index = {name: k for k, name in enumerate(run.class_names)}
    truth = [index[label] for label in labelled.labels]
    predicted = predict_probabilities(run.model, run.encoder.encode(labelled)).argmax(1).tolist()
    metrics: dict[str, Any] = classification_metrics(truth, predicted, run.class_names)
    matrix = confusion_matrix(truth, predicted, len(run.class_names))
    metrics["examples"] = len(truth)
    metrics["labels"] = list(run.class_names)
    metrics["confusion"] = matrix.tolist()
    if confusion_plot is not None:
        _plot_confusion(matrix, run.class_names, Path(confusion_plot), str(data))
    return metrics


# ---------------------------------------------------------------------------------- prediction


@dataclass
class Prediction:
    """The predicted label of one input, every class's probability, and optionally which steps
    mattered: ``explanation`` is ``[(token or step, weight)]`` with weights summing to 1."""

    label: str
    probabilities: dict[str, float]
    explanation: list[tuple[str, float]] | None = None
    method: str | None = None  # "attention" or "saliency"


def explain_input(model: SequenceClassifier, x: Tensor) -> tuple[Tensor, Tensor, str]:
    """(probabilities ``(K,)``, per-step weights ``(T,)`` summing to 1, method) for one input.

    Attention pooling gives its own weights; otherwise the gradient saliency: the norm of the
    gradient of the predicted class's logit with respect to each step's input vector.
    """
    batch = x.unsqueeze(0)
    lengths = torch.tensor([x.shape[0]])
    if model.pooling == "attention":
        with torch.no_grad():
            logits, weights = model.forward_with_weights(batch, lengths)
        return torch.softmax(logits[0], dim=0), weights[0], "attention"
    embedded = model.embed(batch).detach().requires_grad_(True)
    with torch.enable_grad():
        outputs, lengths = model.encode_embedded(embedded, lengths)
        logits, _ = model.classify(outputs, lengths)
        predicted = int(logits[0].argmax())
        (gradient,) = torch.autograd.grad(logits[0, predicted], embedded)
    saliency = gradient[0].norm(dim=-1)
    total = saliency.sum()
    saliency = saliency / total if total > 0 else torch.full_like(saliency, 1 / len(saliency))
    return torch.softmax(logits[0].detach(), dim=0), saliency, "saliency"


def predict_texts(
    run_dir: str | Path | ClassifierRun, texts: Sequence[str], *, explain: bool = False
) -> list[Prediction]:
    """The prediction for each text (a text run only)."""
    run = run_dir if isinstance(run_dir, ClassifierRun) else load_run(run_dir)
    if run.numeric:
        raise UserError(
            f"{run.run_dir} classifies numeric sequences, not text; give --data FILE instead of "
            "--text."
        )
    for text in texts:
        if not text.strip():
            raise UserError("--text is empty; give the text to classify.")
    inputs = [run.encoder.encode_text(text) for text in texts]
    if not explain:
        probabilities = predict_probabilities(run.model, inputs)
        return [_prediction(p, run.class_names) for p in probabilities]
    predictions = []
    for text, x in zip(texts, inputs, strict=True):
        probabilities, weights, method = explain_input(run.model, x)
        tokens = run.encoder.tokens(text)
        prediction = _prediction(probabilities, run.class_names)
        prediction.explanation = [(t, float(w)) for t, w in zip(tokens, weights, strict=True)]
        prediction.method = method
        predictions.append(prediction)
    return predictions


def _prediction(probabilities: Tensor, names: list[str]) -> Prediction:
    return Prediction(
        names[int(probabilities.argmax())],
        {name: float(p) for name, p in zip(names, probabilities, strict=True)},
    )


def predict_file(
    run_dir: str | Path, data: str | Path, output: str | Path | None, *, encoding: str = "utf-8"
) -> int:
    """Write ``output`` (CSV; stdout when None): one row per input of ``data`` with its row (or
    sequence) id, the predicted label and ``p_<label>`` for every class; return the row count."""
    run = load_run(run_dir)
    options = dataclasses.replace(run.data_options(), encoding=encoding)
    labelled = read_labelled(Path(data), options, need_labels=False)
    probabilities = predict_probabilities(run.model, run.encoder.encode(labelled))
    id_column = options.sequence_column or "row"
    with _open_output(output) as file:
        writer = csv.writer(file)
        writer.writerow([id_column, "predicted", *(f"p_{name}" for name in run.class_names)])
        for name, row in zip(labelled.names, probabilities, strict=True):
            label = run.class_names[int(row.argmax())]
            writer.writerow([name, label, *(f"{float(p):.6f}" for p in row)])
    return len(labelled)


@contextlib.contextmanager
def _open_output(output: str | Path | None) -> Iterator[TextIO]:
    """``output`` opened for writing text, or stdout (left open) when it is None."""
    if output is None:
        yield sys.stdout
        return
    try:
        with open(output, "w", newline="", encoding="utf-8") as file:
            yield file
    except OSError as error:
        raise UserError(f"cannot write {output} ({error.strerror}); check the path.") from None


# ---------------------------------------------------------------------------------- description


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data and metrics of a classify run, as a nested dict."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    model_config = config.get("model", {})
    parameters = parameter_count(lambda: SequenceClassifier.from_config(model_config))
    data = config.get("data", {})
    results = config.get("results", {})
    description: dict[str, Any] = {
        "task": TASK,
        "run_dir": str(run_dir),
        "model": {
            "cell": model_config.get("cell"),
            "layers": model_config.get("num_layers"),
            "hidden": model_config.get("hidden_size"),
            "bidirectional": model_config.get("bidirectional"),
            "pooling": model_config.get("pooling"),
            "parameters": parameters,
        },
        "data": {
            "kind": data.get("kind"),
            "labels": ", ".join(data.get("labels", [])),
            "train_file": data.get("train_file"),
            "train_examples": data.get("train_examples"),
            "val_examples": data.get("val_examples"),
            "init_from": data.get("init_from"),
        },
    }
    if results:
        description["training"] = {
            "steps": results.get("step"),
            "seconds": results.get("train_seconds"),
            "stopped_by": results.get("stop_reason"),
        }
        description["metrics"] = results.get("metrics", {})
    return description
