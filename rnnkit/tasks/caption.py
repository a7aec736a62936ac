"""Image captioning and keyword -> sentence: a table of captions -> a run that describes inputs.

The Python API behind ``rnnkit train caption``, ``rnnkit caption`` and ``rnnkit evaluate`` /
``info`` on a caption run::

    from rnnkit.tasks import caption as cap

    run_dir = cap.train(cap.CaptionOptions(data="train.csv", images="imgs", out="runs/cap",
                                           time_limit="20m"))
    cap.caption(run_dir, ["imgs/a.png"], beam=5)                 # ["a small bag on the left"]
    cap.evaluate(run_dir, "test.csv", images="imgs")             # bleu1..bleu4, cider, ...
    cap.attention_of(run_dir, "imgs/a.png").weights              # (words, rows, columns)
    cap.plot_attention_of(run_dir, "imgs/a.png", "a_att.png")    # a map per generated word

Data (``rnnkit.data.captions``): ``image,caption`` rows, several per image (its references). The
images are read with Pillow (``rnnkit.data.image_files``): converted to grey or RGB (``channels``;
by default grey when every training image is), scaled and centre-cropped to ``image_size``, and
normalised with each channel's mean and deviation over the training images, which the run keeps
in ``images.json``. With ``keywords`` the ``image`` cell is a keyword or a few attributes instead
(``"left small bag right large coat"``), split on spaces and read through their own vocabulary.

The model (``rnnkit.models.captioner.Captioner``) is translation's attention decoder over a small
CNN's feature map (or the keywords' embeddings), its first state bridged from the pooled
features; the CNN trains with the decoder, or comes frozen from another run (``encoder_from``:
"trained separately"), a caption run on images or a classify run trained with ``--images cnn``
(the same ``ImageEncoder``): its weights, its stage widths, and its ``images.json`` (size and
channels must be this run's; its normalisation becomes this run's). Frozen means the weights get
no gradient and the CNN stays in eval mode, so its batch-norm statistics do not change either.
Training minimises cross-entropy under teacher forcing (``teacher_forcing`` below 1 or
decaying: scheduled sampling), plus, with ``attention_penalty``, Xu et al.'s doubly stochastic
attention regularisation. Validation decodes the ``--val`` inputs greedily; ``bleu4`` picks the
weights kept (``rnnkit.metrics.captioning``: ``bleu1``..``bleu4``, ``cider``, ``exact_match``).
Decoding follows the run's ``DecodingSettings`` (beam, GNMT length penalty, no-repeat n-grams),
at most ``max_caption_length`` tokens.

A run directory holds ``config.json``, ``tokenizer.json`` (the captions' words),
``images.json`` (image runs) or ``keywords.json`` (keyword runs), ``model.safetensors``,
``metrics.csv``, ``loss.png`` and ``checkpoint/``.
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

from rnnkit.data.buckets import pad_sequences
from rnnkit.data.captions import CaptionSet, image_paths, read_captions
from rnnkit.data.image_files import ImageSettings, is_grey, read_images
from rnnkit.data.tokenizers import Tokenizer, load_tokenizer
from rnnkit.decoding import DecodingSettings
from rnnkit.errors import UserError
from rnnkit.metrics.captioning import score_captions
from rnnkit.models.attention_decoder import ATTENTION_CHOICES, BRIDGES
from rnnkit.models.captioner import Captioner
from rnnkit.tasks import lifecycle
from rnnkit.tasks.image_options import (
    DEFAULT_ENCODER_WIDTHS,
    ENCODER_WIDTHS_HELP,
    parse_encoder_widths,
)
from rnnkit.tasks.lifecycle import Prepared, Run, Task
from rnnkit.tasks.options import DATA, model_option, option
from rnnkit.tasks.search_space import (
    CELLS,
    TRAINING_SPACE,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
)
from rnnkit.tasks.teaching import TEACHING, TeacherForcingOptions
from rnnkit.tasks.tokenizing import fit_tokenizer, tokenizer_settings
from rnnkit.training import StepResult
from rnnkit.training.rundir import read_safetensors

TASK = "caption"
TOKENIZER, KEYWORDS = "tokenizer", "keywords"
TOKENIZER_FILE, KEYWORDS_FILE, IMAGES_FILE = "tokenizer.json", "keywords.json", "images.json"
#: inputs decoded together by ``caption``, ``evaluate`` and validation
DECODE_BATCH = 64
DECODING = "Decoding"


@dataclass
class CaptionOptions(TeacherForcingOptions):
    """Everything ``rnnkit train caption`` takes: data, images, model, decoding, training."""

    missing_data_message: ClassVar[str] = "no captions were given; pass --data CAPTIONS.csv."
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out", "images", "encoder_from")

    data: Path | None = option(None, help="Training captions: image,caption rows.")
    val: Path | None = option(None, help="Validation captions; BLEU-4 on them picks the weights.")
    images: Path | None = option(None, help="Folder of the images (default: the table's).")
    keywords: bool = option(
        False, help="The image column holds keywords, not image files.", fixed=True
    )
    image_size: int = option(64, help="Side images are scaled and cropped to.", fixed=True)
    channels: int | None = option(
        None, help="1 grey or 3 RGB (default: grey if every image is).", fixed=True
    )
    min_count: int = option(1, help="Rarer caption words are unknown.", fixed=True)
    max_caption_length: int = option(
        30, help="Most caption tokens; longer ones are cut.", fixed=True
    )
    encoder_from: Path | None = option(
        None,
        help="Caption run on images, or classify run with --images cnn, whose CNN to reuse, "
        "frozen.",
        panel=DATA,
        fixed=True,
    )
    cell: str = "gru"
    encoder_widths: str = model_option(DEFAULT_ENCODER_WIDTHS, help=ENCODER_WIDTHS_HELP)
    embedding_size: int = model_option(128, help="Word and keyword embedding width.")
    decoder_hidden: int = model_option(256, help="Decoder units.")
    decoder_layers: int = model_option(1, help="Decoder layers.")
    attention: Literal["bahdanau", "luong-dot", "luong-general", "none"] = model_option(
        "bahdanau", help="Attention score; none: Show and Tell."
    )
    # 64 rather than decoder-hidden: the score runs at each of 64 positions at every step, and
    # the narrower one made a training step 1.7x faster on one CPU thread
    attention_size: int | None = model_option(64, help="bahdanau: width inside the score.")
    input_feeding: bool = model_option(True, help="Feed the last attentional vector back in.")
    bridge: Literal["linear", "zero"] = model_option(
        "linear", help="Decoder's first state from the pooled input."
    )
    dropout: float = model_option(0.1, help="Dropout on embeddings, layers, outputs.")
    tie_embeddings: bool = model_option(False, help="Output layer reuses the word embeddings.")
    batch_size: int = option(64, help="Captions per batch.", panel=TEACHING, fixed=True)
    label_smoothing: float = option(0.0, help="Label smoothing of the loss.", panel=TEACHING)
    attention_penalty: float = option(
        0.0, help="Doubly stochastic attention weight (Xu et al.).", panel=TEACHING
    )
    beam: int = option(5, help="Default beam of caption/evaluate.", panel=DECODING)
    length_penalty: float = option(1.0, help="GNMT length penalty alpha; 0: none.", panel=DECODING)
    no_repeat_ngram: int = option(0, help="No n-gram this long twice; 0: off.", panel=DECODING)
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 2e-3
    schedule: Literal["constant", "step", "cosine", "plateau"] = "cosine"
    min_lr: float = 1e-5
    patience: int | None = 5

    #: what ``rnnkit tune caption`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "embedding_size": IntRange(64, 256, log=True),
        "decoder_hidden": IntRange(128, 512, log=True),
        "attention": Choice(("bahdanau", "luong-general")),
        "dropout": FloatRange(0.0, 0.5),
    }

    def validate(self) -> CaptionOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("attention", ATTENTION_CHOICES)
        self.require_known("bridge", BRIDGES)
        self.require_whole_numbers(
            "embedding_size", "decoder_hidden", "decoder_layers", "batch_size", "min_count"
        )
        self.require_whole_numbers("attention_size", optional=True)
        self.require_whole_numbers("max_caption_length", at_least=2)
        self.require_rates("dropout", "label_smoothing")
        self.require_non_negative("attention_penalty")
        if self.channels is not None and self.channels not in (1, 3):
            raise UserError(f"--channels must be 1 (grey) or 3 (RGB), got {self.channels}.")
        if self.keywords and (self.encoder_from is not None or self.images is not None):
            raise UserError("--keywords reads no images; drop --images and --encoder-from.")
        widths = self.widths()
        # a reused CNN brings its own stages and the size its run read (read_encoder checks it)
        stages_fit = self.image_size % 2 ** len(widths) == 0 and self.image_size >= 2 ** len(widths)
        if self.encoder_from is None and not stages_fit:
            raise UserError(
                f"--image-size must be a multiple of {2 ** len(widths)} for "
                f"{len(widths)} CNN stages, got {self.image_size}."
            )
        if self.attention == "luong-dot" and self.decoder_hidden != self._memory_size():
            raise UserError(
                f"--attention luong-dot needs --decoder-hidden equal to the memory's width "
                f"({self._memory_size()}), got {self.decoder_hidden}; change one of them or use "
                "--attention luong-general."
            )
        self.decoding_settings().check()
        return self

    def widths(self) -> list[int]:
        """``encoder_widths`` as numbers; ``UserError`` unless a comma-separated list of them."""
        return parse_encoder_widths(self.encoder_widths)

    def _memory_size(self) -> int:
        return self.embedding_size if self.keywords else self.widths()[-1]

    def decoding_settings(self) -> DecodingSettings:
        """How ``caption`` and ``evaluate`` decode by default (not checked)."""
        return DecodingSettings(
            beam=self.beam, length_penalty=self.length_penalty, no_repeat_ngram=self.no_repeat_ngram
        )


# ------------------------------------------------------------------------------------ inputs


class Inputs:
    """The model's inputs for a list of image names or keyword strings, read once: images as
    ``uint8 (N, C, S, S)`` (normalised per batch), keywords as id lists."""

    def __init__(
        self,
        images: Tensor | None,
        keyword_ids: list[list[int]] | None,
        settings: ImageSettings | None,
    ) -> None:
        self.images, self.keyword_ids, self.settings = images, keyword_ids, settings

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.keyword_ids or [])

    def batch(self, rows: Sequence[int]) -> tuple[Tensor, Tensor]:
        """``(inputs, lengths (B,))`` of ``rows``: normalised images ``(B, C, S, S)`` (lengths
        all 1), or padded keyword ids ``(B, K)`` with their lengths."""
        if self.images is not None:
            assert self.settings is not None
            index = torch.as_tensor(list(rows), dtype=torch.long)
            return self.settings.normalise(self.images[index]), torch.ones(
                len(rows), dtype=torch.long
            )
        assert self.keyword_ids is not None
        return pad_sequences([torch.tensor(self.keyword_ids[i], dtype=torch.long) for i in rows])


def keyword_ids(texts: Sequence[str], tokenizer: Tokenizer) -> list[list[int]]:
    """Each keyword string's ids (an unknown keyword is the unknown id; never empty)."""
    return [tokenizer.encode(text) or [tokenizer.unk_id] for text in texts]


