"""Sequence classification: texts, numeric sequences or audio files -> a run that predicts labels.

The Python API behind ``rnnkit train classify``, ``rnnkit predict`` and ``rnnkit evaluate`` /
``info`` on a classify run::

    from rnnkit.tasks import classify

    run = classify.train(classify.ClassifyOptions(data="reviews.csv", out="runs/sentiment"))
    classify.evaluate(run, "test.csv")        # accuracy, macro_f1, per-class figures, confusion
    classify.predict_texts(run, ["great phone"], explain=True)

Four kinds of input; the first three share one model, ``SequenceClassifier``:

- text: a CSV, TSV or JSONL table with a text and a label column, tokenized (word, char or bpe);
- numeric: a ``.npz`` (``x``, ``lengths``, ``y``) or a long-format table with ``sequence_column``;
  features are standardised with training statistics saved as ``scaler.json``;
- audio (``audio=True``, isolated words): a ``path,label`` table or a folder whose file names give
  the labels (``label_from_name``); each file becomes log-mel or MFCC frames ``(T, F)``,
  normalised as ``features.json`` (an ``AudioFeaturizer`` fitted on the training files) says;
- image (``images="cnn"``): IDX files, a ``.npz`` or a folder of PNGs per class, read whole,
  scaled to ``image_size`` and normalised as ``images.json`` says (the caption task's
  ``ImageSettings``); an ``ImageClassifier`` (the shared CNN, its feature map read by an RNN row
  by row) classifies them, and a caption run can reuse its CNN (``caption --encoder-from``).
  (``images="rows"`` or ``"pixels"`` read images as numeric sequences instead.)

Reading the files (``rnnkit.data.labelled``) and the training run itself
(``rnnkit.tasks.lifecycle``) are shared; this module holds what is the task's own: its options,
the ``Encoder`` of raw examples into model inputs, the objective, building the model (from
scratch or from an lm run), evaluation, prediction and explanation.

Without ``val`` a stratified ``val_fraction`` of the examples is held out. ``init_from`` starts
from a trained lm run (its tokenizer, embedding and RNN, which reads left to right, so the
classifier is then unidirectional) and ``freeze_epochs`` unfreezes the pretrained layers one
group at a time from the top (ULMFiT, Howard & Ruder 2018). ``pretrain_lm`` follows ULMFiT's whole
recipe without an lm run: the classifier's own embedding and encoder first learn to predict the
next word of the training texts and of ``unlabelled`` ones (``rnnkit.tasks.text_pretraining``),
then fine-tune with discriminative learning rates (``lr_factor``), one more group unfrozen per
epoch from the top, and the slanted triangular schedule. ``ngram_features`` adds a linear model of
hashed token uni- and bigram counts whose logits add to the RNN's (a hybrid, reported apart).
Two regularisers of the sequence classifiers' objective: ``mixup`` trains on pairs of pooled
sentence vectors mixed with a Beta(a, a) weight, and their targets mixed alike (the pairs and the
weight come with each batch, ``mixup_draw``); ``adversarial`` adds the loss under a shift of the
embedded input along its gradient (``adversarial_loss``, Miyato et al. 2017).

A run directory holds ``config.json`` (sections ``options``, ``model``, ``data`` with the label
names, ``results``), ``tokenizer.json``, ``scaler.json``, ``features.json`` or ``images.json``,
``model.safetensors``, ``metrics.csv``, ``loss.png``, ``confusion.png`` (validation) and
``checkpoint/``. ``ensemble`` (K > 1) trains K members one after the other, member ``i`` as the
run of seed ``seed + i`` would be, each a trainer run in ``members/<i>/``; ``refit`` chooses the
epoch count in a run with the hold-out in ``selection/``, then learns every example
(``rnnkit.tasks.classify_members``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.audio_inputs import AudioFeaturizer, most_common_rate
from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.char_ngrams import CharNgramHasher
from rnnkit.data.image_files import ImageSettings, fit_arrays
from rnnkit.data.images import SCANS, read_labelled_image_arrays, read_labelled_images
from rnnkit.data.labelled import (
    LabelledData,
    label_order,
    read_labelled,
    read_labelled_audio,
    stratified_split,
    subset,
)
from rnnkit.data.numeric import FeatureScaler
from rnnkit.data.tokenizers import TOKENIZER_KINDS, Tokenizer, load_tokenizer
from rnnkit.data.word_ngrams import WordNgramHasher
from rnnkit.errors import UserError
from rnnkit.layers.sequences import lengths_to_mask
from rnnkit.metrics.classification import classification_metrics, confusion_matrix
from rnnkit.models.classifier import POOLINGS, Mix, SequenceClassifier
from rnnkit.models.classifier_ensemble import ClassifierEnsemble
from rnnkit.models.image_classifier import ImageClassifier
from rnnkit.tasks import classify_members, lifecycle, text_pretraining, tokenizing
from rnnkit.tasks.audio_options import AUDIO, AudioOptions
from rnnkit.tasks.classify_members import Examples, Pool
from rnnkit.tasks.image_options import (
    DEFAULT_ENCODER_WIDTHS,
    ENCODER_WIDTHS_HELP,
    parse_encoder_widths,
)
from rnnkit.tasks.lifecycle import RNN_DESCRIPTION, Prepared, Run, Task
from rnnkit.tasks.options import TaskOptions, flag, model_option, option
from rnnkit.tasks.search_space import (
    CELLS,
    TRAINING_SPACE,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
)
from rnnkit.tasks.tokenizing import LOWERCASE_HELP, MIN_COUNT_HELP, TOKENIZER_HELP, VOCAB_SIZE_HELP
from rnnkit.training import CONFIG_FILE, StepResult, TrainOptions, seed_everything
from rnnkit.training.checkpoint import checkpoint_path

TASK = "classify"
TOKENIZER_FILE = "tokenizer.json"
SCALER_FILE = "scaler.json"
FEATURES_FILE = "features.json"
IMAGES_FILE = "images.json"
#: ``--images``: read as sequences (``SCANS``), or whole by a CNN
IMAGE_MODES = (*SCANS, "cnn")
#: what ``rnnkit info`` shows of an ``--images cnn`` run's CNN
IMAGE_MODEL_KEYS = ("encoder_widths", "image_size")
CONFUSION_FILE = "confusion.png"
EVAL_BATCH = 256
CHAR_NGRAM_BUCKETS = 32768
#: ``--ensemble``'s default on text sets: (fewer labelled examples than, members), smallest first;
#: five members cost about 2 CPU minutes on 1,000 sentences, and a larger set gets fewer so that
#: the default stays within minutes
TEXT_ENSEMBLES = ((2_000, 5), (20_000, 3))
#: the ``--help`` panels of the numeric-sequence and transfer options
NUMERIC, TRANSFER, IMAGES = "Numeric sequences", "Transfer", "Images"
#: the options of text or numeric data (default None) that ``--audio`` refuses
NOT_AUDIO_OPTIONS = (
    "init_from",
    "sequence_column",
    "time_column",
    "feature_columns",
    "vocab_size",
    "min_count",
)


@dataclass
class ClassifyOptions(AudioOptions, TaskOptions):
    """Everything ``rnnkit train classify`` takes: data, tokenizer or audio features, model,
    transfer, training."""

    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out", "init_from", "unlabelled")

    data: Path | None = option(
        None, help="Training file: .csv/.tsv/.jsonl table, or .npz (--audio: also a folder)."
    )
    audio: bool = option(
        False,
        help="Classify audio files (isolated words): --data is a path,label table or a folder "
        "with --label-from-name.",
        panel=AUDIO,
        fixed=True,
    )
    images: Literal["rows", "pixels", "cnn"] | None = option(
        None,
        help="Classify images read as sequences, by rows or by pixels, or by a CNN whose feature "
        "map an RNN reads (cnn): --data is an IDX images file, an .npz of images and labels, or "
        "a folder of PNGs per class.",
        panel=IMAGES,
        fixed=True,
    )
    image_size: int | None = option(
        None,
        help="--images cnn: side images are scaled and cropped to (default: their own).",
        panel=IMAGES,
        fixed=True,
    )
    val: Path | None = option(None, help="Validation file (default: a stratified split).")
    val_fraction: float = option(
        0.1, help="Share of each class held out without --val.", fixed=True
    )
    text_column: str = option("text", help="Column holding the texts.", fixed=True)
    label_column: str = option("label", help="Column holding the labels.", fixed=True)
    # numeric sequences in a long-format table
    sequence_column: str | None = option(
        None, help="Long-format table: column naming the sequence.", panel=NUMERIC, fixed=True
    )
    time_column: str | None = option(
        None, help="Long-format table: column ordering the steps.", panel=NUMERIC, fixed=True
    )
    feature_columns: str | None = option(
        None,
        help="Comma-separated feature columns (default: every other numeric one).",
        panel=NUMERIC,
        fixed=True,
    )
    # tokenizer (text)
    tokenizer: Literal["char", "word", "bpe"] = option("word", help=TOKENIZER_HELP, fixed=True)
    vocab_size: int | None = option(None, help=VOCAB_SIZE_HELP, fixed=True)
    min_count: int | None = option(None, help=MIN_COUNT_HELP, fixed=True)
    lowercase: bool = option(True, help=LOWERCASE_HELP, fixed=True)
    max_length: int | None = option(
        None, help="Keep at most this many tokens, steps or audio frames.", fixed=True
    )
    # model
    embedding_size: int = model_option(128, help="Token embedding width.")
    encoder_widths: str = model_option(
        DEFAULT_ENCODER_WIDTHS, help=f"--images cnn: {ENCODER_WIDTHS_HELP}"
    )
    hidden: int = model_option(128, help="Hidden units per direction.")
    layers: int = model_option(1, help="Stacked recurrent layers.")
    bidirectional: bool = model_option(True, help="Read sequences in both directions.")
    pooling: Literal["last", "mean", "max", "attention", "max_attention"] = model_option(
        "max_attention", help="How per-token outputs become one vector."
    )
    dropout: float = model_option(0.3, help="Dropout on inputs, between layers, before the head.")
    char_ngrams: int = model_option(
        CHAR_NGRAM_BUCKETS,
        help="Hash buckets of character 3-5-grams whose mean embedding is added to each word's "
        "(--tokenizer word, without --init-from); 0: words only.",
    )
    word_dropout: float = model_option(
        0.2, help="Probability of dropping a word's embedding (its n-grams stay) while training."
    )
    ngram_features: int = model_option(
        0,
        help="Hash buckets of a linear model of token uni- and bigram counts whose logits are "
        "added to the RNN's, trained jointly (a hybrid; 0: the RNN alone).",
    )
    ensemble: int | None = model_option(
        None,
        help="Classifiers trained one after the other, member i as a run with --seed S+i (its "
        "own weights, hold-out and best epoch, 1/K of --time-limit); their probabilities are "
        "averaged (default, for texts: "
        + ", ".join(f"{k} under {n:,} examples" for n, k in TEXT_ENSEMBLES)
        + ", else 1).",
    )
    refit: bool = option(
        False,
        help="Choose the number of epochs on the held-out share, then train again from the same "
        "weights on every example for that many epochs and keep the last weights.",
        panel="Training",
        fixed=True,
    )
    label_smoothing: float = option(
        0.1, help="Share of each target spread evenly over all classes.", panel="Training"
    )
    mixup: float = option(
        0.0,
        help="Mixup of sentence vectors: train on pairs of pooled vectors mixed with a weight "
        "drawn from Beta(a, a), and their targets mixed alike (a > 0; 0: off).",
        panel="Training",
    )
    adversarial: float = option(
        0.0,
        help="Adversarial training: also learn each batch with its embeddings shifted, by this "
        "share of their norm, in the direction that raises the loss most (0: off).",
        panel="Training",
    )
    class_weights: Literal["none", "balanced"] = model_option(
        "none",
        help="balanced: weigh classes inversely to their frequency.",
    )
    # the batches are part of the data layout: a resumed epoch continues at the same batch
    batch_size: int = model_option(32, help="Sequences per batch (bucketed by length).")
    # transfer from a language model: it fixes the tokenizer and the model's shape
    init_from: Path | None = option(
        None,
        help="Start from this lm run's tokenizer, embedding and RNN.",
        panel=TRANSFER,
        fixed=True,
    )
    freeze_epochs: int = option(
        0,
        help="Unfreeze the pretrained layers gradually over this many epochs (with "
        "--pretrain-lm, 0: one more layer group per epoch).",
        panel=TRANSFER,
    )
    pretrain_lm: bool = option(
        False,
        help="ULMFiT: first train the embedding and encoder as a language model on the training "
        "texts (and --unlabelled), then fine-tune with discriminative learning rates, gradual "
        "unfreezing and the slanted triangular schedule (in place of --schedule constant).",
        panel=TRANSFER,
        fixed=True,
    )
    unlabelled: Path | None = option(
        None,
        help="Unlabelled texts, one per line, that the language model also learns from "
        "(implies --pretrain-lm).",
        panel=TRANSFER,
        fixed=True,
    )
    pretrain_epochs: int = option(
        6, help="Passes of --pretrain-lm over the texts, per direction.", panel=TRANSFER
    )
    # ULMFiT's 2.6 fine-tunes a language model trained on a large corpus; after pretraining on
    # a thousand sentences the encoder must still move, and 2.6 lost 6-13 points on a UCI split
    lr_factor: float = option(
        1.0,
        help="With --pretrain-lm: each layer group learns this many times slower than the one "
        "above it (discriminative learning rates, the head at --lr; ULMFiT uses 2.6).",
        panel=TRANSFER,
    )
    # TrainOptions defaults that suit classification
    lr: float = 2e-3
    epochs: int | None = 10

    #: what ``rnnkit tune classify`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "embedding_size": IntRange(32, 256, log=True),
        "hidden": IntRange(32, 256, log=True),
        "layers": IntRange(1, 2),
        "dropout": FloatRange(0.0, 0.6),
        "pooling": Choice(("last", "mean", "max", "attention", "max_attention")),
        "batch_size": Choice((16, 32, 64)),
    }

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
        self.require_whole_numbers("char_ngrams", at_least=0)
        self.require_whole_numbers("pretrain_epochs")
        self.require_whole_numbers("ensemble", optional=True)
        self.require_whole_numbers("ngram_features", at_least=0)
        for name in ("char_ngrams", "ngram_features"):
            if getattr(self, name) == 1:
                raise UserError(
                    f"{flag(name)} needs at least 2 buckets (0 is padding); or 0 for off."
                )
        if not (isinstance(self.lr_factor, (int, float)) and self.lr_factor >= 1):
            raise UserError(f"--lr-factor must be a number >= 1, got {self.lr_factor!r}.")
        self._validate_text_options()
        self.require_rates("dropout", "word_dropout", "label_smoothing")
        self.require_non_negative("mixup", "adversarial")
        self.require_fractions("val_fraction")
        if self.refit and self.val is not None:
            raise UserError(
                "--refit trains again on the share of --data held out for validation, but with "
                "--val nothing is held out; drop --refit or --val."
            )
        if self.refit and self.ensemble not in (None, 1):
            raise UserError(
                "--refit and --ensemble each choose their epochs their own way; give one of them."
            )
        if self.freeze_epochs and self.init_from is None and not self.pretrains:
            raise UserError(
                "--freeze-epochs applies to a pretrained model; add --pretrain-lm or --init-from "
                "an lm run."
            )
        if self.init_from is not None and self.numeric:
            raise UserError(
                "--init-from starts from a language model, which reads text, not numeric "
                "sequences; drop it."
            )
        if self.images != "cnn" and (
            self.image_size is not None or self.encoder_widths != DEFAULT_ENCODER_WIDTHS
        ):
            which = "--image-size" if self.image_size is not None else "--encoder-widths"
            raise UserError(f"{which} applies to --images cnn; add --images cnn or drop {which}.")
        if self.images is not None:
            self._validate_images_mode()
        if self.audio:
            self._validate_audio_mode()
        elif self.label_from_name is not None or self.sample_rate is not None:
            which = "--label-from-name" if self.label_from_name is not None else "--sample-rate"
            raise UserError(f"{which} applies to audio data; add --audio or drop it.")
        return self

    def _validate_text_options(self) -> None:
        """``--pretrain-lm``, ``--unlabelled`` and ``--ngram-features`` need text data; pretraining
        builds its own encoder, so it excludes ``--init-from``."""
        which = "--unlabelled" if self.unlabelled is not None else "--pretrain-lm"
        if self.pretrains and self.init_from is not None:
            raise UserError(
                f"{which} pretrains the classifier itself and --init-from starts it from an lm "
                "run; give one of them."
            )
        if self.data_kind != "text":
            for name in ("pretrain_lm", "unlabelled", "ngram_features"):
                if getattr(self, name):
                    raise UserError(
                        f"{flag(name)} applies to text, but this run reads {self.data_kind} "
                        "data; drop it."
                    )

    @property
    def pretrains(self) -> bool:
        """Whether the encoder is first trained as a language model (``--pretrain-lm`` or
        ``--unlabelled``)."""
        return self.pretrain_lm or self.unlabelled is not None

    def train_options(self) -> TrainOptions:
        """The trainer's options; pretraining fine-tunes with the slanted triangular schedule
        unless another than the default constant one was asked for."""
        options = super().train_options()
        if self.pretrains and options.schedule == "constant":
            options.schedule = "slanted"
        return options

    def _validate_audio_mode(self) -> None:
        """``--audio``: the audio options, and none of the options of text or numeric data."""
        self.validate_audio()
        for name in NOT_AUDIO_OPTIONS:
            if getattr(self, name) is not None:
                raise UserError(
                    f"{flag(name)} does not apply to --audio, which reads audio files; drop it."
                )
        if Path(self.data or "").suffix.lower() == ".npz":
            raise UserError(
                f"--audio reads audio files, but {self.data} is an .npz; give a path,label "
                "table or a folder of audio."
            )

    def _validate_images_mode(self) -> None:
        """``--images``: a known mode, and none of the options of text, tables or audio."""
        self.require_known("images", IMAGE_MODES)
        if self.images == "cnn":
            self.require_whole_numbers("image_size", optional=True)
            parse_encoder_widths(self.encoder_widths)
            if self.ensemble not in (None, 1):
                raise UserError("--ensemble applies to sequence classifiers, not --images cnn.")
            for name in ("mixup", "adversarial"):
                if getattr(self, name):
                    raise UserError(
                        f"{flag(name)} applies to sequence classifiers, not --images cnn."
                    )
        if self.audio:
            raise UserError("--images and --audio read different data; give one of them.")
        for name in NOT_AUDIO_OPTIONS:
            if getattr(self, name) is not None:
                raise UserError(f"{flag(name)} does not apply to --images; drop it.")

    @property
    def numeric(self) -> bool:
        """Whether the data are numeric sequences (``.npz``, ``sequence_column`` or images read
        as sequences)."""
        if self.images is not None:
            return self.images != "cnn"
        if self.audio:
            return False
        return self.sequence_column is not None or Path(self.data or "").suffix.lower() == ".npz"

    @property
    def uses_char_ngrams(self) -> bool:
        """Whether words get character n-gram features: word tokens trained from scratch."""
        return (
            self.char_ngrams > 0
            and self.data_kind == "text"
            and self.tokenizer == "word"
            and self.init_from is None
        )

    def ensemble_size(self, examples: int) -> int:
        """``--ensemble``, or its default for a training file of ``examples`` labelled examples
        (``TEXT_ENSEMBLES``): on a small text set a single classifier's accuracy depends on its
        seed and its held-out tenth by several points; on the UCI sentence sets (README) the
        mean of three members' probabilities gained 1.9 points and five members 0.7 more (nine
        no more than five); on large sets, images, audio and numeric sequences, where that was
        not measured, one classifier."""
        if self.ensemble is not None:
            return self.ensemble
        if self.data_kind != "text" or self.refit:
            return 1
        return next((k for bound, k in TEXT_ENSEMBLES if examples < bound), 1)

    def for_tuning(self) -> ClassifyOptions:
        """One classifier per trial unless ``--ensemble`` is given: the pruner hears the
        validations of one training, and an ensemble's members train before the trial's own."""
        return self if self.ensemble is not None else dataclasses.replace(self, ensemble=1)

    @property
    def data_kind(self) -> str:
        """``"audio"``, ``"image"``, ``"numeric"`` or ``"text"``, as the run's ``data`` section
        records it."""
        if self.audio:
            return "audio"
        if self.images == "cnn":
            return "image"
        return "numeric" if self.numeric else "text"

    def read(self, path: Path, *, need_labels: bool = True) -> LabelledData:
        """Read one data file (or folder of audio) the way these options describe it."""
        if self.audio:
            return read_labelled_audio(
                path,
                label_column=self.label_column if need_labels else None,
                path_column=self.path_column,
                label_from_name=self.label_from_name,
                encoding=self.encoding,
            )
        if self.images == "cnn":
            return read_labelled_image_arrays(path, need_labels=need_labels)
        if self.images is not None:
            return read_labelled_images(path, self.images, need_labels=need_labels)
        features = None
        if self.feature_columns:
            features = [c.strip() for c in self.feature_columns.split(",") if c.strip()]
        return read_labelled(
            path,
            numeric=self.numeric,
            text_column=self.text_column,
            label_column=self.label_column if need_labels else None,
            sequence_column=self.sequence_column,
            time_column=self.time_column,
            feature_columns=features,
            encoding=self.encoding,
        )


# ---------------------------------------------------------------------------------- labels


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


@dataclass
class TrainingData:
    """What a run reads: ``--data`` whole (``labelled``), its training and validation parts
    (``--val``, or a stratified ``--val-fraction`` of ``--data`` drawn with the run's seed), and
    the class names."""

    labelled: LabelledData
    train: LabelledData
    val: LabelledData
    class_names: list[str]


def read_training_data(options: ClassifyOptions) -> TrainingData:
    """The examples of ``--data`` (and ``--val``) and the class names; ``UserError`` if unfit."""
    labelled = options.read(options.data)
    val_data = options.read(options.val) if options.val is not None else None
    class_names = check_labels(labelled, val_data)
    train_data = labelled
    if val_data is None:
        train_rows, val_rows = stratified_split(labelled.labels, options.val_fraction, options.seed)
        train_data, val_data = subset(labelled, train_rows), subset(labelled, val_rows)
    return TrainingData(labelled, train_data, val_data, class_names)


# ---------------------------------------------------------------------------------- encoding


@dataclass
class Encoder:
    """Turns raw examples into model inputs: a tokenizer (text; with ``ngrams`` each word also
    carries its hashed character n-grams), a feature scaler (numeric), an audio featurizer
    (audio) or image settings (image)."""

    tokenizer: Tokenizer | None = None
    scaler: FeatureScaler | None = None
    max_length: int | None = None
    featurizer: AudioFeaturizer | None = None
    image_settings: ImageSettings | None = None
    ngrams: CharNgramHasher | None = None
    word_ngrams: WordNgramHasher | None = None

    @property
    def num_features(self) -> int | None:
        """Features per step of a feature input (numeric or audio); None for text."""
        if self.featurizer is not None:
            return self.featurizer.num_features
        return None if self.scaler is None else self.scaler.num_features

    def encode(self, data: LabelledData) -> list[Tensor]:
        """One input per example: ids ``(T,)`` (at least one), features ``(T, F)`` or a
        normalised image ``(C, S, S)``."""
        if data.texts is not None:
            return [self.encode_text(text) for text in data.texts]
        if data.images is not None:
            return self.encode_images(data.images)
        if data.audio is not None:
            return self.encode_audio(data.audio)
        assert data.numeric is not None and self.scaler is not None
        if data.numeric.sequences[0].shape[1] != self.scaler.num_features:
            raise UserError(
                f"{data.path} has {data.numeric.sequences[0].shape[1]} features per step but the "
                f"model was trained on {self.scaler.num_features}; give the same feature columns."
            )
        return [self.scaler.transform(s)[: self.max_length] for s in data.numeric.sequences]

    def encode_images(self, images: np.ndarray) -> list[Tensor]:
        """Images ``uint8 (N, H, W, C)`` as the run reads them: converted to its channels,
        scaled and cropped to its size, normalised; one ``(C, S, S)`` float tensor each."""
        if self.image_settings is None:
            raise UserError("this run does not classify images; give the data it was trained on.")
        settings = self.image_settings
        fitted = fit_arrays(images, settings.size, settings.channels)
        return [image for block in fitted.split(4096) for image in settings.normalise(block)]

    def encode_audio(self, paths: Sequence[Path]) -> list[Tensor]:
        """Each file's normalised frames ``(T, F)``, ``T`` at most ``max_length``; ``UserError``
        naming a file that is missing, not audio, or too short."""
        assert self.featurizer is not None
        return [self.featurizer.read(path)[: self.max_length] for path in paths]

    def encode_text(self, text: str) -> Tensor:
        """Token ids ``(T,)``, or with n-grams ``(T, 1 + G)``: each word id, then its n-gram ids,
        then (``word_ngrams``) its uni- and bigram ids."""
        if self.tokenizer is None:
            kind = "audio files" if self.featurizer is not None else "numeric sequences"
            kind = "images" if self.image_settings is not None else kind
            raise UserError(f"this run classifies {kind}, not text; give --data FILE.")
        ids = self.tokenizer.encode(text)[: self.max_length] or [self.tokenizer.unk_id]
        words = torch.tensor(ids, dtype=torch.long)
        if self.ngrams is None and self.word_ngrams is None:
            return words
        columns = [words.unsqueeze(1)]
        if self.ngrams is not None:
            # the word tokenizer's split yields exactly one piece per id
            pieces = self.tokenizer._split(text)[: self.max_length] or [""]
            columns.append(self.ngrams.encode(pieces))
        if self.word_ngrams is not None:
            columns.append(self.word_ngrams.encode(self.tokens(text)))
        return torch.cat(columns, dim=1)

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as the model sees them (for explanations)."""
        assert self.tokenizer is not None
        # Word and char tokenizers can show a word as written even when it encodes as <unk>;
        # their split yields exactly one piece per id.
        split = getattr(self.tokenizer, "_split", None)
        pieces = split(text) if split is not None else self.tokenizer.tokens(text)
        tokens = pieces[: self.max_length]
        return tokens or [self.tokenizer.id_to_token(self.tokenizer.unk_id)]

    def artifacts(self) -> dict[str, Any]:
        """The run's files holding this encoder: ``tokenizer.json``, ``scaler.json``,
        ``features.json`` or ``images.json``."""
        if self.tokenizer is not None:
            return {TOKENIZER_FILE: self.tokenizer.to_dict()}
        if self.image_settings is not None:
            return {IMAGES_FILE: self.image_settings.to_dict()}
        if self.featurizer is not None:
            return {FEATURES_FILE: self.featurizer.to_dict()}
        assert self.scaler is not None
        return {SCALER_FILE: self.scaler.to_dict()}


def fit_encoder(
    options: ClassifyOptions,
    train_data: LabelledData,
    pretrained: Tokenizer | None = None,
    unlabelled: Sequence[str] = (),
) -> Encoder:
    """The encoder of a new run: ``pretrained`` (an lm run's tokenizer), a tokenizer trained on
    the training texts (and ``unlabelled`` ones), a scaler fitted on the training sequences, an
    audio featurizer fitted on the training files, or image settings fitted on the training
    images."""
    word_ngrams = WordNgramHasher(options.ngram_features) if options.ngram_features else None
    if pretrained is not None:
        return Encoder(tokenizer=pretrained, max_length=options.max_length, word_ngrams=word_ngrams)
    if train_data.images is not None:
        return Encoder(image_settings=fit_image_settings(options, train_data.images))
    ngrams = CharNgramHasher(options.char_ngrams) if options.uses_char_ngrams else None
    if train_data.audio is not None:
        return Encoder(
            featurizer=fit_featurizer(options, train_data.audio), max_length=options.max_length
        )
    if train_data.numeric is not None:
        scaler = FeatureScaler.fit(train_data.numeric.sequences)
        return Encoder(scaler=scaler, max_length=options.max_length)
    return Encoder(
        tokenizer=fit_tokenizer(options, [*train_data.texts, *unlabelled]),
        max_length=options.max_length,
        ngrams=ngrams,
        word_ngrams=word_ngrams,
    )


def fit_image_settings(options: ClassifyOptions, images: np.ndarray) -> ImageSettings:
    """The image settings of a new run: ``--image-size`` (default: the images' shorter side),
    the images' channels, and the mean and deviation of the training pixels at that size."""
    size = options.image_size or min(images.shape[1], images.shape[2])
    return ImageSettings.fit(fit_arrays(images, size, images.shape[-1]))


def fit_featurizer(options: ClassifyOptions, paths: Sequence[Path]) -> AudioFeaturizer:
    """The audio featurizer of a new run: ``--sample-rate`` (default: the files' most common
    rate), the feature options, and (``global``) the statistics of the training files' frames."""
    featurizer = options.featurizer(options.sample_rate or most_common_rate(paths))
    return featurizer.fit(featurizer.read_raw(path) for path in paths)


def fit_tokenizer(options: ClassifyOptions, texts: list[str]) -> Tokenizer:
    """The tokenizer ``options`` ask for, trained on the training texts."""
    settings = tokenizing.tokenizer_settings(
        options.tokenizer,
        vocab_size=options.vocab_size,
        min_count=options.min_count,
        lowercase=options.lowercase,
    )
    return tokenizing.fit_tokenizer(options.tokenizer, texts, settings)


def load_encoder(run_dir: str | Path, config: dict[str, Any]) -> Encoder:
    """The encoder a run was trained with, read from its ``tokenizer.json``, ``scaler.json``,
    ``features.json`` or ``images.json``."""
    run_dir = Path(run_dir)
    data = config.get("data", {})
    if data.get("kind") == "image":
        return Encoder(image_settings=ImageSettings.load(run_dir / IMAGES_FILE))
    if data.get("kind") == "audio":
        return Encoder(
            featurizer=AudioFeaturizer.load(run_dir / FEATURES_FILE),
            max_length=data.get("max_length"),
        )
    if data.get("kind") == "numeric":
        return Encoder(
            scaler=FeatureScaler.load(run_dir / SCALER_FILE), max_length=data.get("max_length")
        )
    ngrams, word_ngrams = data.get("char_ngrams"), data.get("word_ngrams")
    return Encoder(
        tokenizer=load_tokenizer(run_dir),
        max_length=data.get("max_length"),
        ngrams=CharNgramHasher.from_dict(ngrams) if ngrams else None,
        word_ngrams=WordNgramHasher.from_dict(word_ngrams) if word_ngrams else None,
    )


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
    """Cross-entropy (optionally label-smoothed: the target puts ``1 - s + s / K`` on the true
    class and ``s / K`` on each other) over length-bucketed batches; validation accuracy,
    macro-F1 and (unsmoothed) loss.

    ``freeze_epochs``: the epochs over which the model's ``pretrained_groups`` are unfrozen
    from the top (``unfrozen_groups``); 0: all train from the start; None: as many epochs as
    the model has groups, one more group each epoch.
    """

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
        freeze_epochs: int | None = 0,
        label_smoothing: float = 0.0,
        lr_factor: float | None = None,
        mixup: float = 0.0,
        adversarial: float = 0.0,
    ) -> None:
        self.train_inputs, self.train_labels = train_inputs, train_labels
        self.val_inputs, self.val_labels = val_inputs, val_labels
        self.class_names = class_names
        self.batch_size = batch_size
        self.class_weights = class_weights
        self.freeze_epochs = freeze_epochs
        self.label_smoothing = label_smoothing
        self.lr_factor = lr_factor
        self.mixup = mixup
        self.adversarial = adversarial
        self.epoch = 0
        self.lengths = [len(x) for x in train_inputs]

    def batches_per_epoch(self) -> int:
        return len(bucket_batches(self.lengths, self.batch_size, torch.Generator().manual_seed(0)))

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]] | None:
        """With ``lr_factor``: discriminative learning rates over the pretrained layer groups
        (``text_pretraining.discriminative_groups``); None: one group."""
        if self.lr_factor is None:
            return None
        return text_pretraining.discriminative_groups(model, self.lr_factor)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        self.epoch = epoch
        for indices in bucket_batches(self.lengths, self.batch_size, generator):
            batch = make_batch([self.train_inputs[i] for i in indices], self.train_labels[indices])
            if self.mixup > 0:
                batch |= mixup_draw(len(indices), self.mixup, generator)
            yield batch

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        if self.freeze_epochs != 0:
            inner = getattr(model, "module", model)
            groups = len(inner.pretrained_groups())
            epochs = groups if self.freeze_epochs is None else self.freeze_epochs
            inner.freeze_bottom(groups - unfrozen_groups(self.epoch, epochs, groups))
        mix = mix_of(batch)
        extra = {} if mix is None else {"mix": mix}
        labels = batch["labels"]
        weight = None if self.class_weights is None else self.class_weights.to(labels.device)

        def loss_of(logits: Tensor) -> Tensor:
            def against(targets: Tensor) -> Tensor:
                return F.cross_entropy(
                    logits.float(), targets, weight=weight, label_smoothing=self.label_smoothing
                )

            if mix is None:
                return against(labels)
            partner_labels = labels[mix.partner.to(labels.device)]
            return mix.weight * against(labels) + (1 - mix.weight) * against(partner_labels)

        if self.adversarial == 0:
            loss = loss_of(model(batch["inputs"], batch["lengths"], **extra))
        else:
            loss = adversarial_loss(model, batch, loss_of, self.adversarial, extra)
        return StepResult(loss=loss, items=labels.numel())

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.val_inputs is None or self.val_labels is None:
            return {}
        probabilities = predict_probabilities(model, self.val_inputs)
        loss = F.nll_loss(probabilities.clamp_min(1e-12).log(), self.val_labels).item()
        predicted = probabilities.argmax(dim=1).tolist()
        scores = classification_metrics(self.val_labels.tolist(), predicted, self.class_names)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "loss": loss}


