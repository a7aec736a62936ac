"""Sequence tagging: a CoNLL file (``token<TAB>tag``) -> a run that tags every token.

The Python API behind ``rnnkit train tag``, ``rnnkit predict`` and ``rnnkit evaluate`` / ``info``
on a tag run::

    from rnnkit.tasks import tag

    run = tag.train(tag.TagOptions(data="train.conll", val="dev.conll", out="runs/ner"))
    tag.evaluate(run, "test.conll")           # token accuracy; entity precision/recall/F1 (BIO)
    tag.predict_texts(run, ["EU rejects German call"])   # [[("EU", "B-ORG"), ...]]

The model, ``SequenceTagger``, reads word embeddings plus (``char_features``) a character-level
RNN's summary of each word, so words never seen in training still get a useful representation.
Words are kept as written for the character features and lowercased (``lowercase``) for the word
vocabulary. When every tag is ``O``, ``B-X`` or ``I-X`` the monitored metric is the entity-level
F1, otherwise token accuracy.

A run directory holds ``config.json``, ``vocab.json`` (words, characters, tags: the artifact,
fitted on the training sentences when the run starts and read back when it resumes),
``model.safetensors``, ``metrics.csv``, ``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.conll import TaggedSentence, read_conll
from rnnkit.data.readers import read_json_file
from rnnkit.data.writers import write_output
from rnnkit.errors import UserError
from rnnkit.metrics.classification import entity_metrics, is_bio
from rnnkit.models.tagger import SequenceTagger
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
from rnnkit.training import StepResult

TASK = "tag"
VOCAB_FILE = "vocab.json"
PAD, UNK = "<pad>", "<unk>"
EVAL_BATCH = 128


@dataclass
class TagOptions(TaskOptions):
    """Everything ``rnnkit train tag`` takes: data, vocabulary, model and training."""

    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")

    data: Path | None = option(None, help="CoNLL training file: token<TAB>tag lines.")
    val: Path | None = option(None, help="CoNLL validation file (default: the last sentences).")
    # fixed: another share would validate on sentences the run has trained on
    val_fraction: float = option(0.1, help="Share of sentences held out without --val.", fixed=True)
    lowercase: bool = option(True, help="Lowercase words for the word vocabulary.", fixed=True)
    # a rarer word is unknown, though its characters still count
    min_count: int = option(1, help="Rarer words are unknown.", fixed=True)
    char_features: bool = model_option(True, help="Add character-level RNN features.")
    embedding_size: int = model_option(100, help="Word embedding width.")
    hidden: int = model_option(128, help="Hidden units per direction.")
    layers: int = model_option(1, help="Stacked recurrent layers.")
    char_embedding_size: int = model_option(25, help="Character embedding width.")
    char_hidden: int = model_option(25, help="Character RNN hidden units.")
    dropout: float = model_option(0.3, help="Dropout on word features and before the head.")
    # fixed: the batches of an epoch, and so where a resumed epoch continues, depend on it
    batch_size: int = model_option(16, help="Sentences per batch (bucketed by length).")
    # TrainOptions defaults that suit tagging
    lr: float = 3e-3
    epochs: int | None = 10

    #: what ``rnnkit tune tag`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "embedding_size": IntRange(32, 200, log=True),
        "hidden": IntRange(32, 256, log=True),
        "layers": IntRange(1, 2),
        "dropout": FloatRange(0.0, 0.6),
        "batch_size": Choice((8, 16, 32)),
    }

    def validate(self) -> TagOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_whole_numbers(
            "min_count",
            "embedding_size",
            "hidden",
            "layers",
            "char_embedding_size",
            "char_hidden",
            "batch_size",
        )
        self.require_rates("dropout")
        self.require_fractions("val_fraction")
        return self


# ---------------------------------------------------------------------------------- vocabulary


@dataclass
class TagVocabulary:
    """Words, characters and tags, each a list whose index is the id (words and characters
    start with ``<pad>`` 0 and ``<unk>`` 1)."""

    words: list[str]
    chars: list[str]
    tags: list[str]
    lowercase: bool = True

    def __post_init__(self) -> None:
        self._word_ids = {w: i for i, w in enumerate(self.words)}
        self._char_ids = {c: i for i, c in enumerate(self.chars)}
        self._tag_ids = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def build(
        cls, sentences: Sequence[TaggedSentence], *, lowercase: bool, min_count: int
    ) -> TagVocabulary:
        """Fit on training sentences: words seen ``min_count`` times or more (most frequent
        first), every character, every tag (sorted)."""
        words: Counter[str] = Counter()
        chars: set[str] = set()
        tags: set[str] = set()
        for sentence in sentences:
            words.update(t.lower() if lowercase else t for t in sentence.tokens)
            for token in sentence.tokens:
                chars.update(token)
            tags.update(sentence.tags)
        kept = [w for w, n in words.most_common() if n >= min_count]
        return cls([PAD, UNK, *kept], [PAD, UNK, *sorted(chars)], sorted(tags), lowercase)

    def word_ids(self, tokens: Sequence[str]) -> Tensor:
        """Word ids ``(T,)`` of ``tokens``; unknown words get ``<unk>``."""
        lookup = self._word_ids
        return torch.tensor(
            [lookup.get(t.lower() if self.lowercase else t, 1) for t in tokens], dtype=torch.long
        )

    def char_ids(self, tokens: Sequence[str]) -> list[Tensor]:
        """One tensor ``(C_t,)`` of character ids per token; unknown characters get ``<unk>``."""
        return [
            torch.tensor([self._char_ids.get(c, 1) for c in t], dtype=torch.long) for t in tokens
        ]

    def tag_ids(self, tags: Sequence[str], path: Path) -> Tensor:
        """Tag ids ``(T,)``; ``UserError`` naming ``path`` for a tag the vocabulary lacks."""
        unknown = [t for t in tags if t not in self._tag_ids]
        if unknown:
            raise UserError(
                f"{path} has tag {unknown[0]!r}, which never occurs in the training data; add "
                "training sentences with it or fix the tag."
            )
        return torch.tensor([self._tag_ids[t] for t in tags], dtype=torch.long)

    def to_dict(self) -> dict[str, Any]:
        """The vocabulary as a JSON-ready dict (the content of ``vocab.json``)."""
        return {
            "words": list(self.words),
            "chars": list(self.chars),
            "tags": list(self.tags),
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TagVocabulary:
        """The vocabulary ``to_dict`` describes; ``KeyError``/``TypeError``/``ValueError`` when
        ``data`` is not one."""
        for key in ("words", "chars", "tags"):
            entries = data[key]
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ValueError(f"{key!r} is not a list of strings")
        if not isinstance(data["lowercase"], bool):
            raise ValueError("'lowercase' is not true or false")
        return cls(list(data["words"]), list(data["chars"]), list(data["tags"]), data["lowercase"])

    def save(self, path: Path) -> None:
        """Write the vocabulary to ``path`` as a run's ``vocab.json`` is written."""
        lifecycle.write_artifacts(path.parent, {path.name: self.to_dict()})

    @classmethod
    def load(cls, path: Path) -> TagVocabulary:
        """Read a ``vocab.json``; ``UserError`` naming ``path`` when it is missing or damaged."""
        return read_json_file(path, cls.from_dict, "tag vocabulary")