def images_folder(options_images: Path | None, table: Path) -> Path:
    """The folder image names are relative to: ``--images``, or the table's own folder."""
    return options_images if options_images is not None else table.parent


# ------------------------------------------------------------------------------------ training


class CaptionObjective:
    """Cross-entropy under teacher forcing (plus the attention penalty); validation BLEU-4."""

    monitor = "bleu4"
    mode: Literal["min", "max"] = "max"

    def __init__(
        self,
        inputs: Inputs,
        captions: CaptionSet,
        val: tuple[Inputs, CaptionSet] | None,
        options: CaptionOptions,
        tokenizer: Tokenizer,
    ) -> None:
        self.inputs, self.val, self.options, self.tokenizer = inputs, val, options, tokenizer
        pairs = captions.pairs()
        self.rows = [row for row, _ in pairs]
        cut = options.max_caption_length - 1  # one position is kept for eos
        self.targets = [tokenizer.encode(text)[:cut] for _, text in pairs]

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.rows) / self.options.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.rows), generator=generator).tolist()
        size, count = self.options.batch_size, self.batches_per_epoch()
        for position in range(count):
            chosen = order[position * size : (position + 1) * size]
            inputs, lengths = self.inputs.batch([self.rows[i] for i in chosen])
            batch = collate_targets([self.targets[i] for i in chosen], self.tokenizer)
            ratio = self.options.teacher_forcing_at(epoch + position / count)
            batch.update(
                inputs=inputs, lengths=lengths, teacher_forcing=torch.full((len(chosen),), ratio)
            )
            yield batch

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        targets = batch["target_out"]
        loss = model(
            batch["inputs"],
            batch["lengths"],
            batch["target_in"],
            teacher_forcing=batch["teacher_forcing"],
            target_out=targets,
            label_smoothing=self.options.label_smoothing,
            attention_penalty=self.options.attention_penalty,
        )
        return StepResult(loss=loss, items=int((targets != self.tokenizer.pad_id).sum()))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.val is None:
            return {}
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        inputs, captions = self.val
        outputs = generate_captions(
            model, inputs, self.tokenizer, DecodingSettings(), self.options.max_caption_length
        )
        return score_captions(outputs, captions.references)


