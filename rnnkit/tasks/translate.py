"""Translation: from a file of sentence pairs to a run directory that translates and evaluates.

The Python API behind ``rnnkit train translate``, ``rnnkit translate`` and ``rnnkit evaluate`` /
``info`` on a translate run::

    from rnnkit.tasks import translate as tr

    run_dir = tr.train(tr.TranslateOptions(data="train.tsv", val="val.tsv", out="runs/dates",
                                           tokenizer="char", time_limit="5m"))
    tr.translate(run_dir, ["22 November 2026"], beam=5)   # ["2026-11-22"]
    tr.evaluate(run_dir, "test.tsv")                      # {"bleu", "chrf", "exact_match", ...}
    tr.plot_attention_of(run_dir, "Nov 22, 26", "attention.png")

Pairs are ``source<TAB>target`` lines (``rnnkit.data.pairs``). Sources and targets get their own
tokenizers (``char``, ``word`` or ``bpe``) or, with ``shared_vocab``, one for both. Every source
ends with eos (so an empty sentence still has one step); a source longer than
``max_source_length`` tokens is truncated with a warning, never an error.

Training minimises label-smoothed cross-entropy under teacher forcing; with ``teacher_forcing``
below 1 (or a ``teacher_forcing_end`` it decays to, linearly over
``teacher_forcing_decay_epochs``) each row is fed its own previous prediction at some steps
(scheduled sampling). Validation decodes the ``--val`` pairs greedily and reports ``bleu`` (which
drives early stopping and the weights kept), ``chrf``, ``exact_match``
(``rnnkit.metrics.translation``) and the teacher-forced ``loss``. Decoding follows the run's
``rnnkit.decoding.DecodingSettings`` (beam, length penalty, ...; a command may override each):
it allows at most ``ceil(max_length_ratio * source tokens) + 10`` target tokens, and never emits
the unknown token unless ``allow_unknown`` (a word vocabulary's ``<unk>`` would otherwise stand in
the output text for every word the model cannot name).

A run directory holds ``config.json`` (sections ``options``, ``model``, ``tokenizers``, ``data``
and, once training ends, ``results``), ``source_tokenizer.json``, ``target_tokenizer.json`` (both,
even when shared), ``model.safetensors``, ``metrics.csv``, ``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.pairs import read_pairs
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import TOKENIZER_KINDS, Tokenizer, load_tokenizer
from rnnkit.decoding import DecodingSettings, decode_limits
from rnnkit.errors import UserError
from rnnkit.metrics.translation import score_translations
from rnnkit.models.seq2seq import ATTENTION_CHOICES, BRIDGES, Seq2Seq
from rnnkit.tasks import lifecycle
from rnnkit.tasks.lifecycle import Prepared, Run, Task
from rnnkit.tasks.options import model_option, option
from rnnkit.tasks.search_space import (
    CELLS,
    TRAINING_SPACE,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
)
from rnnkit.tasks.teaching import TEACHING, TeacherForcingOptions
from rnnkit.tasks.tokenizing import (
    LOWERCASE_HELP,
    TOKENIZER_HELP,
    fit_tokenizer,
    tokenizer_settings,
)
from rnnkit.training import StepResult, preferred_precision

TASK = "translate"
#: the tokenizers' names in the run directory (``load_tokenizer(run_dir, name)``)
SOURCE_TOKENIZER = "source_tokenizer"
TARGET_TOKENIZER = "target_tokenizer"
SOURCE_TOKENIZER_FILE = f"{SOURCE_TOKENIZER}.json"
TARGET_TOKENIZER_FILE = f"{TARGET_TOKENIZER}.json"
#: sentences decoded together by ``translate`` and validation
DECODE_BATCH = 64
#: the ``--help`` panels of the translate options besides Data, Model and Training
DECODING = "Decoding"

Warn = Callable[[str], None]


def _warn_to_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class TranslateOptions(TeacherForcingOptions):
    """Everything ``rnnkit train translate`` takes: data, tokenizers, model, decoding, training.

    The training fields come from ``TrainOptions``, ``out``, ``encoding`` and ``cell`` from
    ``TaskOptions``, the teacher-forcing ones from ``TeacherForcingOptions``;
    the defaults below replace some of them.
    """

    missing_data_message: ClassVar[str] = "no training pairs were given; pass --data FILE.tsv."
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    # data; without val there is no validation, and the last weights are kept
    data: Path | None = option(None, help="Training pairs, one source<TAB>target per line.")
    val: Path | None = option(None, help="Validation pairs; BLEU on them picks the weights.")
    # in tokens, eos included
    max_source_length: int = option(
        200, help="Most source tokens; longer ones are cut.", fixed=True
    )
    max_target_length: int = option(
        200, help="Most target tokens; longer ones are cut.", fixed=True
    )
    # tokenizers; shared_vocab: one tokenizer (and embedding) for source and target
    tokenizer: Literal["char", "word", "bpe"] = option("word", help=TOKENIZER_HELP, fixed=True)
    shared_vocab: bool = option(
        False, help="One vocabulary and embedding for both sides.", fixed=True
    )
    vocab_size: int | None = option(
        None, help="word: words kept; bpe: vocabulary size (8000).", fixed=True
    )
    min_count: int | None = option(
        None, help="word: fewest uses kept (2); bpe: to merge.", fixed=True
    )
    lowercase: bool = option(False, help=LOWERCASE_HELP, fixed=True)
    # model
    cell: str = "gru"
    embedding_size: int = model_option(256, help="Embedding width.")
    encoder_hidden: int = model_option(256, help="Encoder units per direction.")
    encoder_layers: int = model_option(2, help="Encoder layers.")
    bidirectional: bool = model_option(True, help="Read the source both ways.")
    decoder_hidden: int = model_option(512, help="Decoder units.")
    decoder_layers: int = model_option(1, help="Decoder layers.")
    attention: Literal["bahdanau", "luong-dot", "luong-general", "none"] = model_option(
        "bahdanau",
        help="Attention score; none: plain encoder-decoder.",
    )
    attention_size: int | None = model_option(None, help="bahdanau: score width (decoder-hidden).")
    input_feeding: bool = model_option(True, help="Feed the last attentional vector back in.")
    bridge: Literal["linear", "zero"] = model_option(
        "linear", help="Decoder's first state from the encoder's last."
    )
    dropout: float = model_option(0.2, help="Dropout on embeddings, layers, outputs.")
    tie_embeddings: bool = model_option(True, help="Output layer reuses the target embeddings.")
    # training
    batch_size: int = option(128, help="Sentence pairs per batch.", panel=TEACHING, fixed=True)
    label_smoothing: float = option(0.1, help="Label smoothing of the loss.", panel=TEACHING)
    # decoding (translate and evaluate; validation decodes greedily): ``decoding_settings()``.
    # length_penalty 1 gave the best validation BLEU; forbidding the unknown token makes each
    # output word a real one (Multi30k test: +1.4 BLEU greedy, +0.3 beam 5)
    beam: int = option(5, help="Default beam of translate/evaluate.", panel=DECODING)
    length_penalty: float = option(1.0, help="GNMT length penalty alpha; 0: none.", panel=DECODING)
    max_length_ratio: float = option(
        2.0, help="Output tokens allowed per source token.", panel=DECODING
    )
    no_repeat_ngram: int = option(0, help="No n-gram this long twice; 0: off.", panel=DECODING)
    allow_unknown: bool = option(
        False, help="Let outputs contain the unknown token.", panel=DECODING
    )
    # TrainOptions defaults that suit translation; cosine decays over the budget (epochs, steps
    # or time limit)
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 2e-3
    schedule: Literal["constant", "step", "cosine", "plateau"] = "cosine"
    min_lr: float = 1e-5
    patience: int | None = 5
    precision: Literal["fp32", "bf16"] = field(default_factory=preferred_precision)

    #: what ``rnnkit tune translate`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "embedding_size": IntRange(64, 512, log=True),
        "encoder_hidden": IntRange(64, 512, log=True),
        "encoder_layers": IntRange(1, 2),
        "decoder_hidden": IntRange(128, 1024, log=True),
        "attention": Choice(("bahdanau", "luong-general")),
        "dropout": FloatRange(0.0, 0.5),
        "label_smoothing": FloatRange(0.0, 0.2),
    }

    def validate(self) -> TranslateOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("tokenizer", TOKENIZER_KINDS)
        self.require_known("attention", ATTENTION_CHOICES)
        self.require_known("bridge", BRIDGES)
        self.require_whole_numbers(
            "embedding_size",
            "encoder_hidden",
            "encoder_layers",
            "decoder_hidden",
            "decoder_layers",
            "batch_size",
        )
        self.require_whole_numbers("max_source_length", "max_target_length", at_least=2)
        self.require_whole_numbers("vocab_size", "min_count", "attention_size", optional=True)
        if self.tokenizer == "char" and (self.vocab_size is not None or self.min_count is not None):
            raise UserError(
                "--vocab-size and --min-count apply to --tokenizer word or bpe, not char; "
                "drop them."
            )
        if self.lowercase and self.tokenizer != "word":
            raise UserError("--lowercase applies to --tokenizer word only; drop it.")
        if self.attention == "luong-dot" and self.decoder_hidden != self._memory_size():
            raise UserError(
                f"--attention luong-dot needs --decoder-hidden equal to the encoder's output "
                f"width ({self._memory_size()}), got {self.decoder_hidden}; change one of them or "
                "use --attention luong-general."
            )
        self.require_rates("dropout", "label_smoothing")
        self.decoding_settings().check()
        return self

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TranslateOptions:
        """Options as stored in a run's config; a run stored before ``tie_embeddings`` existed had
        a separate output layer, so its missing key reads as False, not today's default."""
        return super().from_dict({"tie_embeddings": False, **values})  # type: ignore[return-value]

    def _memory_size(self) -> int:
        return self.encoder_hidden * (2 if self.bidirectional else 1)

    def decoding_settings(self) -> DecodingSettings:
        """How ``translate`` and ``evaluate`` decode by default (not checked)."""
        return DecodingSettings(
            beam=self.beam,
            length_penalty=self.length_penalty,
            max_length_ratio=self.max_length_ratio,
            no_repeat_ngram=self.no_repeat_ngram,
            allow_unknown=self.allow_unknown,
        )


