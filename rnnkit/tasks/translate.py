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
drives early stopping and the weights kept), ``chrf``, ``exact_match`` and the teacher-forced
``loss``. Decoding allows at most ``ceil(max_length_ratio * source tokens) + 10`` target tokens,
and never emits the unknown token unless ``allow_unknown`` (a word vocabulary's ``<unk>`` would
otherwise stand in the output text for every word the model cannot name).

A run directory holds ``config.json`` (sections ``options``, ``model``, ``tokenizers``, ``data``
and, once training ends, ``results``), ``source_tokenizer.json``, ``target_tokenizer.json``,
``model.safetensors``, ``metrics.csv``, ``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.pairs import read_pairs
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import TOKENIZER_KINDS, Tokenizer, load_tokenizer
from rnnkit.errors import UserError
from rnnkit.models.seq2seq import ATTENTION_CHOICES, BRIDGES, Seq2Seq
from rnnkit.tasks.describing import add_training_results, parameter_count
from rnnkit.tasks.options import TaskOptions, flag
from rnnkit.tasks.resuming import check_resumable, stored_config
from rnnkit.tasks.tokenizing import fit_tokenizer, tokenizer_settings
from rnnkit.training import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    StepResult,
    Trainer,
    load_weights,
    preferred_precision,
    read_run_config,
    seed_everything,
    write_config,
)
from rnnkit.training.distributed import is_main_process

TASK = "translate"
SOURCE_TOKENIZER = "source_tokenizer"
TARGET_TOKENIZER = "target_tokenizer"
#: decoding may emit ``ceil(max_length_ratio * source length) + MAX_LENGTH_SLACK`` tokens
MAX_LENGTH_SLACK = 10
#: sentences decoded together by ``translate`` and validation
DECODE_BATCH = 64

Warn = Callable[[str], None]