def collate_targets(targets: Sequence[list[int]], tokenizer: Tokenizer) -> dict[str, Tensor]:
    """``target_in (B, T)`` (bos + caption) and ``target_out (B, T)`` (caption + eos), padded."""
    bos, eos = tokenizer.bos_id, tokenizer.eos_id
    target_in, _ = pad_sequences([torch.tensor([bos, *t], dtype=torch.long) for t in targets])
    target_out, _ = pad_sequences([torch.tensor([*t, eos], dtype=torch.long) for t in targets])
    return {"target_in": target_in, "target_out": target_out}


def generate_captions(
    model: Captioner,
    inputs: Inputs,
    tokenizer: Tokenizer,
    settings: DecodingSettings,
    max_length: int,
    batch_size: int = DECODE_BATCH,
) -> list[str]:
    """The caption of every input, decoded as ``settings`` say, in batches."""
    return [tokenizer.decode(ids) for ids in search_ids(model, inputs, tokenizer, settings,
                                                         max_length, batch_size)]  # fmt: skip


def search_ids(
    model: Captioner,
    inputs: Inputs,
    tokenizer: Tokenizer,
    settings: DecodingSettings,
    max_length: int,
    batch_size: int = DECODE_BATCH,
) -> list[list[int]]:
    """The generated ids of every input (without bos/eos)."""
    device = next(model.parameters()).device
    outputs: list[list[int]] = []
    for start in range(0, len(inputs), batch_size):
        batch, lengths = inputs.batch(range(start, min(start + batch_size, len(inputs))))
        result = model.generate(
            batch.to(device),
            lengths.to(device),
            max_length,
            beam_size=settings.beam,
            length_penalty=settings.length_penalty,
            no_repeat_ngram=settings.no_repeat_ngram,
            forbidden_ids=settings.forbidden_ids(tokenizer.unk_id),
        )
        outputs.extend(result.sequences())
    return outputs