# ------------------------------------------------------------------------------- data as ids


@dataclass
class EncodedPairs:
    """Sentence pairs as id lists: sources end with eos, targets have neither bos nor eos."""

    sources: list[list[int]]
    targets: list[list[int]]
    references: list[str]  # the raw target texts, for BLEU

    def __len__(self) -> int:
        return len(self.sources)


def encode_sources(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    max_length: int,
    *,
    what: str,
    warn: Warn = _warn_to_stderr,
) -> list[list[int]]:
    """Ids of each source followed by eos, at most ``max_length`` ids (truncated with a warning).

    ``what`` names the texts in the warning, e.g. ``"lines of test.tsv"``.
    """
    encoded, truncated = [], []
    for index, text in enumerate(texts):
        ids = tokenizer.encode(text)
        if len(ids) + 1 > max_length:
            truncated.append(index)
            ids = ids[: max_length - 1]
        encoded.append([*ids, tokenizer.eos_id])
    if truncated:
        count = "1 source is" if len(truncated) == 1 else f"{len(truncated)} sources are"
        first = f" (first: sentence {truncated[0] + 1})" if len(texts) > 1 else ""
        warn(
            f"{count} longer than the model's maximum of {max_length - 1} tokens in {what}"
            f"{first} and {'was' if len(truncated) == 1 else 'were'} truncated."
        )
    return encoded