def adversarial_loss(
    model: nn.Module,
    batch: dict[str, Tensor],
    loss_of: Callable[[Tensor], Tensor],
    epsilon: float,
    extra: dict[str, Any],
) -> Tensor:
    """The loss of the batch plus its loss under the adversarial shift of its embedded input
    (Miyato et al. 2017): the gradient of the loss with respect to the embeddings ``(B, T, I)``,
    scaled per sequence to ``epsilon`` times the norm of the sequence's embeddings, is the
    direction that raises the loss fastest; training on both makes the model flat around the
    embeddings of its training sentences."""
    inputs, lengths = batch["inputs"], batch["lengths"]
    inner = getattr(model, "module", model)
    width = inner.rnn.input_size
    probe = torch.zeros(*inputs.shape[:2], width, device=inputs.device, requires_grad=True)
    loss = loss_of(model(inputs, lengths, shift=probe, **extra))
    (gradient,) = torch.autograd.grad(loss, probe, retain_graph=True)
    with torch.no_grad():
        shift = adversarial_shift(gradient, inner.embed(inputs), lengths, epsilon)
    return loss + loss_of(model(inputs, lengths, shift=shift, **extra))


def adversarial_shift(
    gradient: Tensor, embedded: Tensor, lengths: Tensor, epsilon: float
) -> Tensor:
    """The shift ``(B, T, I)`` along ``gradient (B, T, I)`` whose norm, per sequence, is
    ``epsilon`` times that of the sequence's real steps in ``embedded (B, T, I)``."""
    mask = lengths_to_mask(lengths, embedded.shape[1], device=embedded.device).unsqueeze(-1)
    size = (embedded.float() * mask).flatten(1).norm(dim=1)
    steepness = gradient.float().flatten(1).norm(dim=1).clamp_min(1e-12)
    return (epsilon * size / steepness)[:, None, None] * gradient.float()


