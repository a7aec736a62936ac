"""Language modelling: from a text file to a run directory that evaluates and generates text.

The Python API behind ``rnnkit train lm``, ``rnnkit generate``, and ``rnnkit evaluate`` / ``info``
on an lm run::

    from rnnkit.tasks import lm

    run_dir = lm.train(lm.LMOptions(data="input.txt", out="runs/shakespeare", time_limit="10m"))
    lm.evaluate(run_dir, "test.txt")          # {"loss", "perplexity", "bpc", "tokens"}
    for piece in lm.generate(run_dir, prime="ROMEO:", length=300, seed=0):
        print(piece, end="")

Training cuts the tokenized corpus into ``batch_size`` parallel streams read ``bptt`` tokens at a
time (truncated backpropagation through time: the recurrent state is carried from one chunk to the
next, detached). The validation text is the last ``val_fraction`` of the file unless ``val`` is
given, so validation never overlaps training text. Losses are in nats per token.

A run directory holds ``config.json`` (sections ``options``, ``model``, ``tokenizer``, ``data``,
and ``results`` once training ends), ``tokenizer.json``, ``model.safetensors``, ``metrics.csv``,
``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import INIT_SCHEMES
from rnnkit.data.readers import read_text
from rnnkit.data.streams import StreamBatches, check_stream_size
from rnnkit.data.tokenizers import TOKENIZER_KINDS, Tokenizer, load_tokenizer
from rnnkit.errors import UserError
from rnnkit.models import LanguageModel
from rnnkit.models.stepping import WEIGHTS
from rnnkit.tasks import lifecycle
from rnnkit.tasks.lifecycle import RNN_DESCRIPTION, Prepared, Run, Task
from rnnkit.tasks.options import TaskOptions, model_option, option
from rnnkit.tasks.search_space import (
    CELLS,
    TRAINING_SPACE,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
)
from rnnkit.tasks.tokenizing import (
    MIN_COUNT_HELP,
    TOKENIZER_HELP,
    VOCAB_SIZE_HELP,
    fit_tokenizer,
    tokenizer_settings,
)
from rnnkit.training import StepResult, preferred_precision
from rnnkit.training.distributed import is_main_process

TASK = "lm"
TOKENIZER_FILE = "tokenizer.json"
BATCHING = "Batching"

#: validation runs this many parallel streams (fewer on a small text): few streams means few
#: tokens scored without context at stream starts, so the figure is close to a single pass.
EVAL_STREAMS = 16
EVAL_CHUNK = 256


@dataclass
class LMOptions(TaskOptions):
    """Everything ``rnnkit train lm`` takes: data, tokenizer, model, batching, and training.

    The training fields (optimiser, schedule, budgets, checkpoints, ...) come from
    ``TrainOptions``, ``data``, ``out``, ``encoding`` and ``cell`` from ``TaskOptions``; the
    defaults below replace some of them for language modelling.
    """

    missing_data_message: ClassVar[str] = "no training text was given; pass --data FILE."
    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    data: Path | None = option(None, help="Training text file.")
    val: Path | None = option(
        None, help="Validation text (default: the last --val-fraction of --data)."
    )
    val_fraction: float = option(0.1, help="Share of --data kept for validation without --val.")
    tokenizer: Literal["char", "word", "bpe"] = option("char", help=TOKENIZER_HELP, fixed=True)
    vocab_size: int | None = option(None, help=VOCAB_SIZE_HELP, fixed=True)
    min_count: int | None = option(None, help=MIN_COUNT_HELP, fixed=True)
    embedding_size: int | None = model_option(None, help="Embedding width (default: --hidden).")
    # 384, not 512: in 10 CPU minutes on tiny Shakespeare 2 x 384 takes 1.5-2x the steps and
    # ended 0.013-0.024 nats/char lower on two CPUs (README); longer runs can afford more
    hidden: int = model_option(384, help="Hidden units per layer.")
    layers: int = model_option(2, help="Stacked recurrent layers.")
    dropout: float = model_option(0.1, help="Dropout on embeddings, between layers, on outputs.")
    embedding_dropout: float = model_option(
        0.0, help="Probability of dropping a whole token's embedding."
    )
    locked_dropout: bool = model_option(True, help="One dropout mask per sequence (variational).")
    weight_drop: float = model_option(0.0, help="DropConnect on the recurrent weights.")
    tie_weights: bool = model_option(False, help="Share the embedding with the output layer.")
    # torch's uniform scheme by default: in 100 steps of a 2 x 512 character LSTM it reached a
    # training loss 0.085 lower than the Xavier/orthogonal scheme
    init: str = model_option(
        "uniform",
        help="Cell weight initialisation: uniform (torch's) or xavier_orthogonal.",
    )
    # 64 streams and lr 3e-3 kept: on tiny Shakespeare 32 streams won by 0.20 nats/char and lr 5e-3
    # by 0.13 after 90 CPU s (more updates), but with both the margin over lm_quality.py's plain
    # loop after 10 CPU min was +0.022, no better than the 0.02-0.06 measured with these
    bptt: int = option(128, help="Steps per chunk of truncated BPTT.", panel=BATCHING, fixed=True)
    batch_size: int = option(64, help="Parallel streams per batch.", panel=BATCHING, fixed=True)
    sample_length: int = option(
        0, help="Show a sample this long at each validation.", panel=BATCHING
    )
    # TrainOptions defaults that suit language modelling
    lr: float = 3e-3
    schedule: str = "cosine"
    warmup_steps: int = 20  # short: a 10-minute CPU run may take only a few hundred steps
    min_lr: float = 3e-5
    weight_decay: float | None = 0.01
    eval_every: int | None = 500
    precision: str = field(default_factory=preferred_precision)

    #: what ``rnnkit tune lm`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "hidden": IntRange(128, 1024, log=True),
        "layers": IntRange(1, 3),
        "dropout": FloatRange(0.0, 0.5),
        "weight_drop": FloatRange(0.0, 0.5),
        "batch_size": Choice((32, 64, 128)),
    }

    def validate(self) -> LMOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_known("tokenizer", TOKENIZER_KINDS)
        self.require_whole_numbers("hidden", "layers", "bptt", "batch_size")
        self.require_whole_numbers("embedding_size", "vocab_size", "min_count", optional=True)
        self.require_whole_numbers("sample_length", at_least=0)
        self.require_rates("dropout", "embedding_dropout", "weight_drop")
        self.require_known("init", INIT_SCHEMES)
        self.require_fractions("val_fraction")
        return self


# ------------------------------------------------------------------------------------ training


class LanguageModelObjective:
    """Next-token cross-entropy over stream batches, carrying the state between chunks.

    Each epoch starts the streams at a random offset in ``[0, bptt)`` (drawn from the trainer's
    generator), so chunk boundaries fall in different places from one epoch to the next.
    """

    monitor = "loss"
    mode: Literal["min", "max"] = "min"

    def __init__(
        self,
        train_ids: Tensor,
        val_ids: Tensor | None,
        *,
        batch_size: int,
        bptt: int,
        report_bpc: bool,
        train_name: str = "the training text",
        sample: Callable[[nn.Module], None] | None = None,
    ) -> None:
        check_stream_size(train_ids.numel(), batch_size, bptt, train_name)
        self.train_ids, self.val_ids = train_ids, val_ids
        self.batch_size, self.bptt = batch_size, bptt
        self.report_bpc = report_bpc
        self.sample = sample
        # Largest offset that still leaves one full batch; every epoch yields the same count.
        self.max_offset = min(bptt - 1, train_ids.numel() - batch_size * (bptt + 1))
        self.num_batches = StreamBatches(
            train_ids[self.max_offset :], batch_size, bptt, drop_last=True, name=train_name
        ).num_batches

    def batches_per_epoch(self) -> int:
        return self.num_batches

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        offset = int(torch.randint(self.max_offset + 1, (1,), generator=generator))
        streams = StreamBatches(self.train_ids[offset:], self.batch_size, self.bptt, drop_last=True)
        for index in range(self.num_batches):
            inputs, targets = streams.batch(index)
            yield {"inputs": inputs, "targets": targets}

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        logits, state = model(batch["inputs"], carry)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten())
        return StepResult(loss=loss, items=batch["targets"].numel(), carry=state)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.val_ids is None:
            return {}
        total, count = stream_loss(model, self.val_ids)
        metrics = loss_metrics(total / count, self.report_bpc)
        if self.sample is not None:
            self.sample(model)
        return metrics


class LanguageModelTask(Task[LMOptions]):
    """The lm task: a text file, a tokenizer fitted on it, a ``LanguageModel``."""

    name = TASK
    options_class = LMOptions
    summary = "Train a recurrent language model on a text file."
    artifact_files = (TOKENIZER_FILE,)
    described_training_options = ("precision", "batch_size", "bptt", "lr", "schedule")
    described_model = {
        **RNN_DESCRIPTION,
        "embedding": "embedding_size",
        "tie_weights": "tie_weights",
        "dropout": "dropout",
    }

    def __init__(self, on_sample: Callable[[str], None] | None = None) -> None:
        self.on_sample = on_sample

    def prepare(self, options: LMOptions, resumed: Run | None) -> Prepared:
        corpus = _prepare_corpus(options, resumed)
        sampler = None
        if options.sample_length > 0:
            show = self.on_sample or _print_sample
            sampler = _training_sampler(corpus.tokenizer, corpus.prime, options.sample_length, show)
        objective = LanguageModelObjective(  # checks that the text fills one batch
            corpus.train_ids,
            corpus.val_ids,
            batch_size=options.batch_size,
            bptt=options.bptt,
            report_bpc=corpus.tokenizer.kind == "char",
            train_name=corpus.train_name,
            sample=sampler,
        )
        tokenizer = corpus.tokenizer
        return Prepared(
            model=build_model(options, tokenizer.vocab_size),
            objective=objective,
            sections={
                "tokenizer": {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size},
                "data": corpus.description(options),
            },
            artifacts={TOKENIZER_FILE: tokenizer.to_dict()},
        )

    def model_from_config(self, model_config: dict[str, Any]) -> LanguageModel:
        return LanguageModel.from_config(model_config)

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Loss (nats per token), perplexity, bpc (char tokenizer) and token count of a file."""
        model, tokenizer = self.load(run)
        ids = torch.tensor(tokenizer.encode(read_text(data, encoding)), dtype=torch.long)
        if ids.numel() < 2:
            raise UserError(f"{data} has {ids.numel()} token; give at least two to score one.")
        total, count = stream_loss(model, ids)
        return {**loss_metrics(total / count, tokenizer.kind == "char"), "tokens": count}

    def load(self, run: Run) -> tuple[LanguageModel, Tokenizer]:
        """The trained model (eval mode, CPU) and tokenizer of an lm run; checked."""
        tokenizer = load_tokenizer(run.path)
        model = self.load_model(run)
        run.require_fit(TOKENIZER_FILE, "tokens", tokenizer.vocab_size, model.vocab_size)
        return model, tokenizer

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key != "default_prime"}

    def describe_more(self, run: Run) -> dict[str, Any]:
        return {"tokenizer": run.config.get("tokenizer", {})}