def encode_pairs(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    options: TranslateOptions,
    *,
    what: str,
    warn: Warn = _warn_to_stderr,
) -> EncodedPairs:
    sources = encode_sources(
        [s for s, _ in pairs], source_tokenizer, options.max_source_length, what=what, warn=warn
    )
    # One position is kept for eos, which the loss counts as a target token.
    targets = [target_tokenizer.encode(t)[: options.max_target_length - 1] for _, t in pairs]
    return EncodedPairs(sources, targets, [t for _, t in pairs])


def collate(
    sources: Sequence[list[int]], targets: Sequence[list[int]], bos_id: int, eos_id: int
) -> dict[str, Tensor]:
    """A training batch: ``source (B, S)``, ``source_lengths (B,)``, ``target_in (B, T)`` (bos +
    target) and ``target_out (B, T)`` (target + eos), padded with id 0."""
    source, lengths = pad_sequences([torch.tensor(s, dtype=torch.long) for s in sources])
    target_in, _ = pad_sequences([torch.tensor([bos_id, *t], dtype=torch.long) for t in targets])
    target_out, _ = pad_sequences([torch.tensor([*t, eos_id], dtype=torch.long) for t in targets])
    return {
        "source": source,
        "source_lengths": lengths,
        "target_in": target_in,
        "target_out": target_out,
    }