# ------------------------------------------------------------------------------------ the task


class CaptionTask(Task[CaptionOptions]):
    """The caption task: caption tables, a word tokenizer, image settings, a ``Captioner``."""

    name = TASK
    options_class = CaptionOptions
    summary = "Train an image (or keyword) to sentence model: a CNN and an attention decoder."
    artifact_files = (TOKENIZER_FILE, KEYWORDS_FILE, IMAGES_FILE)
    evaluate_accepts = ("images",)
    described_training_options = ("batch_size", "lr", "teacher_forcing", "attention_penalty")

    def prepare(self, options: CaptionOptions, resumed: Run | None) -> Prepared:
        captions = read_captions(options.data, options.encoding)
        val = read_captions(options.val, options.encoding) if options.val is not None else None
        if resumed is not None:
            tokenizer = load_tokenizer(resumed.path, TOKENIZER)
        else:
            settings = tokenizer_settings("word", vocab_size=None, min_count=options.min_count,
                                          lowercase=True)  # fmt: skip
            texts = [c for refs in captions.references for c in refs]
            tokenizer = fit_tokenizer("word", texts, settings)
        if options.keywords:
            side = prepare_keywords(options, captions, val, tokenizer, resumed)
        else:
            side = prepare_images(options, captions, val, tokenizer, resumed)
        inputs, val_inputs, model = side.inputs, side.val_inputs, side.model
        validation = (val_inputs, val) if val is not None and val_inputs is not None else None
        return Prepared(
            model=model,
            objective=CaptionObjective(inputs, captions, validation, options, tokenizer),
            sections={
                "data": {
                    "train_file": str(options.data),
                    "val_file": str(options.val) if options.val is not None else None,
                    "train_inputs": len(captions),
                    "train_captions": len(captions.pairs()),
                    "val_inputs": len(val) if val is not None else 0,
                    "input": "keywords" if options.keywords else "image",
                    "vocab_size": tokenizer.vocab_size,
                }
            },
            artifacts={TOKENIZER_FILE: tokenizer.to_dict(), **side.artifacts},
        )

    def model_from_config(self, model_config: dict[str, Any]) -> Captioner:
        return Captioner.from_config(model_config)

    def evaluate(
        self,
        run: Run,
        data: Path,
        *,
        encoding: str = "utf-8",
        images: Path | None = None,
        **decoding: Any,
    ) -> dict[str, Any]:
        """``bleu1``..``bleu4``, ``cider``, ``exact_match``, ``inputs`` and ``captions`` of the
        run on a caption table (images in ``images``, default the table's folder), decoding as
        the run's options say except for the ``DecodingSettings`` given (not None)."""
        loaded = self.load(run)
        captions = read_captions(data, encoding)
        settings = loaded.decoding.overridden(**decoding)
        inputs = loaded.inputs_of_table(captions, images_folder(images, Path(data)), data)
        outputs = loaded.caption_inputs(inputs, settings)
        scores = score_captions(outputs, captions.references)
        return {**scores, "inputs": len(captions), "captions": len(captions.pairs())}

    def load(self, run: Run) -> CaptionRun:
        """The trained model (eval mode, CPU), tokenizers, image settings and options; checked."""
        options = run.options(CaptionOptions)
        tokenizer = load_tokenizer(run.path, TOKENIZER)
        model = self.load_model(run)
        sizes = model.config()
        run.require_fit(TOKENIZER_FILE, "words", tokenizer.vocab_size, sizes["vocab_size"])
        keywords = settings = None
        if sizes["input_kind"] == "keywords":
            keywords = load_tokenizer(run.path, KEYWORDS)
            run.require_fit(
                KEYWORDS_FILE, "keywords", keywords.vocab_size, sizes["keyword_vocab_size"]
            )
        else:
            settings = ImageSettings.load(run.file(IMAGES_FILE))
            run.require_fit(IMAGES_FILE, "channels", settings.channels, sizes["image_channels"])
        return CaptionRun(model, tokenizer, keywords, settings, options)

    described_model = {
        key: key
        for key in ("input_kind", "cell", "encoder_widths", "embedding_size", "decoder_hidden",
                    "decoder_layers", "attention", "freeze_encoder")
    }  # fmt: skip

    def describe_more(self, run: Run) -> dict[str, Any]:
        options = run.config.get("options", {})
        return {
            "decoding": {k: options.get(k) for k in ("beam", "length_penalty", "no_repeat_ngram")}
        }