TASK_SPEC = LanguageModelTask()


def train(options: LMOptions, *, on_sample: Callable[[str], None] | None = None) -> Path:
    """Train a language model as ``options`` say; return the run directory.

    ``on_sample`` receives the text sampled at each validation when ``options.sample_length > 0``
    (default: printed to stderr). Every check of the user's input runs before anything is
    written, so a refused run leaves the run directory as it was.
    """
    return lifecycle.train(LanguageModelTask(on_sample), options)


@dataclass
class _Corpus:
    """The training and validation text as token ids, with the tokenizer that made them."""

    tokenizer: Tokenizer
    train_ids: Tensor  # (N,)
    val_ids: Tensor | None  # (M,)
    train_name: str  # how messages name the training text
    train_characters: int
    prime: str  # what generation starts from when given no prime

    def description(self, options: LMOptions) -> dict[str, Any]:
        """The ``data`` section of config.json."""
        return {
            "train_file": str(options.data),
            "val_file": str(options.val) if options.val is not None else None,
            "val_fraction": None if options.val is not None else options.val_fraction,
            "train_tokens": int(self.train_ids.numel()),
            "val_tokens": int(self.val_ids.numel()) if self.val_ids is not None else 0,
            "train_characters": self.train_characters,
            "default_prime": self.prime,
        }