# ------------------------------------------------------------------------------------ training


class TranslationObjective:
    """Label-smoothed cross-entropy under teacher forcing; validation BLEU drives early stopping."""

    monitor = "bleu"
    mode: Literal["min", "max"] = "max"

    def __init__(
        self,
        train: EncodedPairs,
        val: EncodedPairs | None,
        options: TranslateOptions,
        target_tokenizer: Tokenizer,
    ) -> None:
        self.train, self.val = train, val
        self.options = options
        self.target_tokenizer = target_tokenizer
        self.lengths = [len(s) + len(t) for s, t in zip(train.sources, train.targets, strict=True)]
        # Pools hold whole batches, so the count does not depend on the shuffle.
        self.num_batches = len(bucket_batches(self.lengths, options.batch_size, shuffle=False))

    def batches_per_epoch(self) -> int:
        return self.num_batches

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        tokenizer = self.target_tokenizer
        batches = bucket_batches(self.lengths, self.options.batch_size, generator)
        for position, rows in enumerate(batches):
            batch = collate(
                [self.train.sources[i] for i in rows],
                [self.train.targets[i] for i in rows],
                tokenizer.bos_id,
                tokenizer.eos_id,
            )
            ratio = self.options.teacher_forcing_at(epoch + position / len(batches))
            batch["teacher_forcing"] = torch.full((len(rows),), ratio)
            yield batch

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        targets = batch["target_out"]
        loss = model(
            batch["source"],
            batch["source_lengths"],
            batch["target_in"],
            teacher_forcing=batch["teacher_forcing"],
            target_out=targets,
            label_smoothing=self.options.label_smoothing,
        )
        return StepResult(loss=loss, items=int((targets != self.target_tokenizer.pad_id).sum()))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.val is None:
            return {}
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        loss = teacher_forced_loss(model, self.val, self.target_tokenizer)
        outputs = decode(
            model,
            self.val.sources,
            self.target_tokenizer,
            beam=1,
            length_penalty=0.0,
            max_length_ratio=self.options.max_length_ratio,
            max_target_length=self.options.max_target_length,
            no_repeat_ngram=0,
            allow_unknown=self.options.allow_unknown,
        )
        return {**score_translations(outputs, self.val.references), "loss": loss}


def teacher_forced_loss(model: Seq2Seq, pairs: EncodedPairs, tokenizer: Tokenizer) -> float:
    """Mean cross-entropy (nats per target token, eos included, no smoothing) under teacher
    forcing."""
    device = next(model.parameters()).device
    lengths = [len(s) for s in pairs.sources]
    total, count = 0.0, 0
    with torch.no_grad():
        for rows in bucket_batches(lengths, DECODE_BATCH, shuffle=False):
            batch = collate(
                [pairs.sources[i] for i in rows],
                [pairs.targets[i] for i in rows],
                tokenizer.bos_id,
                tokenizer.eos_id,
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(batch["source"], batch["source_lengths"], batch["target_in"])
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1).float(),
                    batch["target_out"].flatten(),
                    ignore_index=tokenizer.pad_id,
                    reduction="sum",
                )
            )
            count += int((batch["target_out"] != tokenizer.pad_id).sum())
    return total / max(1, count)