def mixup_draw(batch: int, alpha: float, generator: torch.Generator) -> dict[str, Tensor]:
    """Mixup for a batch of ``batch`` rows, drawn from ``generator`` (a resumed epoch mixes
    alike): ``mix_weight (B,)``, the weight of each row itself, one draw from Beta(alpha,
    alpha) for the batch; ``mix_key (B,)``, random keys whose order pairs the rows
    (``mix_of``). Both are per row, so a batch sharded over processes shards them too, and
    each process mixes the rows it holds."""
    keys = torch.rand(batch, generator=generator, dtype=torch.float64)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    weight = float(np.random.default_rng(seed).beta(alpha, alpha))
    return {"mix_key": keys, "mix_weight": torch.full((batch,), weight, dtype=torch.float64)}


def mix_of(batch: dict[str, Tensor]) -> Mix | None:
    """The ``Mix`` of a batch with ``mixup_draw``'s columns (each row's partner: the row at its
    key's rank), or None for a batch without them."""
    if "mix_key" not in batch:
        return None
    return Mix(torch.argsort(batch["mix_key"]), float(batch["mix_weight"][0]))


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


# ---------------------------------------------------------------------------------- the task


class ClassifyTask(Task[ClassifyOptions]):
    """The classify task: a labelled table or ``.npz``, a tokenizer or scaler fitted on it, and a
    ``SequenceClassifier``."""

    name = TASK
    options_class = ClassifyOptions
    summary = (
        "Train a classifier of texts, numeric sequences, audio or images (one label per input)."
    )
    # the folders of the runs that prepare trains (ensemble members, a refit's selection), and
    # the confusion matrix, drawn just before the last config.json is written
    artifact_files = (
        TOKENIZER_FILE,
        SCALER_FILE,
        FEATURES_FILE,
        IMAGES_FILE,
        CONFUSION_FILE,
        classify_members.MEMBERS_DIR,
        classify_members.SELECTION_DIR,
    )
    described_model = {
        **RNN_DESCRIPTION,
        "bidirectional": "bidirectional",
        "pooling": "pooling",
        "char_ngrams": "ngram_buckets",
        "ngram_features": "word_ngram_buckets",
        "ensemble": "members",
        **{key: key for key in IMAGE_MODEL_KEYS},
    }

    def prepare(self, options: ClassifyOptions, resumed: Run | None) -> Prepared:
        data = read_training_data(options)
        ensemble = options.ensemble_size(len(data.labelled.labels))
        options = dataclasses.replace(options, ensemble=ensemble)
        train_data, val_data, class_names = data.train, data.val, data.class_names
        unlabelled: list[str] = []
        if options.unlabelled is not None:
            unlabelled = text_pretraining.read_unlabelled(options.unlabelled, options.encoding)
        pretrained = None
        if options.init_from is not None:
            pretrained = _load_language_model(options.init_from)
        if resumed is not None:
            _check_same_data(resumed, options, class_names)
            encoder = load_encoder(resumed.path, resumed.config)
        else:
            tokenizer = pretrained[1] if pretrained else None
            encoder = fit_encoder(options, train_data, tokenizer, unlabelled)

        index = {name: k for k, name in enumerate(class_names)}

        def examples(labelled: LabelledData) -> Examples:
            labels = torch.tensor([index[label] for label in labelled.labels])
            return Examples(encoder.encode(labelled), labels)

        train, val = examples(train_data), examples(val_data)
        weights = None
        if options.class_weights == "balanced":
            weights = balanced_class_weights(train.labels, len(class_names))
        # after pretraining, by default one more pretrained group unfrozen per epoch
        freeze_epochs = options.freeze_epochs or (None if options.pretrains else 0)

        def make_objective(part: Examples, held: Examples | None) -> ClassificationObjective:
            return ClassificationObjective(
                part.inputs,
                part.labels,
                held.inputs if held is not None else None,
                held.labels if held is not None else None,
                class_names,
                batch_size=options.batch_size,
                class_weights=weights,
                freeze_epochs=freeze_epochs,
                label_smoothing=options.label_smoothing,
                mixup=options.mixup,
                adversarial=options.adversarial,
                lr_factor=options.lr_factor if options.pretrains else None,
            )

        def pretrain(model: nn.Module, seed: int) -> dict[str, Any] | None:
            if not options.pretrains:
                return None
            texts = [*train_data.texts, *unlabelled]
            seeded = dataclasses.replace(options, seed=seed)
            return _pretrain(model, encoder, seeded, resumed, texts, val_data.texts)

        pool = None
        if options.ensemble > 1 or options.refit:  # they split --data their own ways
            given_val = val if options.val is not None else None
            pool = Pool(
                examples(data.labelled), data.labelled.labels, options.val_fraction, given_val
            )
        out = Path(options.out)
        train_options = options.train_options()
        trained = None
        refit = None
        oob_truth: list[int] = []  # an ensemble's out-of-bag labels and predictions
        oob_predicted: list[int] = []
        if pool is not None and options.ensemble > 1:

            def build(seed: int) -> nn.Module:
                seed_everything(seed)  # as the lifecycle seeds a run of its own
                member = build_model(options, class_names, encoder, pretrained)
                pretrain(member, seed)
                return member

            members, member_results = classify_members.train_members(
                build, options.ensemble, pool, make_objective, train_options, out
            )
            model: nn.Module = ClassifierEnsemble.of(members)
            pretraining = None
            trained = ensemble_results(member_results)
            if options.val is None and trained["stop_reason"] != "interrupted":
                rows, probabilities = classify_members.out_of_bag(
                    members, pool, options.seed, predict_probabilities
                )
                if rows:
                    oob_truth = pool.examples.labels[rows].tolist()
                    oob_predicted = probabilities.argmax(dim=1).tolist()
        else:
            model = build_model(options, class_names, encoder, pretrained)
            pretraining = pretrain(model, options.seed)
        if pool is not None and options.refit:
            epochs, selection = classify_members.select_epochs(
                model, pool, make_objective, train_options, out
            )
            train_options = dataclasses.replace(train_options, epochs=epochs)
            train, val = pool.examples, None
            refit = {"epochs": epochs, "selection": selection}
        # the validation examples no member learnt from, if any
        unseen = val if options.val is not None or (trained is None and not options.refit) else None
        data_section = {
            "kind": options.data_kind,
            "labels": class_names,
            "train_file": str(options.data),
            "val_file": str(options.val) if options.val is not None else None,
            "train_examples": len(train.inputs),
            "val_examples": len(val.inputs) if val is not None else 0,
            "class_weights": None if weights is None else weights.tolist(),
            "max_length": options.max_length,
            "features": _feature_names(train_data, encoder),
            "init_from": str(options.init_from) if options.init_from is not None else None,
            "char_ngrams": encoder.ngrams.to_dict() if encoder.ngrams is not None else None,
            "word_ngrams": encoder.word_ngrams.to_dict() if encoder.word_ngrams else None,
            "pretraining": pretraining,
            "refit": refit,
        }

        def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
            """Draw the confusion matrix of the kept weights on the validation examples that
            no member learnt from, or of an ensemble without ``--val`` out of bag (each held-out
            example by the members that held it out); none after a refit."""
            path = Path(options.out) / CONFUSION_FILE
            if unseen is not None:
                predicted = predict_probabilities(model, unseen.inputs).argmax(dim=1).tolist()
                matrix = confusion_matrix(unseen.labels.tolist(), predicted, len(class_names))
                _plot_confusion(matrix, class_names, path, "validation")
            elif oob_predicted:
                matrix = confusion_matrix(oob_truth, oob_predicted, len(class_names))
                _plot_confusion(matrix, class_names, path, "out-of-bag validation")
            return {}

        return Prepared(
            model=model,
            objective=make_objective(train, val),
            sections={"data": data_section},
            artifacts=encoder.artifacts(),
            finish=finish,
            train_options=train_options,
            trained=trained,
        )

    def describe_model(self, model_config: dict[str, Any]) -> dict[str, Any]:
        """The model entries of ``rnnkit info``; the CNN's only for an ``--images cnn`` run."""
        described = super().describe_model(model_config)
        if "image_channels" not in model_config:
            for key in IMAGE_MODEL_KEYS:
                described.pop(key)
        return described

    def model_from_config(
        self, model_config: dict[str, Any]
    ) -> SequenceClassifier | ImageClassifier | ClassifierEnsemble:
        if "image_channels" in model_config:  # an --images cnn run
            return ImageClassifier.from_config(model_config)
        if "members" in model_config:
            return ClassifierEnsemble.from_config(model_config)
        return SequenceClassifier.from_config(model_config)

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Accuracy, macro-F1, per-class figures and the confusion matrix of a labelled file."""
        return _evaluate(self.load(run), Path(data), encoding, confusion_plot=None)

    def load(self, run: Run) -> ClassifierRun:
        """The trained model (eval mode, CPU), encoder and class names of a classify run."""
        names = run.section("data").get("labels")
        if not isinstance(names, list) or len(names) < 2:
            raise UserError(
                f"{run.config_path} has no list of labels in its 'data' section; train the run "
                "again."
            )
        model = self.load_model(run)
        run.require_fit(CONFIG_FILE, "labels", len(names), model.num_classes)
        encoder = load_encoder(run.path, run.config)
        if encoder.featurizer is not None:
            in_model = model.config().get("input_size")
            run.require_fit(FEATURES_FILE, "features per frame", encoder.num_features, in_model)
        if encoder.image_settings is not None:
            sizes, settings = model.config(), encoder.image_settings
            run.require_fit(IMAGES_FILE, "channels", settings.channels, sizes.get("image_channels"))
            run.require_fit(IMAGES_FILE, "image size", settings.size, sizes.get("image_size"))
        return ClassifierRun(model, encoder, names, run.config, run.path)

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": data.get("kind"),
            "labels": ", ".join(data.get("labels", [])),
            "train_file": data.get("train_file"),
            "train_examples": data.get("train_examples"),
            "val_examples": data.get("val_examples"),
            "init_from": data.get("init_from"),
        } | ({"features": data.get("features")} if data.get("kind") == "audio" else {})


TASK_SPEC = ClassifyTask()


def _feature_names(data: LabelledData, encoder: Encoder) -> list[str] | str | None:
    """What the run's ``data`` section says of the features: a numeric table's feature names, or
    an audio run's frames ("40 logmel at 8000 Hz, global normalisation")."""
    if data.numeric is not None:
        return data.numeric.feature_names
    if encoder.featurizer is None:
        return None
    settings = encoder.featurizer.settings
    return (
        f"{settings.num_features} {settings.kind} at {settings.sample_rate} Hz, "
        f"{encoder.featurizer.normalize} normalisation"
    )