TASK_SPEC = CaptionTask()


def train(options: CaptionOptions) -> Path:
    """Train a caption model as ``options`` say; return the run directory. Every check of the
    user's input runs before anything is written."""
    return lifecycle.train(TASK_SPEC, options)


def build_model(
    options: CaptionOptions,
    tokenizer: Tokenizer,
    *,
    keywords: Tokenizer | None = None,
    image_settings: ImageSettings | None = None,
    encoder_widths: list[int] | None = None,
) -> Captioner:
    """The ``Captioner`` that ``options`` describe; ``encoder_widths``: those of a reused CNN,
    which is then frozen."""
    image: dict[str, Any] = {}
    if image_settings is not None:
        image = {"image_channels": image_settings.channels, "image_size": image_settings.size,
                 "encoder_widths": options.widths()}  # fmt: skip
    if encoder_widths is not None:
        image.update(encoder_widths=encoder_widths, freeze_encoder=True)
    return Captioner(
        tokenizer.vocab_size,
        input_kind="keywords" if keywords is not None else "image",
        keyword_vocab_size=keywords.vocab_size if keywords is not None else 0,
        embedding_size=options.embedding_size,
        decoder_hidden=options.decoder_hidden,
        decoder_layers=options.decoder_layers,
        cell=options.cell,
        attention=options.attention,
        attention_size=options.attention_size,
        input_feeding=options.input_feeding,
        bridge=options.bridge,
        dropout=options.dropout,
        tie_embeddings=options.tie_embeddings,
        pad_id=tokenizer.pad_id,
        bos_id=tokenizer.bos_id,
        eos_id=tokenizer.eos_id,
        **image,
    )