def _prepare_corpus(options: LMOptions, resumed: Run | None) -> _Corpus:
    """Read and split the text, fit the tokenizer (or load the resumed run's), encode both parts."""
    train_text, val_text, train_name = _read_corpora(options)
    if resumed is not None:
        tokenizer = load_tokenizer(resumed.path)
    else:
        tokenizer = _fit_tokenizer(options, train_text)
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long) if val_text else None
    if val_ids is not None and val_ids.numel() < 2:
        raise UserError(
            f"the validation text ({_val_name(options)}) has {val_ids.numel()} tokens; "
            "give a longer --val file or a larger --val-fraction."
        )
    prime = "\n" if "\n" in train_text else train_text[0]
    return _Corpus(tokenizer, train_ids, val_ids, train_name, len(train_text), prime)


def build_model(options: LMOptions, vocab_size: int) -> LanguageModel:
    """The ``LanguageModel`` that ``options`` describe, for a vocabulary of ``vocab_size``."""
    return LanguageModel(
        vocab_size,
        embedding_size=options.embedding_size or options.hidden,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        dropout=options.dropout,
        embedding_dropout=options.embedding_dropout,
        locked_dropout=options.locked_dropout,
        weight_drop=options.weight_drop,
        tie_weights=options.tie_weights,
        init=options.init,
    )