@dataclass
class EncodedSentence:
    """A sentence as ids: ``words (T,)``, one ``(C_t,)`` per word in ``chars``, ``tags (T,)``
    (None for a sentence to predict)."""

    words: Tensor
    chars: list[Tensor]
    tags: Tensor | None


def encode(
    sentences: Sequence[TaggedSentence], vocab: TagVocabulary, path: Path
) -> list[EncodedSentence]:
    """The sentences as ids; ``path`` names the file in the error for an unknown tag."""
    return [
        EncodedSentence(
            vocab.word_ids(s.tokens),
            vocab.char_ids(s.tokens),
            vocab.tag_ids(s.tags, path) if s.tags else None,
        )
        for s in sentences
    ]


def make_batch(sentences: Sequence[EncodedSentence]) -> dict[str, Tensor]:
    """Padded ``words (B, T)``, ``lengths (B,)``, ``chars (B, T, C)``, ``char_lengths (B, T)``
    and, when every sentence has tags, ``tags (B, T)`` padded with -100 (ignored by the loss)."""
    words, lengths = pad_sequences([s.words for s in sentences])
    longest_word = max(len(c) for s in sentences for c in s.chars)
    chars = torch.zeros(len(sentences), words.shape[1], longest_word, dtype=torch.long)
    char_lengths = torch.zeros(len(sentences), words.shape[1], dtype=torch.long)
    for row, sentence in enumerate(sentences):
        for column, word in enumerate(sentence.chars):
            chars[row, column, : len(word)] = word
            char_lengths[row, column] = len(word)
    batch = {"words": words, "lengths": lengths, "chars": chars, "char_lengths": char_lengths}
    if all(s.tags is not None for s in sentences):
        batch["tags"] = pad_sequences([s.tags for s in sentences], padding_value=-100)[0]
    return batch