@dataclass
class InputSide:
    """What ``prepare`` builds from the ``image`` column: the inputs read, the model that reads
    them, and the artifacts that say how (``images.json`` or ``keywords.json``)."""

    inputs: Inputs
    val_inputs: Inputs | None
    model: Captioner
    artifacts: dict[str, Any]


def prepare_keywords(
    options: CaptionOptions,
    captions: CaptionSet,
    val: CaptionSet | None,
    tokenizer: Tokenizer,
    resumed: Run | None,
) -> InputSide:
    """Keyword inputs: their vocabulary (fitted, or the resumed run's) and ids."""
    keywords = (
        load_tokenizer(resumed.path, KEYWORDS)
        if resumed is not None
        else fit_tokenizer("word", captions.inputs, {"min_count": 1})
    )
    return InputSide(
        inputs=Inputs(None, keyword_ids(captions.inputs, keywords), None),
        val_inputs=Inputs(None, keyword_ids(val.inputs, keywords), None) if val else None,
        model=build_model(options, tokenizer, keywords=keywords),
        artifacts={KEYWORDS_FILE: keywords.to_dict()},
    )


def prepare_images(
    options: CaptionOptions,
    captions: CaptionSet,
    val: CaptionSet | None,
    tokenizer: Tokenizer,
    resumed: Run | None,
) -> InputSide:
    """Image inputs, read as the run's image settings say: those of ``--encoder-from``'s run,
    of the resumed run, or fitted on the training images (grey unless one has colour)."""
    paths = image_paths(captions, images_folder(options.images, options.data), options.data)
    val_paths = (
        image_paths(val, images_folder(options.images, options.val), options.val)
        if val is not None and options.val is not None
        else None
    )
    encoder: PretrainedEncoder | None = None
    if options.encoder_from is not None:
        encoder = read_encoder(options.encoder_from)
        encoder.check_compatible(options)
        settings = encoder.settings
        images = settings.read(paths)
    elif resumed is not None:
        settings = ImageSettings.load(resumed.file(IMAGES_FILE))
        images = settings.read(paths)
    else:
        channels = options.channels or (1 if all(is_grey(p) for p in paths) else 3)
        images = read_images(paths, options.image_size, channels)
        settings = ImageSettings.fit(images)
    model = build_model(
        options,
        tokenizer,
        image_settings=settings,
        encoder_widths=encoder.widths if encoder is not None else None,
    )
    if encoder is not None:
        model.encoder.load_state_dict(encoder.weights)
    return InputSide(
        inputs=Inputs(images, None, settings),
        val_inputs=Inputs(settings.read(val_paths), None, settings) if val_paths else None,
        model=model,
        artifacts={IMAGES_FILE: settings.to_dict()},
    )