def train(options: ClassifyOptions) -> Path:
    """Train a classifier as ``options`` say; return the run directory.

    Every check of the user's input runs before anything is written, so a refused run (a bad
    column, a single class, a changed ``--hidden`` on ``--resume``) leaves the run directory as
    it was.
    """
    return lifecycle.train(TASK_SPEC, options)


def _pretrain(
    model: nn.Module,
    encoder: Encoder,
    options: ClassifyOptions,
    resumed: Run | None,
    texts: list[str],
    val_texts: list[str] | None,
) -> dict[str, Any] | None:
    """Pretrain ``model``'s encoder as a language model on ``texts`` (training and unlabelled);
    the report for ``data.pretraining``. A resumed run that has a checkpoint keeps its report
    and skips this (the checkpoint holds the fine-tuned weights); one killed before its first
    checkpoint pretrains again, to the same weights."""
    if resumed is not None and checkpoint_path(resumed.path).exists():
        return resumed.section("data").get("pretraining")
    settings = text_pretraining.PretrainSettings(
        epochs=options.pretrain_epochs,
        seed=options.seed,
        device=options.device,
        progress=options.progress,
    )
    assert encoder.tokenizer is not None
    report = text_pretraining.pretrain_classifier(
        model, encoder.tokenizer, encoder.ngrams, texts, val_texts or [], settings
    )
    return {**report, "unlabelled_file": options.unlabelled and str(options.unlabelled)}