def run_model(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Tag logits ``(B, T, K)`` of a batch."""
    return model(batch["words"], batch["lengths"], batch["chars"], batch["char_lengths"])


def predict_tag_ids(model: nn.Module, sentences: Sequence[EncodedSentence]) -> list[list[int]]:
    """The most likely tag id of every token of every sentence, in input order."""
    device = next(model.parameters()).device
    results: list[list[int]] = [[] for _ in sentences]
    with torch.no_grad():
        for indices in bucket_batches([len(s.words) for s in sentences], EVAL_BATCH, shuffle=False):
            batch = make_batch([sentences[i] for i in indices])
            batch = {k: v.to(device) if k != "lengths" else v for k, v in batch.items()}
            best = run_model(model, batch).argmax(dim=-1).cpu()
            for row, index in enumerate(indices):
                results[index] = best[row, : len(sentences[index].words)].tolist()
    return results


def tagging_metrics(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], bio: bool
) -> dict[str, float]:
    """``accuracy`` over tokens, and for BIO tags entity ``precision``, ``recall`` and ``f1``."""
    pairs = [
        (t, p) for ts, ps in zip(truth, predicted, strict=True) for t, p in zip(ts, ps, strict=True)
    ]
    metrics = {"accuracy": sum(t == p for t, p in pairs) / max(1, len(pairs))}
    if bio:
        metrics.update(entity_metrics(truth, predicted))
    return metrics


class TaggingObjective:
    """Token cross-entropy over length-bucketed batches; validation token accuracy and entity F1."""

    mode: Literal["min", "max"] = "max"

    def __init__(
        self,
        train: list[EncodedSentence],
        val: list[EncodedSentence] | None,
        vocab: TagVocabulary,
        *,
        batch_size: int,
    ) -> None:
        self.train, self.val, self.vocab = train, val, vocab
        self.batch_size = batch_size
        self.bio = is_bio(vocab.tags)
        self.monitor = "f1" if self.bio else "accuracy"
        self.lengths = [len(s.words) for s in train]

    def batches_per_epoch(self) -> int:
        return len(bucket_batches(self.lengths, self.batch_size, torch.Generator().manual_seed(0)))

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        for indices in bucket_batches(self.lengths, self.batch_size, generator):
            yield make_batch([self.train[i] for i in indices])

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        logits = run_model(model, batch)
        tags = batch["tags"]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tags.flatten(), ignore_index=-100)
        return StepResult(loss=loss, items=int((tags != -100).sum()))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.val:
            return {}
        predicted = predict_tag_ids(model, self.val)
        names = self.vocab.tags
        truth = [[names[i] for i in s.tags.tolist()] for s in self.val]
        guesses = [[names[i] for i in p] for p in predicted]
        return tagging_metrics(truth, guesses, self.bio)


# ---------------------------------------------------------------------------------- the task


class TaggingTask(Task[TagOptions]):
    """The tag task: a CoNLL file, a ``TagVocabulary`` fitted on it, a ``SequenceTagger``."""

    name = TASK
    options_class = TagOptions
    summary = "Train a tagger (one tag per token) on a CoNLL file."
    artifact_files = (VOCAB_FILE,)

    def prepare(self, options: TagOptions, resumed: Run | None) -> Prepared:
        train_sentences, val_sentences, val_path = _read_sentences(options)
        if resumed is not None:
            vocab = TagVocabulary.load(resumed.file(VOCAB_FILE))
        else:
            vocab = TagVocabulary.build(
                train_sentences, lowercase=options.lowercase, min_count=options.min_count
            )
        if len(vocab.tags) < 2:
            raise UserError(
                f"{options.data} uses a single tag ({vocab.tags[0]!r}); "
                "a tagger needs at least two."
            )
        train_encoded = encode(train_sentences, vocab, options.data)
        val_encoded = encode(val_sentences, vocab, val_path)
        data = {
            "train_file": str(options.data),
            "val_file": str(options.val) if options.val is not None else None,
            "train_sentences": len(train_encoded),
            "val_sentences": len(val_encoded),
            "tags": vocab.tags,
            "words": len(vocab.words),
        }
        return Prepared(
            model=build_model(options, vocab),
            objective=TaggingObjective(
                train_encoded, val_encoded, vocab, batch_size=options.batch_size
            ),
            sections={"data": data},
            artifacts={VOCAB_FILE: vocab.to_dict()},
        )

    def model_from_config(self, model_config: dict[str, Any]) -> SequenceTagger:
        return SequenceTagger.from_config(model_config)

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Token ``accuracy`` and, for BIO tags, entity ``precision``, ``recall`` and ``f1``;
        plus the counts of ``sentences`` and ``tokens``."""
        model, vocab = self.load(run)
        sentences = read_conll(data, encoding=encoding)
        predicted = predict_tag_ids(model, encode(sentences, vocab, Path(data)))
        guesses = [[vocab.tags[i] for i in p] for p in predicted]
        metrics: dict[str, Any] = tagging_metrics(
            [s.tags for s in sentences], guesses, is_bio(vocab.tags)
        )
        metrics["sentences"] = len(sentences)
        metrics["tokens"] = sum(len(s.tokens) for s in sentences)
        return metrics

    def load(self, run: Run) -> tuple[SequenceTagger, TagVocabulary]:
        """The trained model (eval mode, CPU) and vocabulary of a tag run; checked."""
        model = self.load_model(run)
        vocab = TagVocabulary.load(run.file(VOCAB_FILE))
        sizes = model.config()
        run.require_fit(VOCAB_FILE, "words", len(vocab.words), sizes["vocab_size"])
        run.require_fit(VOCAB_FILE, "tags", len(vocab.tags), sizes["num_tags"])
        if sizes["char_vocab_size"]:  # 0: the model reads no character features
            run.require_fit(VOCAB_FILE, "characters", len(vocab.chars), sizes["char_vocab_size"])
        return model, vocab

    described_model = RNN_DESCRIPTION

    def describe_model(self, model_config: dict[str, Any]) -> dict[str, Any]:
        described = super().describe_model(model_config)
        return {**described, "char_features": bool(model_config.get("char_vocab_size"))}

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "tags": ", ".join(data.get("tags", [])),
            "train_file": data.get("train_file"),
            "train_sentences": data.get("train_sentences"),
            "val_sentences": data.get("val_sentences"),
        }