@dataclass
class PretrainedEncoder:
    """The CNN of the run ``--encoder-from`` names: how that run read images (``settings``:
    size, channels, normalisation), its stage widths and its weights (``ImageEncoder``'s
    ``stages.*``)."""

    run_dir: Path
    settings: ImageSettings
    widths: list[int]
    weights: dict[str, Tensor]

    def check_compatible(self, options: CaptionOptions) -> None:
        """``UserError`` naming the run and the mismatch unless this caption run reads images as
        the encoder's run did: its size, and its channels when ``--channels`` is given. The
        normalisation is the encoder run's own (mean and deviation per channel), taken as this
        run's, since the CNN learned on images normalised that way."""
        settings, run = self.settings, self.run_dir
        if options.image_size != settings.size:
            raise UserError(
                f"--encoder-from {run} read {settings.size}-pixel images but this run reads "
                f"{options.image_size}-pixel ones; pass --image-size {settings.size}."
            )
        if options.channels is not None and options.channels != settings.channels:
            raise UserError(
                f"--encoder-from {run} read images of {settings.channels} channel(s) but "
                f"--channels is {options.channels}; pass --channels {settings.channels} or drop it."
            )


def read_encoder(run_dir: Path) -> PretrainedEncoder:
    """The CNN of a caption run on images or of a classify run trained with ``--images cnn``,
    for ``--encoder-from``; ``UserError`` naming the run when it has none (a keywords run, a
    classify run on text, numeric sequences, audio or images read as rows or pixels, another
    task's run) or when its image settings do not fit its model. Nothing is written."""
    run = Run.open(run_dir)
    model_config = run.section("model")
    if run.task == TASK:
        if model_config.get("input_kind") != "image":
            raise UserError(
                f"--encoder-from {run_dir} is a keywords run, which has no CNN; give a caption "
                "run on images or a classify run trained with --images cnn."
            )
    elif run.task == "classify":
        kind = run.section("data").get("kind")
        if kind != "image":
            how = run.config.get("options", {}).get("images")
            read = f"images read as {how} by an RNN" if how else f"{kind} data"
            raise UserError(
                f"--encoder-from {run_dir} is a classify run on {read}, which has no CNN; give "
                "a classify run trained with --images cnn or a caption run on images."
            )
    else:
        raise UserError(
            f"--encoder-from {run_dir} is a run of task '{run.task}'; give a caption run on "
            "images or a classify run trained with --images cnn."
        )
    settings = ImageSettings.load(run.file(IMAGES_FILE))
    run.require_fit(IMAGES_FILE, "channels", settings.channels, model_config.get("image_channels"))
    run.require_fit(IMAGES_FILE, "image size", settings.size, model_config.get("image_size"))
    tensors = read_safetensors(run.file("model.safetensors"))
    prefix = "encoder."
    weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    widths = [int(w) for w in model_config.get("encoder_widths", [])]
    return PretrainedEncoder(Path(run_dir), settings, widths, weights)


# ------------------------------------------------------------------------------------ decoding


@dataclass
class CaptionRun:
    """A trained run, loaded: model (eval mode, CPU), tokenizers, image settings, options."""

    model: Captioner
    tokenizer: Tokenizer
    keywords: Tokenizer | None
    image_settings: ImageSettings | None
    options: CaptionOptions

    @property
    def decoding(self) -> DecodingSettings:
        """The decoding settings stored with the run (the defaults of ``caption``)."""
        return self.options.decoding_settings()

    def inputs_of(self, items: Sequence[str | Path]) -> Inputs:
        """Inputs of image paths (an image run) or keyword strings (a keywords run)."""
        if self.keywords is not None:
            return Inputs(None, keyword_ids([str(i) for i in items], self.keywords), None)
        assert self.image_settings is not None
        return Inputs(self.image_settings.read([Path(i) for i in items]), None, self.image_settings)

    def inputs_of_table(self, captions: CaptionSet, folder: Path, table: str | Path) -> Inputs:
        if self.keywords is not None:
            return self.inputs_of(captions.inputs)
        return self.inputs_of(image_paths(captions, folder, table))

    def caption_inputs(self, inputs: Inputs, settings: DecodingSettings) -> list[str]:
        return generate_captions(
            self.model, inputs, self.tokenizer, settings, self.options.max_caption_length
        )


