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
from rnnkit.tasks.describing import add_training_results, parameter_count
from rnnkit.tasks.options import TaskOptions
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
    resolve_device,
    seed_everything,
    write_config,
)
from rnnkit.training.distributed import is_main_process

TASK = "lm"

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

    # data (``data`` is the training text)
    val: Path | None = None  # validation text; None: the last val_fraction of data
    val_fraction: float = 0.1
    # tokenizer
    tokenizer: Literal["char", "word", "bpe"] = "char"
    vocab_size: int | None = None  # word: most frequent words kept; bpe: merges' target size
    min_count: int | None = None  # word: rarer words are unknown; bpe: rarer pairs not merged
    # model
    embedding_size: int | None = None  # None: the hidden size
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.1
    embedding_dropout: float = 0.0
    locked_dropout: bool = True
    weight_drop: float = 0.0
    tie_weights: bool = False
    # the cells' weights: torch's uniform scheme (DESIGN.md's Xavier/orthogonal is the other
    # choice); in 100 steps of a 2 x 512 character LSTM it reached a training loss 0.085 lower
    init: str = "uniform"
    # batching (truncated BPTT)
    bptt: int = 128
    batch_size: int = 64
    # a sample of this many tokens is shown (stderr) at each validation; 0: none
    sample_length: int = 0
    # TrainOptions defaults that suit language modelling
    lr: float = 3e-3
    schedule: str = "cosine"
    warmup_steps: int = 20  # short: a 10-minute CPU run may take only a few hundred steps
    min_lr: float = 3e-5
    weight_decay: float | None = 0.01
    eval_every: int | None = 500
    precision: str = field(default_factory=preferred_precision)

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

    def model_options(self) -> dict[str, Any]:
        """The options that decide the model's shape and regularisation (fixed on resume)."""
        return {
            "tokenizer": self.tokenizer,
            "vocab_size": self.vocab_size,
            "min_count": self.min_count,
            "cell": self.cell,
            "embedding_size": self.embedding_size,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "embedding_dropout": self.embedding_dropout,
            "locked_dropout": self.locked_dropout,
            "weight_drop": self.weight_drop,
            "tie_weights": self.tie_weights,
            "init": self.init,
            "bptt": self.bptt,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }


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


def train(options: LMOptions, *, on_sample: Callable[[str], None] | None = None) -> Path:
    """Train a language model as ``options`` say; return the run directory.

    ``on_sample`` receives the text sampled at each validation when ``options.sample_length > 0``
    (default: printed to stderr). Every check of the user's input runs before anything is
    written, so a refused run leaves no half-made run directory behind.
    """
    options.validate()
    resolve_device(options.device)  # fail on a missing GPU before anything is written
    out = Path(options.out)
    corpus = _prepare_corpus(options)
    sampler = None
    if options.sample_length > 0:
        show = on_sample or _print_sample
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
    seed_everything(options.seed)  # the initial weights follow the run's seed
    model = build_model(options, corpus.tokenizer.vocab_size)
    sections = {
        "options": options,
        "model": model.config(),
        "tokenizer": {"kind": corpus.tokenizer.kind, "vocab_size": corpus.tokenizer.vocab_size},
        "data": corpus.description(options),
    }
    if is_main_process():
        write_config(out, TASK, **sections)
        corpus.tokenizer.save(out)
    result = Trainer(model, objective, options.train_options(), out).fit()
    if is_main_process():
        write_config(out, TASK, **sections, results=_jsonable_results(result))
    return out


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


def _prepare_corpus(options: LMOptions) -> _Corpus:
    """Read and split the text, fit the tokenizer (or load the resumed run's), encode both parts."""
    train_text, val_text, train_name = _read_corpora(options)
    # Under torchrun only rank 0 refuses an existing run: the others could see the config it
    # just wrote.
    stored = stored_config(Path(options.out), options.resume, TASK, refuse=is_main_process())
    if stored is not None:
        check_resumable(stored, options, Path(options.out))
        tokenizer = load_tokenizer(options.out)
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