def _warn_to_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class TranslateOptions(TaskOptions):
    """Everything ``rnnkit train translate`` takes: data, tokenizers, model, decoding, training.

    The training fields come from ``TrainOptions``, ``data``, ``out``, ``encoding`` and ``cell``
    from ``TaskOptions``; the defaults below replace some of them.
    """

    missing_data_message: ClassVar[str] = "no training pairs were given; pass --data FILE.tsv."
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    # data (``data`` holds the training pairs, TSV)
    val: Path | None = None  # validation pairs; None: no validation (the last weights are kept)
    max_source_length: int = 200  # tokens (eos included); longer sources are truncated
    max_target_length: int = 200  # tokens (eos included); longer targets are truncated
    # tokenizers
    tokenizer: Literal["char", "word", "bpe"] = "word"
    shared_vocab: bool = False  # one tokenizer (and embedding) for source and target
    vocab_size: int | None = None  # word: most frequent kept; bpe: vocabulary size (default 8000)
    min_count: int | None = None  # word: rarer words are unknown (default 2); bpe: merge minimum
    lowercase: bool = False  # word tokenizer only
    # model
    cell: str = "gru"
    embedding_size: int = 256
    encoder_hidden: int = 256
    encoder_layers: int = 2
    bidirectional: bool = True
    decoder_hidden: int = 512
    decoder_layers: int = 1
    attention: str = "bahdanau"  # bahdanau | luong-dot | luong-general | none
    attention_size: int | None = None  # additive score's width (default: decoder_hidden)
    input_feeding: bool = True
    bridge: str = "linear"  # linear | zero
    dropout: float = 0.2
    tie_embeddings: bool = True  # the output layer reuses the target embedding matrix
    # training
    batch_size: int = 128
    label_smoothing: float = 0.1
    teacher_forcing: float = 1.0  # share of steps fed the true previous token
    teacher_forcing_end: float | None = None  # scheduled sampling: the ratio it decays to
    teacher_forcing_decay_epochs: float = 10.0  # epochs of the linear decay
    # decoding (translate and evaluate; validation decodes greedily)
    beam: int = 5
    length_penalty: float = 1.0  # GNMT alpha (0: beams ranked by log-probability); 1: best val BLEU
    max_length_ratio: float = 2.0
    no_repeat_ngram: int = 0
    # False: the search never emits the unknown token (a word tokenizer's "<unk>" in the output
    # text), so each output word is a real one (Multi30k test: +1.4 BLEU greedy, +0.3 beam 5)
    allow_unknown: bool = False
    # TrainOptions defaults that suit translation
    optimizer: str = "adam"
    lr: float = 2e-3
    schedule: str = "cosine"  # decays over the budget (epochs, steps or time limit)
    min_lr: float = 1e-5
    patience: int | None = 5
    precision: str = field(default_factory=preferred_precision)

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
            "beam",
        )
        self.require_whole_numbers("max_source_length", "max_target_length", at_least=2)
        self.require_whole_numbers("no_repeat_ngram", at_least=0)
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
        for name in ("teacher_forcing", "teacher_forcing_end"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise UserError(f"{flag(name)} must be in [0, 1], got {value}.")
        if self.teacher_forcing_decay_epochs <= 0:
            raise UserError(
                "--teacher-forcing-decay-epochs must be positive, got "
                f"{self.teacher_forcing_decay_epochs}."
            )
        if self.max_length_ratio <= 0:
            raise UserError(f"--max-length-ratio must be positive, got {self.max_length_ratio}.")
        return self

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TranslateOptions:
        """Options as stored in a run's config; a run stored before ``tie_embeddings`` existed had
        a separate output layer, so its missing key reads as False, not today's default."""
        return super().from_dict({"tie_embeddings": False, **values})  # type: ignore[return-value]

    def _memory_size(self) -> int:
        return self.encoder_hidden * (2 if self.bidirectional else 1)

    def model_options(self) -> dict[str, Any]:
        """The options that fix the model, tokenizers and data layout (unchanged on resume)."""
        names = [
            "tokenizer", "shared_vocab", "vocab_size", "min_count", "lowercase",
            "max_source_length", "max_target_length", "cell", "embedding_size",
            "encoder_hidden", "encoder_layers", "bidirectional", "decoder_hidden",
            "decoder_layers", "attention", "attention_size", "input_feeding", "bridge",
            "dropout", "tie_embeddings", "batch_size", "seed",
        ]  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def teacher_forcing_at(self, epoch: float) -> float:
        """The teacher-forcing ratio after ``epoch`` epochs (fractional) of training."""
        if self.teacher_forcing_end is None:
            return self.teacher_forcing
        progress = min(1.0, epoch / self.teacher_forcing_decay_epochs)
        return self.teacher_forcing + (self.teacher_forcing_end - self.teacher_forcing) * progress


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


def decode_limits(source_lengths: Tensor, ratio: float, cap: int) -> Tensor:
    """The most target tokens (eos included) each row may emit: ``(B,)``."""
    limits = torch.ceil(source_lengths.double() * ratio).long() + MAX_LENGTH_SLACK
    return limits.clamp(max=cap)


# ------------------------------------------------------------------------------------ metrics


def score_translations(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus ``bleu`` and ``chrf`` (sacrebleu's defaults, 0..100) and ``exact_match`` (the share
    of outputs equal to their reference up to spacing, 0..1)."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(
            f"need one hypothesis per reference, got {len(hypotheses)} and {len(references)}"
        )
    if not references:
        raise ValueError("need at least one sentence to score, got none")
    hypotheses, references = list(hypotheses), list(references)
    pairs = zip(hypotheses, references, strict=True)
    exact = sum(" ".join(h.split()) == " ".join(r.split()) for h, r in pairs)
    return {
        "bleu": BLEU().corpus_score(hypotheses, [references]).score,
        "chrf": CHRF().corpus_score(hypotheses, [references]).score,
        "exact_match": exact / len(references),
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


def train(options: TranslateOptions, *, warn: Warn = _warn_to_stderr) -> Path:
    """Train a translation model as ``options`` say; return the run directory."""
    options.validate()
    out = Path(options.out)
    train_pairs = read_pairs(options.data, options.encoding)
    val_pairs = read_pairs(options.val, options.encoding) if options.val is not None else None
    stored = stored_config(out, options.resume, TASK)
    if stored is not None:
        check_resumable(stored, options, out)
        source_tokenizer = load_tokenizer(out, SOURCE_TOKENIZER)
        target_tokenizer = load_tokenizer(out, TARGET_TOKENIZER)
    else:
        source_tokenizer, target_tokenizer = fit_tokenizers(options, train_pairs)
    train_set = encode_pairs(
        train_pairs, source_tokenizer, target_tokenizer, options, what=str(options.data), warn=warn
    )
    val_set = None
    if val_pairs is not None:
        val_set = encode_pairs(
            val_pairs, source_tokenizer, target_tokenizer, options, what=str(options.val), warn=warn
        )

    seed_everything(options.seed)  # the initial weights follow the run's seed
    model = build_model(options, source_tokenizer, target_tokenizer)
    sections = {
        "options": options,
        "model": model.config(),
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
    }
    if is_main_process():
        write_config(out, TASK, **sections)
        source_tokenizer.save(out, SOURCE_TOKENIZER)
        target_tokenizer.save(out, TARGET_TOKENIZER)

    objective = TranslationObjective(train_set, val_set, options, target_tokenizer)
    result = Trainer(model, objective, options.train_options(), out).fit()
    if is_main_process():
        results = {k: v for k, v in result.items() if not isinstance(v, Tensor)}
        write_config(out, TASK, **sections, results=results)
    return out


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


def load_run(run_dir: str | Path) -> TranslationRun:
    """Load and check a translate run directory; ``UserError`` naming what is wrong."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    source_tokenizer = load_tokenizer(run_dir, SOURCE_TOKENIZER)
    target_tokenizer = load_tokenizer(run_dir, TARGET_TOKENIZER)
    try:
        model_config, stored_options = config.get("model"), config.get("options")
        if not isinstance(model_config, dict) or not isinstance(stored_options, dict):
            raise ValueError("the 'model' or 'options' section is missing")
        model = Seq2Seq.from_config(model_config)
        options = TranslateOptions.from_dict(stored_options)
    except (ValueError, TypeError) as error:
        raise UserError(
            f"{run_dir / CONFIG_FILE} is not a usable translate config ({error}); "
            "train the run again."
        ) from None
    if model.target_vocab_size != target_tokenizer.vocab_size:
        raise UserError(
            f"{run_dir} has a target tokenizer of {target_tokenizer.vocab_size} tokens but a model "
            f"of {model.target_vocab_size}; the run is damaged, train it again."
        )
    load_weights(model, run_dir / WEIGHTS_FILE)
    return TranslationRun(model.eval(), source_tokenizer, target_tokenizer, options, config)


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
    return () if allow_unknown else (target_tokenizer.unk_id,)


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


def _decoding_settings(run: TranslationRun, **given: Any) -> dict[str, Any]:
    """The run's stored decoding options, overridden by the ones given (not None); checked."""
    settings = {
        "beam": run.options.beam,
        "length_penalty": run.options.length_penalty,
        "max_length_ratio": run.options.max_length_ratio,
        "no_repeat_ngram": run.options.no_repeat_ngram,
        "allow_unknown": run.options.allow_unknown,
    }
    settings.update({k: v for k, v in given.items() if v is not None})
    if settings["beam"] < 1:
        raise UserError(f"--beam must be >= 1, got {settings['beam']}.")
    if settings["max_length_ratio"] <= 0:
        raise UserError(f"--max-length-ratio must be positive, got {settings['max_length_ratio']}.")
    if settings["no_repeat_ngram"] < 0:
        raise UserError(
            f"--no-repeat-ngram must be >= 0 (0: off), got {settings['no_repeat_ngram']}."
        )
    return settings


def translate(
    run_dir: str | Path,
    texts: Sequence[str],
    *,
    beam: int | None = None,
    length_penalty: float | None = None,
    max_length_ratio: float | None = None,
    no_repeat_ngram: int | None = None,
    allow_unknown: bool | None = None,
    warn: Warn = _warn_to_stderr,
    what: str = "the input",
    run: TranslationRun | None = None,
) -> list[str]:
    """Translations of ``texts`` (an empty text gives an empty translation); decoding options
    default to those stored in the run."""
    run = run or load_run(run_dir)
    settings = _decoding_settings(
        run,
        beam=beam,
        length_penalty=length_penalty,
        max_length_ratio=max_length_ratio,
        no_repeat_ngram=no_repeat_ngram,
        allow_unknown=allow_unknown,
    )
    sources = encode_sources(
        texts, run.source_tokenizer, run.options.max_source_length, what=what, warn=warn
    )
    translations = decode(
        run.model,
        sources,
        run.target_tokenizer,
        max_target_length=run.options.max_target_length,
        **settings,
    )
    return [t if text.strip() else "" for text, t in zip(texts, translations, strict=True)]


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
    **decoding: Any,
) -> int:
    """Translate each line of ``data`` into the same line of ``output``; the number of lines."""
    run = load_run(run_dir)
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
    beam: int | None = None,
    length_penalty: float | None = None,
    max_length_ratio: float | None = None,
    no_repeat_ngram: int | None = None,
    allow_unknown: bool | None = None,
    warn: Warn = _warn_to_stderr,
) -> dict[str, Any]:
    """``bleu``, ``chrf``, ``exact_match`` and ``sentences`` of a run on a pairs file, decoding
    with the run's stored beam settings unless others are given."""
    run = load_run(run_dir)
    pairs = read_pairs(data, encoding)
    outputs = translate(
        run_dir,
        [s for s, _ in pairs],
        run=run,
        warn=warn,
        what=str(data),
        beam=beam,
        length_penalty=length_penalty,
        max_length_ratio=max_length_ratio,
        no_repeat_ngram=no_repeat_ngram,
        allow_unknown=allow_unknown,
    )
    return {**score_translations(outputs, [t for _, t in pairs]), "sentences": len(pairs)}