TASK_SPEC = TaggingTask()


def train(options: TagOptions) -> Path:
    """Train a tagger as ``options`` say; return the run directory.

    Every check of the user's input runs before anything is written, so a refused run leaves the
    run directory as it was.
    """
    return lifecycle.train(TASK_SPEC, options)


def _read_sentences(
    options: TagOptions,
) -> tuple[list[TaggedSentence], list[TaggedSentence], Path]:
    """Training and validation sentences, and the file the validation ones come from."""
    sentences = read_conll(options.data, encoding=options.encoding)
    if options.val is not None:
        return sentences, read_conll(options.val, encoding=options.encoding), options.val
    if len(sentences) < 2:
        raise UserError(
            f"{options.data} has a single sentence; give more, or a validation file with --val."
        )
    cut = len(sentences) - max(1, round(len(sentences) * options.val_fraction))
    return sentences[:cut], sentences[cut:], options.data


def build_model(options: TagOptions, vocab: TagVocabulary) -> SequenceTagger:
    """The untrained tagger that ``options`` describe, sized for ``vocab``."""
    return SequenceTagger(
        len(vocab.words),
        len(vocab.tags),
        embedding_size=options.embedding_size,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        char_vocab_size=len(vocab.chars) if options.char_features else 0,
        char_embedding_size=options.char_embedding_size,
        char_hidden_size=options.char_hidden,
        dropout=options.dropout,
    )


# ---------------------------------------------------------------------------------- using a run


def load_run(run_dir: str | Path) -> tuple[SequenceTagger, TagVocabulary, dict[str, Any]]:
    """The model (eval mode, CPU), vocabulary and config of a tag run; checked."""
    run = TASK_SPEC.open(run_dir)
    return (*TASK_SPEC.load(run), run.config)


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Token ``accuracy`` and, for BIO tags, entity ``precision``, ``recall`` and ``f1``."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), encoding=encoding)


def predict_texts(
    run_dir: str | Path,
    texts: Sequence[str],
    *,
    loaded: tuple[SequenceTagger, TagVocabulary, dict[str, Any]] | None = None,
) -> list[list[tuple[str, str]]]:
    """``[(token, tag), ...]`` for each text, split into tokens at whitespace. ``loaded``: the
    run of ``run_dir`` as ``load_run`` returns it, already loaded."""
    model, vocab, _ = loaded or load_run(run_dir)
    sentences = []
    for text in texts:
        if not text.split():
            raise UserError("--text is empty; give the sentence to tag.")
        sentences.append(TaggedSentence(text.split(), []))
    predicted = predict_tag_ids(model, encode(sentences, vocab, Path("--text")))
    return [
        [(token, vocab.tags[i]) for token, i in zip(s.tokens, p, strict=True)]
        for s, p in zip(sentences, predicted, strict=True)
    ]


def predict_file(
    run_dir: str | Path, data: str | Path, output: str | Path | None, *, encoding: str = "utf-8"
) -> int:
    """Tag a CoNLL file (its tags, if any, are ignored) and write ``token<TAB>predicted`` lines
    with blank lines between sentences to ``output`` (stdout when None); return the sentences."""
    model, vocab, _ = load_run(run_dir)
    sentences = read_conll(data, encoding=encoding, require_tags=False)
    untagged = [TaggedSentence(s.tokens, []) for s in sentences]
    predicted = predict_tag_ids(model, encode(untagged, vocab, Path(data)))
    lines = []
    for sentence, tags in zip(sentences, predicted, strict=True):
        lines.extend(
            f"{token}\t{vocab.tags[i]}" for token, i in zip(sentence.tokens, tags, strict=True)
        )
        lines.append("")
    write_output(output, "\n".join(lines) + "\n")
    return len(sentences)


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training and metrics of a tag run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