def load_run(run_dir: str | Path) -> CaptionRun:
    """Load and check a caption run directory; ``UserError`` naming what is wrong."""
    return TASK_SPEC.load(TASK_SPEC.open(run_dir))


def caption(
    run_dir: str | Path,
    items: Sequence[str | Path],
    *,
    run: CaptionRun | None = None,
    **decoding: Any,
) -> list[str]:
    """The caption of each image path (or keyword string, for a keywords run). ``decoding``:
    ``DecodingSettings`` fields (``beam``, ``length_penalty``, ``no_repeat_ngram``) that replace
    the run's stored ones when not None."""
    run = run or load_run(run_dir)
    settings = run.decoding.overridden(**decoding)
    return run.caption_inputs(run.inputs_of(items), settings)


def evaluate(
    run_dir: str | Path, data: str | Path, *, images: str | Path | None = None,
    encoding: str = "utf-8", **decoding: Any,
) -> dict[str, Any]:  # fmt: skip
    """Metrics of a run on a caption table (see ``CaptionTask.evaluate``)."""
    return TASK_SPEC.evaluate(
        TASK_SPEC.open(run_dir), Path(data), encoding=encoding,
        images=Path(images) if images is not None else None, **decoding,
    )  # fmt: skip


@dataclass
class CaptionAttention:
    """A caption and where the decoder looked for each of its words.

    ``weights``: one row per generated word (the end of the caption last), each summing to 1:
    ``(words, rows, columns)`` over the image's grid of positions for an image run, ``(words,
    K)`` over the keywords for a keywords run (``keywords`` then names them)."""

    caption: str
    weights: np.ndarray
    words: list[str]
    keywords: list[str] | None = None


def attention_of(
    run_dir: str | Path,
    item: str | Path,
    *,
    run: CaptionRun | None = None,
    **decoding: Any,
) -> CaptionAttention:
    """Caption ``item`` (an image path, or a keyword string for a keywords run) and return the
    attention behind each word (``decoding``: as for ``caption``). ``UserError`` for a run
    trained without attention."""
    run = run or load_run(run_dir)
    if run.model.attention is None:
        raise UserError(
            f"{run_dir} was trained with --attention none, so it has no attention to show."
        )
    settings = run.decoding.overridden(**decoding)
    inputs = run.inputs_of([item])
    output = search_ids(run.model, inputs, run.tokenizer, settings, run.options.max_caption_length)
    batch, lengths = inputs.batch([0])
    weights = run.model.attention_maps(batch, lengths, output)[0].numpy()
    words = [run.tokenizer.id_to_token(i) for i in [*output[0], run.model.eos_id]]
    caption_text = run.tokenizer.decode(output[0])
    if run.keywords is not None:
        keys = [run.keywords.id_to_token(i) for i in inputs.keyword_ids[0]]  # type: ignore[index]
        return CaptionAttention(caption_text, weights, words, keys)
    assert run.model.grid is not None
    return CaptionAttention(caption_text, weights.reshape(len(words), *run.model.grid), words)


def plot_attention_of(
    run_dir: str | Path,
    item: str | Path,
    path: str | Path,
    *,
    run: CaptionRun | None = None,
    **decoding: Any,
) -> str:
    """Caption ``item``, draw where the decoder looked for each word into ``path`` (PNG, a grid
    of attention maps over the image, or a keyword heat map), and return the caption."""
    from rnnkit.viz.attention import plot_attention, plot_image_attention

    run = run or load_run(run_dir)
    if run.model.attention is None:
        raise UserError(
            f"{run_dir} was trained with --attention none, so it has no attention to plot; "
            "drop --attention-plot."
        )
    found = attention_of(run_dir, item, run=run, **decoding)
    if found.keywords is not None:
        plot_attention(found.weights, found.keywords, found.words, path, title=found.caption)
    else:
        image = run.inputs_of([item]).images[0].float().div(255).permute(1, 2, 0).numpy()  # type: ignore[index]
        plot_image_attention(image, found.weights, found.words, path, title=found.caption)
    return found.caption


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training, metrics and decoding settings of a caption run."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