def _read_corpora(options: LMOptions) -> tuple[str, str, str]:
    """(training text, validation text, how to name the training text in messages)."""
    text = read_text(options.data, options.encoding)
    if options.val is not None:
        return text, read_text(options.val, options.encoding), str(options.data)
    cut = int(len(text) * (1.0 - options.val_fraction))
    percent = round(100 * (1.0 - options.val_fraction))
    name = f"{options.data} (its first {percent}%, the rest is for validation)"
    return text[:cut], text[cut:], name


def _val_name(options: LMOptions) -> str:
    if options.val is not None:
        return str(options.val)
    return f"the last {options.val_fraction:.0%} of {options.data}"


def _fit_tokenizer(options: LMOptions, text: str) -> Tokenizer:
    if options.tokenizer == "char" and (
        options.vocab_size is not None or options.min_count is not None
    ):
        raise UserError(
            "--vocab-size and --min-count apply to --tokenizer word or bpe, not char; drop them."
        )
    settings = tokenizer_settings(
        options.tokenizer, vocab_size=options.vocab_size, min_count=options.min_count
    )
    return fit_tokenizer(options.tokenizer, text, settings)


def _print_sample(text: str) -> None:
    print(f"--- sample ---\n{text}\n--------------", file=sys.stderr, flush=True)


def _training_sampler(
    tokenizer: Tokenizer, prime: str, length: int, show: Callable[[str], None]
) -> Callable[[nn.Module], None]:
    """A function that samples ``length`` tokens from the model being trained and shows them.

    It draws from its own seeded generator, so showing samples changes nothing in training.
    """

    def sample(model: nn.Module) -> None:
        if not is_main_process():
            return
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(0)
        prime_ids = tokenizer.encode(prime)
        ids = model.generate(prime_ids, length, temperature=0.8, generator=generator)
        show(prime.lstrip("\n") + "".join(stream_text(ids, TextStream(tokenizer, prime_ids))))

    return sample


# ---------------------------------------------------------------------------------- evaluation