# ------------------------------------------------------------------------------------ the task


class TranslateTask(Task[TranslateOptions]):
    """The translate task: sentence pairs, a tokenizer per side fitted on them, a ``Seq2Seq``."""

    name = TASK
    options_class = TranslateOptions
    summary = "Train an encoder-decoder with attention on sentence pairs."
    artifact_files = (SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE)
    described_training_options = (
        "precision",
        "batch_size",
        "lr",
        "label_smoothing",
        "teacher_forcing",
    )

    def __init__(self, warn: Warn = _warn_to_stderr) -> None:
        #: receives each warning (sources truncated); default: printed to stderr
        self.warn = warn

    def prepare(self, options: TranslateOptions, resumed: Run | None) -> Prepared:
        train_pairs = read_pairs(options.data, options.encoding)
        val_pairs = read_pairs(options.val, options.encoding) if options.val is not None else None
        if resumed is not None:
            source_tokenizer, target_tokenizer = load_tokenizers(resumed.path)
        else:
            source_tokenizer, target_tokenizer = fit_tokenizers(options, train_pairs)
        train_set = encode_pairs(
            train_pairs,
            source_tokenizer,
            target_tokenizer,
            options,
            what=str(options.data),
            warn=self.warn,
        )
        val_set = None
        if val_pairs is not None:
            val_set = encode_pairs(
                val_pairs,
                source_tokenizer,
                target_tokenizer,
                options,
                what=str(options.val),
                warn=self.warn,
            )
        return Prepared(
            model=build_model(options, source_tokenizer, target_tokenizer),
            objective=TranslationObjective(train_set, val_set, options, target_tokenizer),
            sections={
                "tokenizers": {
                    "kind": options.tokenizer,
                    "shared": options.shared_vocab,
                    "source_vocab_size": source_tokenizer.vocab_size,
                    "target_vocab_size": target_tokenizer.vocab_size,
                },
                "data": {
                    "train_file": str(options.data),
                    "val_file": str(options.val) if options.val is not None else None,
                    "train_pairs": len(train_set),
                    "val_pairs": len(val_set) if val_set is not None else 0,
                },
            },
            # both files even when shared: a run reads its two tokenizers the same way
            artifacts={
                SOURCE_TOKENIZER_FILE: source_tokenizer.to_dict(),
                TARGET_TOKENIZER_FILE: target_tokenizer.to_dict(),
            },
        )

    def model_from_config(self, model_config: dict[str, Any]) -> Seq2Seq:
        return Seq2Seq.from_config(model_config)

    def evaluate(
        self, run: Run, data: Path, *, encoding: str = "utf-8", **decoding: Any
    ) -> dict[str, Any]:
        """``bleu``, ``chrf``, ``exact_match`` and ``sentences`` of the run on a pairs file,
        decoding as the run's options say except for the ``DecodingSettings`` given (not None)."""
        loaded = self.load(run)
        pairs = read_pairs(data, encoding)
        settings = loaded.decoding.overridden(**decoding)
        outputs = loaded.translate([s for s, _ in pairs], settings, what=str(data), warn=self.warn)
        return {**score_translations(outputs, [t for _, t in pairs]), "sentences": len(pairs)}

    def load(self, run: Run) -> TranslationRun:
        """The trained model (eval mode, CPU), tokenizers and options of ``run``; checked."""
        source_tokenizer, target_tokenizer = load_tokenizers(run.path)
        options = run.options(TranslateOptions)
        model = self.load_model(run)
        sizes = model.config()
        for name, side, tokenizer in (
            (SOURCE_TOKENIZER_FILE, "source", source_tokenizer),
            (TARGET_TOKENIZER_FILE, "target", target_tokenizer),
        ):
            run.require_fit(name, "tokens", tokenizer.vocab_size, sizes[f"{side}_vocab_size"])
        return TranslationRun(model, source_tokenizer, target_tokenizer, options, run.config)

    described_model = {
        key: key
        for key in (
            "cell", "embedding_size", "encoder_hidden", "encoder_layers", "bidirectional",
            "decoder_hidden", "decoder_layers", "attention", "input_feeding", "bridge", "dropout",
        )
    }  # fmt: skip

    def describe_more(self, run: Run) -> dict[str, Any]:
        options = run.config.get("options", {})
        decoding = {
            key: options.get(key)
            for key in ("beam", "length_penalty", "max_length_ratio", "no_repeat_ngram")
        }
        # a run stored before allow_unknown existed forbids the unknown token, as today's default
        decoding["allow_unknown"] = options.get("allow_unknown", False)
        return {"tokenizers": run.config.get("tokenizers", {}), "decoding": decoding}