def _check_same_data(resumed: Run, options: ClassifyOptions, class_names: list[str]) -> None:
    """A resumed run must read the same kind of data with the same classes as it started with."""
    stored = resumed.section("data")
    if stored.get("kind") != options.data_kind:
        raise UserError(
            f"{options.data} holds {options.data_kind} data but the run in {resumed.path} was "
            f"trained on {stored.get('kind')} data; resume it with its own kind of data."
        )
    if stored.get("labels") != class_names:
        raise UserError(
            f"{options.data} has the labels {class_names} but the run in {resumed.path} was "
            f"trained on {stored.get('labels')}; resume it with data of the same classes."
        )


def ensemble_results(member_results: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of an ensemble whose members trained one by one: their mean validation
    metrics (each on its own hold-out), their steps and seconds summed, each member's results;
    ``stop_reason`` is ``interrupted`` when Ctrl-C stopped a member (``--resume`` continues)."""
    stopped = any(r.get("stop_reason") == "interrupted" for r in member_results)
    return {
        "metrics": classify_members.mean_member_metrics(member_results),
        "monitor": ClassificationObjective.monitor,
        "mode": ClassificationObjective.mode,
        "step": sum(r["step"] for r in member_results),
        "epoch": max(r["epoch"] for r in member_results),
        "stop_reason": "interrupted" if stopped else "members",
        "train_seconds": sum(r["train_seconds"] for r in member_results),
        "members": member_results,
    }


def build_model(
    options: ClassifyOptions,
    class_names: list[str],
    encoder: Encoder,
    pretrained: tuple[nn.Module, Tokenizer, dict[str, Any]] | None = None,
) -> SequenceClassifier | ImageClassifier:
    """The one classifier ``options`` describe (an ``--ensemble``'s members are each built
    so); with ``pretrained`` (an lm run), its shape and weights; for images read whole, an
    ``ImageClassifier``."""
    if encoder.image_settings is not None:
        return ImageClassifier(
            len(class_names),
            image_channels=encoder.image_settings.channels,
            image_size=encoder.image_settings.size,
            encoder_widths=parse_encoder_widths(options.encoder_widths),
            hidden_size=options.hidden,
            num_layers=options.layers,
            cell=options.cell,
            bidirectional=options.bidirectional,
            pooling=options.pooling,
            dropout=options.dropout,
        )
    return _build_classifier(options, class_names, encoder, pretrained)


def _build_classifier(
    options: ClassifyOptions,
    class_names: list[str],
    encoder: Encoder,
    pretrained: tuple[nn.Module, Tokenizer, dict[str, Any]] | None,
) -> SequenceClassifier:
    """One classifier as ``options`` describe it."""
    common = dict(pooling=options.pooling, dropout=options.dropout)
    if encoder.tokenizer is not None:
        common["word_dropout"] = options.word_dropout
        if encoder.word_ngrams is not None:
            common["word_ngram_buckets"] = encoder.word_ngrams.buckets
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
    if encoder.num_features is not None:
        inputs: dict[str, int] = {"input_size": encoder.num_features}
    else:
        inputs = {
            "vocab_size": encoder.tokenizer.vocab_size,
            "embedding_size": options.embedding_size,
            "ngram_buckets": encoder.ngrams.buckets if encoder.ngrams is not None else 0,
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
    run = Run.open(run_dir)
    if run.task != "lm":
        raise UserError(
            f"--init-from {run_dir} is a run of task '{run.task}', not 'lm'; give the --out "
            "directory of `rnnkit train lm`."
        )
    from rnnkit.tasks import lm

    model, tokenizer = lm.TASK_SPEC.load(run)
    return model, tokenizer, run.config


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

    model: SequenceClassifier | ImageClassifier | ClassifierEnsemble
    encoder: Encoder
    class_names: list[str]
    config: dict[str, Any]
    run_dir: Path

    @property
    def numeric(self) -> bool:
        return self.encoder.scaler is not None

    @property
    def audio(self) -> bool:
        return self.encoder.featurizer is not None

    @property
    def images(self) -> bool:
        return self.encoder.image_settings is not None

    def data_options(self) -> ClassifyOptions:
        """The run's options, for reading new files the way training read them."""
        return Run(self.run_dir, self.config).options(ClassifyOptions)


def load_run(run_dir: str | Path) -> ClassifierRun:
    """The model (eval mode, CPU), encoder, class names and config of a classify run; checked."""
    return TASK_SPEC.load(TASK_SPEC.open(run_dir))


# ---------------------------------------------------------------------------------- evaluation


def evaluate(
    run_dir: str | Path,
    data: str | Path,
    *,
    encoding: str = "utf-8",
    confusion_plot: str | Path | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, and the confusion matrix
    (``confusion``: rows true, columns predicted, in ``labels`` order) of a labelled file;
    with ``confusion_plot``, the matrix is also drawn there."""
    return _evaluate(load_run(run_dir), Path(data), encoding, confusion_plot)


def _evaluate(
    run: ClassifierRun, data: Path, encoding: str, confusion_plot: str | Path | None
) -> dict[str, Any]:
    options = dataclasses.replace(run.data_options(), encoding=encoding)
    labelled = options.read(data)
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


def explain_input(
    model: SequenceClassifier | ClassifierEnsemble, x: Tensor
) -> tuple[Tensor, Tensor, str]:
    """(probabilities ``(K,)``, per-step weights ``(T,)`` summing to 1, method) for one input.

    Attention pooling gives its own weights; otherwise the gradient saliency: the norm of the
    gradient of the predicted class's logit with respect to each step's input vector. An
    ensemble's are the means of its members'.
    """
    if isinstance(model, ClassifierEnsemble):
        explained = [explain_input(member, x) for member in model.members]
        probabilities = torch.stack([p for p, _, _ in explained]).mean(dim=0)
        weights = torch.stack([w for _, w, _ in explained]).mean(dim=0)
        return probabilities, weights, explained[0][2]
    batch = x.unsqueeze(0)
    lengths = torch.tensor([x.shape[0]])
    if model.attention is not None:
        with torch.no_grad():
            logits, weights = model.forward_with_weights(batch, lengths)
        return torch.softmax(logits[0], dim=0), weights[0], "attention"
    embedded = model.embed(batch).detach().requires_grad_(True)
    with torch.enable_grad():
        outputs, lengths = model.encode_embedded(embedded, lengths)
        logits, _ = model.classify(outputs, lengths)
        if model.word_ngrams is not None:  # a hybrid's linear part, which has no gradient here
            logits = logits + model.word_ngram_logits(batch)
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
    if run.numeric or run.audio or run.images:
        kind, data = (
            ("audio files", "a path table or a folder of audio")
            if run.audio
            else ("images", "FILE")
            if run.images
            else ("numeric sequences", "FILE")
        )
        raise UserError(
            f"{run.run_dir} classifies {kind}, not text; give --data {data} instead of --text."
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


def predict_data(
    run_dir: str | Path | ClassifierRun, data: str | Path, *, encoding: str = "utf-8"
) -> tuple[str, list[tuple[str, Prediction]]]:
    """``(id column, [(row or sequence id, prediction), ...])`` for every input of ``data``, a
    file (or folder) of the kind the run was trained on, read the way training read it."""
    run = run_dir if isinstance(run_dir, ClassifierRun) else load_run(run_dir)
    options = dataclasses.replace(run.data_options(), encoding=encoding)
    labelled = options.read(Path(data), need_labels=False)
    probabilities = predict_probabilities(run.model, run.encoder.encode(labelled))
    id_column = options.path_column if options.audio else options.sequence_column or "row"
    rows = [
        (str(name), _prediction(row, run.class_names))
        for name, row in zip(labelled.names, probabilities, strict=True)
    ]
    return id_column, rows


def predict_file(
    run_dir: str | Path, data: str | Path, output: str | Path | None, *, encoding: str = "utf-8"
) -> int:
    """Write ``output`` (CSV; stdout when None): one row per input of ``data`` with its row (or
    sequence) id, the predicted label and ``p_<label>`` for every class; return the row count."""
    run = load_run(run_dir)
    id_column, rows = predict_data(run, data, encoding=encoding)
    with _open_output(output) as file:
        writer = csv.writer(file)
        writer.writerow([id_column, "predicted", *(f"p_{name}" for name in run.class_names)])
        for name, prediction in rows:
            probabilities = (prediction.probabilities[label] for label in run.class_names)
            writer.writerow([name, prediction.label, *(f"{p:.6f}" for p in probabilities)])
    return len(rows)


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
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