def stream_loss(model: nn.Module, ids: Tensor) -> tuple[float, int]:
    """Summed next-token loss (nats) over ``ids (N,)`` and the number of tokens it scores.

    The text is read as up to ``EVAL_STREAMS`` parallel streams in chunks of ``EVAL_CHUNK``, the
    state carried across chunks. Runs in the model's current mode and precision context.
    """
    count = ids.numel()
    streams = max(1, min(EVAL_STREAMS, count // 2))
    chunk = max(1, min(EVAL_CHUNK, count // streams - 1))
    batches = StreamBatches(ids, streams, chunk)
    device = next(model.parameters()).device
    total, scored, state = 0.0, 0, None
    with torch.no_grad():
        for inputs, targets in batches:
            logits, state = model(inputs.to(device), state)
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1).float(), targets.to(device).flatten(), reduction="sum"
                )
            )
            scored += targets.numel()
    return total, scored


def loss_metrics(loss: float, report_bpc: bool) -> dict[str, float]:
    """``loss`` (nats per token), ``perplexity`` and, for characters, ``bpc`` (bits per char)."""
    metrics = {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}
    if report_bpc:
        metrics["bpc"] = loss / math.log(2)
    return metrics


def load_run(run_dir: str | Path) -> tuple[LanguageModel, Tokenizer, dict[str, Any]]:
    """The trained model (eval mode, CPU), tokenizer and config of an lm run; checked."""
    run = TASK_SPEC.open(run_dir)
    return (*TASK_SPEC.load(run), run.config)


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Loss (nats per token), perplexity, bpc (char tokenizer) and token count of a text file."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), encoding=encoding)


# ---------------------------------------------------------------------------------- generation


class TextStream:
    """Turns ids into text one id at a time, for any tokenizer.

    Each new id's text is what decoding grows by when the id is appended to the last few ids
    (starting with those of the prime, so that a word tokenizer puts the right space before the
    first new word). An id whose text is not yet complete (a byte-level BPE token holding part of
    a UTF-8 character decodes to U+FFFD) is held back until the next ids complete it.
    """

    CONTEXT = 8

    def __init__(self, tokenizer: Tokenizer, context: list[int] | None = None) -> None:
        self.tokenizer = tokenizer
        self.context: list[int] = list(context or [])[-self.CONTEXT :]
        self.pending: list[int] = []

    def feed(self, token_id: int) -> str:
        """The text that ``token_id`` adds (possibly empty, if held back)."""
        self.pending.append(token_id)
        before = self.tokenizer.decode(self.context)
        after = self.tokenizer.decode(self.context + self.pending)
        complete = after.startswith(before) and not after.endswith("\ufffd")
        if not complete and len(self.pending) < self.CONTEXT:
            return ""
        self.context = (self.context + self.pending)[-self.CONTEXT :]
        self.pending = []
        return after[len(before) :] if after.startswith(before) else after

    def flush(self) -> str:
        """Whatever is still held back."""
        if not self.pending:
            return ""
        text = self.tokenizer.decode(self.context + self.pending)
        held = text[len(self.tokenizer.decode(self.context)) :]
        self.pending = []
        return held


def generate(
    run_dir: str | Path,
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    weights: str = "float32",
) -> Iterator[str]:
    """Yield the text of ``length`` sampled tokens continuing ``prime``, piece by piece.

    The prime itself is not yielded. Characters or words of the prime that the tokenizer never
    saw map to its unknown token; tokens that never occur in training text (padding, begin and
    end markers) are never generated. ``seed`` makes the sample reproducible; None draws a fresh
    one each time. ``temperature`` 0 is greedy; ``top_k`` 0 and ``top_p`` 1 switch those filters
    off. ``weights`` ``"bf16"`` or ``"int8"`` samples from the model with its weight matrices
    rounded to that precision (faster; ``LanguageModel.generate``).
    """
    check_sampling(length, temperature, top_k, top_p)
    if weights not in WEIGHTS:
        raise UserError(f"--weights must be one of {', '.join(WEIGHTS)}, got {weights!r}.")
    model, tokenizer, config = load_run(run_dir)
    prepare_for_sampling(model, tokenizer)
    prime_ids = encode_prime(tokenizer, config, prime)
    generator = seeded_generator(seed)
    ids = model.generate(prime_ids, length, temperature, top_k, top_p, generator, weights)
    return stream_text(ids, TextStream(tokenizer, context=prime_ids))


def check_sampling(length: int, temperature: float, top_k: int, top_p: float) -> None:
    """``UserError`` naming the first sampling setting out of its range."""
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}.")
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}.")
    if top_k < 0:
        raise UserError(f"--top-k must be >= 0 (0 keeps every token), got {top_k}.")
    if not 0.0 < top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1] (1 keeps every token), got {top_p}.")


def prepare_for_sampling(model: LanguageModel, tokenizer: Tokenizer) -> None:
    """Make ``model`` (loaded for generation) never sample the tokens absent from training."""
    _never_generate(model, _absent_from_training(tokenizer))


def encode_prime(tokenizer: Tokenizer, config: dict[str, Any], prime: str) -> list[int]:
    """The ids generation starts from: ``prime``'s, or the run's default prime when it is empty."""
    prime_ids = tokenizer.encode(prime)
    if not prime_ids:
        default = config.get("data", {}).get("default_prime") or "\n"
        prime_ids = tokenizer.encode(default) or [tokenizer.unk_id]
    return prime_ids


def seeded_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed``, or freshly at random when it is None."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def validation_text(run: Run) -> str:
    """The validation text an lm run was trained with (``UserError`` when its file is gone)."""
    options = run.options(LMOptions)
    if options.data is None:
        raise UserError(f"{run.path} names no training text to take validation text from.")
    return _read_corpora(options)[1]


def _absent_from_training(tokenizer: Tokenizer) -> list[int]:
    """Ids that never occur in tokenized training text: padding, begin/end markers, and the
    unknown token for tokenizers whose vocabulary covers all of their training text."""
    ids = [tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id]
    if tokenizer.kind in ("char", "bpe"):
        ids.append(tokenizer.unk_id)
    return ids


def _never_generate(model: LanguageModel, token_ids: list[int]) -> None:
    """Give ``token_ids`` a logit of -inf (through the output bias), so sampling never picks them.

    A trained model gives them almost no probability anyway; an undertrained one would otherwise
    spend part of its sample on tokens that decode to nothing.
    """
    with torch.no_grad():
        model.decoder.bias[token_ids] = float("-inf")


def stream_text(ids: Iterator[int], stream: TextStream) -> Iterator[str]:
    """The text of ``ids`` piece by piece, as ``stream`` completes it."""
    for token_id in ids:
        piece = stream.feed(token_id)
        if piece:
            yield piece
    rest = stream.flush()
    if rest:
        yield rest


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data and metrics of an lm run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