TASK_SPEC = TranslateTask()


def train(options: TranslateOptions, *, warn: Warn = _warn_to_stderr) -> Path:
    """Train a translation model as ``options`` say; return the run directory.

    ``warn`` receives each warning (sources truncated); default: printed to stderr.
    Every check of the user's input runs before anything is written, so a refused run leaves the
    run directory as it was.
    """
    return lifecycle.train(TranslateTask(warn), options)


def fit_tokenizers(
    options: TranslateOptions, pairs: Sequence[tuple[str, str]]
) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers trained on the pairs; the same object twice when shared."""
    kind, vocab_size, min_count = options.tokenizer, options.vocab_size, options.min_count
    # translation's own defaults: rare words are unknown, and a larger bpe vocabulary
    if kind == "word" and min_count is None:
        min_count = 2
    if kind == "bpe" and vocab_size is None:
        vocab_size = 8000
    settings = tokenizer_settings(
        kind, vocab_size=vocab_size, min_count=min_count, lowercase=options.lowercase
    )
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    if options.shared_vocab:
        shared = fit_tokenizer(kind, sources + targets, settings)
        return shared, shared
    return fit_tokenizer(kind, sources, settings), fit_tokenizer(kind, targets, settings)


def load_tokenizers(run_dir: str | Path) -> tuple[Tokenizer, Tokenizer]:
    """The (source, target) tokenizers stored in a run directory; ``UserError`` if unreadable."""
    return load_tokenizer(run_dir, SOURCE_TOKENIZER), load_tokenizer(run_dir, TARGET_TOKENIZER)


def build_model(
    options: TranslateOptions, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer
) -> Seq2Seq:
    """The ``Seq2Seq`` that ``options`` describe for these vocabularies."""
    return Seq2Seq(
        source_tokenizer.vocab_size,
        target_tokenizer.vocab_size,
        embedding_size=options.embedding_size,
        encoder_hidden=options.encoder_hidden,
        encoder_layers=options.encoder_layers,
        bidirectional=options.bidirectional,
        decoder_hidden=options.decoder_hidden,
        decoder_layers=options.decoder_layers,
        cell=options.cell,
        attention=options.attention,
        attention_size=options.attention_size,
        input_feeding=options.input_feeding,
        bridge=options.bridge,
        dropout=options.dropout,
        share_embeddings=options.shared_vocab,
        tie_embeddings=options.tie_embeddings,
        pad_id=target_tokenizer.pad_id,
        bos_id=target_tokenizer.bos_id,
        eos_id=target_tokenizer.eos_id,
    )


# ------------------------------------------------------------------------------------ decoding


@dataclass
class TranslationRun:
    """A trained run, loaded: model (eval mode, CPU), tokenizers and stored options."""

    model: Seq2Seq
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    options: TranslateOptions
    config: dict[str, Any]

    @property
    def decoding(self) -> DecodingSettings:
        """The decoding settings stored with the run (the defaults of ``translate``)."""
        return self.options.decoding_settings()

    def encode(self, texts: Sequence[str], *, what: str, warn: Warn) -> list[list[int]]:
        """Source ids of ``texts`` as the model reads them (see ``encode_sources``)."""
        return encode_sources(
            texts, self.source_tokenizer, self.options.max_source_length, what=what, warn=warn
        )

    def search(self, sources: Sequence[list[int]], settings: DecodingSettings) -> list[list[int]]:
        """The output ids of each encoded source, found as ``settings`` say."""
        return decode_ids(
            self.model,
            sources,
            beam=settings.beam,
            length_penalty=settings.length_penalty,
            max_length_ratio=settings.max_length_ratio,
            max_target_length=self.options.max_target_length,
            no_repeat_ngram=settings.no_repeat_ngram,
            forbidden_ids=settings.forbidden_ids(self.target_tokenizer.unk_id),
        )

    def translate(
        self, texts: Sequence[str], settings: DecodingSettings, *, what: str, warn: Warn
    ) -> list[str]:
        """Translations of ``texts``; an empty (or blank) text gives an empty translation."""
        outputs = self.search(self.encode(texts, what=what, warn=warn), settings)
        translations = [self.target_tokenizer.decode(ids) for ids in outputs]
        return [t if text.strip() else "" for text, t in zip(texts, translations, strict=True)]


def load_run(run_dir: str | Path) -> TranslationRun:
    """Load and check a translate run directory; ``UserError`` naming what is wrong."""
    return TASK_SPEC.load(TASK_SPEC.open(run_dir))


def decode(
    model: Seq2Seq,
    sources: Sequence[list[int]],
    target_tokenizer: Tokenizer,
    *,
    beam: int,
    length_penalty: float,
    max_length_ratio: float,
    max_target_length: int,
    no_repeat_ngram: int,
    allow_unknown: bool = False,
    batch_size: int = DECODE_BATCH,
) -> list[str]:
    """Translate encoded sources (each ending with eos), in batches of similar length; texts in
    the order given. Unless ``allow_unknown``, no output contains the unknown token."""
    ids = decode_ids(
        model,
        sources,
        beam=beam,
        length_penalty=length_penalty,
        max_length_ratio=max_length_ratio,
        max_target_length=max_target_length,
        no_repeat_ngram=no_repeat_ngram,
        forbidden_ids=forbidden_ids(target_tokenizer, allow_unknown),
        batch_size=batch_size,
    )
    return [target_tokenizer.decode(row) for row in ids]


def forbidden_ids(target_tokenizer: Tokenizer, allow_unknown: bool) -> tuple[int, ...]:
    """The target ids a search must not emit: the unknown token unless ``allow_unknown``."""
    settings = DecodingSettings(allow_unknown=allow_unknown)
    return settings.forbidden_ids(target_tokenizer.unk_id)


def decode_ids(
    model: Seq2Seq,
    sources: Sequence[list[int]],
    *,
    beam: int,
    length_penalty: float,
    max_length_ratio: float,
    max_target_length: int,
    no_repeat_ngram: int,
    forbidden_ids: Sequence[int] = (),
    batch_size: int = DECODE_BATCH,
) -> list[list[int]]:
    """The output ids of each source (see ``decode``); ``forbidden_ids`` are never emitted."""
    device = next(model.parameters()).device
    outputs: list[list[int]] = [[] for _ in sources]
    for rows in bucket_batches([len(s) for s in sources], batch_size, shuffle=False):
        source, lengths = pad_sequences([torch.tensor(sources[i]) for i in rows])
        limits = decode_limits(lengths, max_length_ratio, max_target_length)
        result = model.generate(
            source.to(device),
            lengths.to(device),
            limits.to(device),
            beam_size=beam,
            length_penalty=length_penalty,
            no_repeat_ngram=no_repeat_ngram,
            forbidden_ids=forbidden_ids,
        )
        for row, sequence in zip(rows, result.sequences(), strict=True):
            outputs[row] = sequence
    return outputs


def translate(
    run_dir: str | Path,
    texts: Sequence[str],
    *,
    warn: Warn = _warn_to_stderr,
    what: str = "the input",
    run: TranslationRun | None = None,
    **decoding: Any,
) -> list[str]:
    """Translations of ``texts`` (an empty text gives an empty translation). ``decoding``:
    ``DecodingSettings`` fields (``beam``, ``length_penalty``, ``max_length_ratio``,
    ``no_repeat_ngram``, ``allow_unknown``) that replace the run's stored ones when not None.
    ``run``: the run of ``run_dir``, already loaded."""
    run = run or load_run(run_dir)
    return run.translate(texts, run.decoding.overridden(**decoding), what=what, warn=warn)


def read_sources(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Sentences to translate, one per line; of a ``source<TAB>target`` line only the source."""
    text = read_text(path, encoding)
    return [line.split("\t")[0].strip() for line in text.splitlines()]