def plot_attention_of(
    run_dir: str | Path,
    text: str,
    path: str | Path,
    *,
    warn: Warn = _warn_to_stderr,
    **decoding: Any,
) -> str:
    """Translate ``text``, draw the attention of its translation into ``path`` (PNG), and return
    the translation. ``UserError`` for a run trained without attention."""
    from rnnkit.viz.attention import plot_attention

    run = load_run(run_dir)
    if run.model.attention is None:
        raise UserError(
            f"{run_dir} was trained with --attention none, so it has no attention to plot; "
            "drop --attention-plot."
        )
    settings = _decoding_settings(run, **decoding)
    allow_unknown = settings.pop("allow_unknown")
    sources = encode_sources(
        [text], run.source_tokenizer, run.options.max_source_length, what="--text", warn=warn
    )
    output = decode_ids(
        run.model,
        sources,
        max_target_length=run.options.max_target_length,
        forbidden_ids=forbidden_ids(run.target_tokenizer, allow_unknown),
        **settings,
    )[0]
    source = torch.tensor([sources[0]])
    weights = run.model.attention_weights(source, torch.tensor([len(sources[0])]), [output])[0]
    source_tokens = [run.source_tokenizer.id_to_token(i) for i in sources[0]]
    target_tokens = [run.target_tokenizer.id_to_token(i) for i in [*output, run.model.eos_id]]
    translation = run.target_tokenizer.decode(output)
    plot_attention(weights.numpy(), source_tokens, target_tokens, path, title=translation)
    return translation


# -------------------------------------------------------------------------------- description


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data and metrics of a translate run, as a nested dict."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    model_config = config.get("model", {})
    options = config.get("options", {})
    parameters = parameter_count(lambda: Seq2Seq.from_config(model_config))
    keys = [
        "cell", "embedding_size", "encoder_hidden", "encoder_layers", "bidirectional",
        "decoder_hidden", "decoder_layers", "attention", "input_feeding", "bridge", "dropout",
    ]  # fmt: skip
    description: dict[str, Any] = {
        "task": TASK,
        "run_dir": str(run_dir),
        "model": {**{k: model_config.get(k) for k in keys}, "parameters": parameters},
        "tokenizers": config.get("tokenizers", {}),
        "data": config.get("data", {}),
        "training": {
            k: options.get(k)
            for k in ("precision", "batch_size", "lr", "label_smoothing", "teacher_forcing")
        },
        "decoding": {
            k: options.get(k)
            for k in ("beam", "length_penalty", "max_length_ratio", "no_repeat_ngram")
        }
        | {"allow_unknown": options.get("allow_unknown", False)},
    }
    results = config.get("results", {})
    add_training_results(description, results)
    return description