def _jsonable_results(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if not isinstance(value, Tensor)}


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
        show(prime.lstrip("\n") + "".join(_stream_text(ids, TextStream(tokenizer, prime_ids))))

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
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    tokenizer = load_tokenizer(run_dir)
    model_config = config.get("model")
    try:
        if not isinstance(model_config, dict):
            raise ValueError("it is missing")
        model = LanguageModel.from_config(model_config)
    except (ValueError, TypeError) as error:
        raise UserError(
            f"{run_dir / CONFIG_FILE} has an unusable 'model' section ({error}); "
            "train the run again."
        ) from None
    if model.vocab_size != tokenizer.vocab_size:
        raise UserError(
            f"{run_dir} has a tokenizer of {tokenizer.vocab_size} tokens but a model of "
            f"{model.vocab_size}; the run is damaged, train it again."
        )
    load_weights(model, run_dir / WEIGHTS_FILE)
    return model.eval(), tokenizer, config


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Loss (nats per token), perplexity, bpc (char tokenizer) and token count of a text file."""
    model, tokenizer, _ = load_run(run_dir)
    ids = torch.tensor(tokenizer.encode(read_text(data, encoding)), dtype=torch.long)
    if ids.numel() < 2:
        raise UserError(f"{data} has {ids.numel()} token; give at least two to score one.")
    total, count = stream_loss(model, ids)
    return {**loss_metrics(total / count, tokenizer.kind == "char"), "tokens": count}


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
) -> Iterator[str]:
    """Yield the text of ``length`` sampled tokens continuing ``prime``, piece by piece.

    The prime itself is not yielded. Characters or words of the prime that the tokenizer never
    saw map to its unknown token; tokens that never occur in training text (padding, begin and
    end markers) are never generated. ``seed`` makes the sample reproducible; None draws a fresh
    one each time. ``temperature`` 0 is greedy; ``top_k`` 0 and ``top_p`` 1 switch those filters
    off.
    """
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}.")
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}.")
    if top_k < 0:
        raise UserError(f"--top-k must be >= 0 (0 keeps every token), got {top_k}.")
    if not 0.0 < top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1] (1 keeps every token), got {top_p}.")
    model, tokenizer, config = load_run(run_dir)
    _never_generate(model, _absent_from_training(tokenizer))
    prime_ids = tokenizer.encode(prime)
    if not prime_ids:
        default = config.get("data", {}).get("default_prime") or "\n"
        prime_ids = tokenizer.encode(default) or [tokenizer.unk_id]
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    ids = model.generate(prime_ids, length, temperature, top_k, top_p, generator)
    return _stream_text(ids, TextStream(tokenizer, context=prime_ids))


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


def _stream_text(ids: Iterator[int], stream: TextStream) -> Iterator[str]:
    for token_id in ids:
        piece = stream.feed(token_id)
        if piece:
            yield piece
    rest = stream.flush()
    if rest:
        yield rest


# -------------------------------------------------------------------------------- description


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data and metrics of an lm run, as a nested dict."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    model_config = config.get("model", {})
    options = config.get("options", {})
    parameters = parameter_count(lambda: LanguageModel.from_config(model_config))
    results = config.get("results", {})
    description: dict[str, Any] = {
        "task": TASK,
        "run_dir": str(run_dir),
        "model": {
            "cell": model_config.get("cell"),
            "layers": model_config.get("num_layers"),
            "hidden": model_config.get("hidden_size"),
            "embedding": model_config.get("embedding_size"),
            "tie_weights": model_config.get("tie_weights"),
            "dropout": model_config.get("dropout"),
            "parameters": parameters,
        },
        "tokenizer": config.get("tokenizer", {}),
        "data": {k: v for k, v in config.get("data", {}).items() if k != "default_prime"},
        "training": {
            "precision": options.get("precision"),
            "batch_size": options.get("batch_size"),
            "bptt": options.get("bptt"),
            "lr": options.get("lr"),
            "schedule": options.get("schedule"),
        },
    }
    add_training_results(description, results)
    return description