def translate_file(
    run_dir: str | Path,
    data: str | Path,
    output: str | Path,
    *,
    encoding: str = "utf-8",
    warn: Warn = _warn_to_stderr,
    run: TranslationRun | None = None,
    **decoding: Any,
) -> int:
    """Translate each line of ``data`` into the same line of ``output``; the number of lines."""
    run = run or load_run(run_dir)
    sources = read_sources(data, encoding)
    translations = translate(run_dir, sources, run=run, warn=warn, what=str(data), **decoding)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("".join(t + "\n" for t in translations), encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"cannot write {output} ({error.strerror}); give a writable --output path."
        ) from None
    return len(translations)


def evaluate(
    run_dir: str | Path,
    data: str | Path,
    *,
    encoding: str = "utf-8",
    warn: Warn = _warn_to_stderr,
    **decoding: Any,
) -> dict[str, Any]:
    """``bleu``, ``chrf``, ``exact_match`` and ``sentences`` of a run on a pairs file, decoding
    with the run's stored settings except the ``decoding`` ones given (see ``translate``)."""
    return TranslateTask(warn).evaluate(
        TASK_SPEC.open(run_dir), Path(data), encoding=encoding, **decoding
    )


@dataclass
class Attention:
    """A translation and the attention behind it: ``weights (target tokens, source tokens)``,
    one row per output token (the end marker included), each row summing to 1."""

    translation: str
    weights: np.ndarray
    source_tokens: list[str]
    target_tokens: list[str]


def attention_of(
    run_dir: str | Path,
    text: str,
    *,
    warn: Warn = _warn_to_stderr,
    run: TranslationRun | None = None,
    **decoding: Any,
) -> Attention:
    """Translate ``text`` and return its attention matrix (``decoding``: as for ``translate``).
    ``UserError`` for a run trained without attention."""
    run = run or load_run(run_dir)
    if run.model.attention is None:
        raise UserError(
            f"{run_dir} was trained with --attention none, so it has no attention to show."
        )
    settings = run.decoding.overridden(**decoding)
    source = run.encode([text], what="--text", warn=warn)[0]
    output = run.search([source], settings)[0]
    weights = run.model.attention_weights(
        torch.tensor([source]), torch.tensor([len(source)]), [output]
    )[0]
    return Attention(
        run.target_tokenizer.decode(output),
        weights.numpy(),
        [run.source_tokenizer.id_to_token(i) for i in source],
        [run.target_tokenizer.id_to_token(i) for i in [*output, run.model.eos_id]],
    )


def plot_attention_of(
    run_dir: str | Path,
    text: str,
    path: str | Path,
    *,
    warn: Warn = _warn_to_stderr,
    run: TranslationRun | None = None,
    **decoding: Any,
) -> str:
    """Translate ``text``, draw the attention of its translation into ``path`` (PNG), and return
    the translation. ``UserError`` for a run trained without attention."""
    from rnnkit.viz.attention import plot_attention

    attention = attention_of(run_dir, text, warn=warn, run=run, **decoding)
    plot_attention(
        attention.weights,
        attention.source_tokens,
        attention.target_tokens,
        path,
        title=attention.translation,
    )
    return attention.translation


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training, metrics, tokenizers and decoding settings of a
    translate run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
