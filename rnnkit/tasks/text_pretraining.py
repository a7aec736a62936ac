"""ULMFiT's recipe for a text classifier (Howard & Ruder 2018): its encoder first learns to
predict the next word, then the classifier is fine-tuned on the labels.

``pretrain_classifier`` trains a ``SequenceClassifier``'s embedding (with its character n-grams)
and recurrent encoder in place as a language model over the classifier's own vocabulary and
tokenisation: the training texts and any unlabelled ones, each followed by the end-of-text
token, read as one stream. It reuses the lm task's machinery: ``EncoderLanguageModel`` has
``LanguageModel``'s signature, so ``rnnkit.tasks.lm.LanguageModelObjective`` (streams, truncated
BPTT) and ``stream_loss`` read it, and the shared ``Trainer`` trains it in a scratch directory
(nothing is written to the run directory). A bidirectional classifier pretrains its forward
direction on the stream and its backward direction on the reversed stream, as ULMFiT trains a
forward and a backward model. Validation texts (the classifier's validation split) give the
language-model loss before and after, kept in the run's ``data.pretraining``.

The fine-tuning half lives with the classifier's objective: ``discriminative_groups`` gives each
pretrained layer group a learning rate ``factor`` times lower than the group above it (the head
at the full rate), the objective unfreezes one group per epoch from the top
(``classify.unfrozen_groups``), and the schedule is the slanted triangle
(``rnnkit.training.schedule``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.char_ngrams import CharNgramHasher
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.classifier_ensemble import ClassifierEnsemble
from rnnkit.models.encoder_lm import BACKWARD, FORWARD, EncoderLanguageModel
from rnnkit.tasks.lm import LanguageModelObjective, stream_loss
from rnnkit.training import Trainer, TrainOptions

#: parallel streams and steps per chunk of the pretraining batches (fewer on a small text)
STREAMS, BPTT, MIN_BATCHES = 16, 32, 8
#: the language model's own peak rate (the lm task's) and warm-up steps
PRETRAIN_LR, PRETRAIN_WARMUP = 3e-3, 20
DIRECTION_NAMES = {FORWARD: "forward", BACKWARD: "backward"}


def read_unlabelled(path: Path, encoding: str) -> list[str]:
    """The non-blank lines of ``path``, one text each; ``UserError`` naming the file when it is
    missing, empty or blank, or not text in ``encoding``."""
    return [line.strip() for line in read_text(path, encoding).splitlines() if line.strip()]


def token_stream(tokenizer: Tokenizer, texts: Sequence[str]) -> Tensor:
    """``(N,)`` ids of every text, each followed by the end-of-text id."""
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer.encode(text))
        ids.append(tokenizer.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def ngram_table(tokenizer: Tokenizer, hasher: CharNgramHasher) -> Tensor:
    """``(V, G)``: the character n-gram ids of each vocabulary entry (zeros for the padding,
    unknown, begin and end tokens, which have no spelling)."""
    special = {tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id}
    words = ["" if i in special else tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    table = hasher.encode(words)
    table[sorted(special)] = 0
    return table


@dataclass
class PretrainSettings:
    """How long and where to pretrain; the rest follows the lm task's defaults."""

    epochs: int
    seed: int = 0
    device: str = "auto"
    progress: str = "auto"


def stream_shape(num_tokens: int) -> tuple[int, int]:
    """(streams, steps per chunk): ``STREAMS`` x ``BPTT``, fewer of both for a short text, so
    that an epoch holds about ``MIN_BATCHES`` batches or more."""
    streams = max(1, min(STREAMS, num_tokens // 8))
    bptt = min(BPTT, num_tokens // (streams * MIN_BATCHES))
    return streams, max(1, min(bptt, num_tokens // streams - 1))


def pretrain_classifier(
    model: SequenceClassifier | ClassifierEnsemble,
    tokenizer: Tokenizer,
    ngrams: CharNgramHasher | None,
    texts: Sequence[str],
    val_texts: Sequence[str],
    settings: PretrainSettings,
) -> dict[str, Any]:
    """Pretrain ``model``'s encoder (an ensemble's first member, copied into the others) as a
    language model on ``texts``; return what ``data.pretraining`` records: the texts and tokens
    read, and per direction the validation loss (nats per token) before and after."""
    classifier = model.members[0] if isinstance(model, ClassifierEnsemble) else model
    train_ids, val_ids = token_stream(tokenizer, texts), token_stream(tokenizer, val_texts)
    table = ngram_table(tokenizer, ngrams) if ngrams is not None else None
    report: dict[str, Any] = {"texts": len(texts), "tokens": int(train_ids.numel())}
    directions = (FORWARD, BACKWARD) if classifier.rnn.num_directions == 2 else (FORWARD,)
    for direction in directions:
        language_model = EncoderLanguageModel(classifier, direction, table)
        flip = direction == BACKWARD
        report[DIRECTION_NAMES[direction]] = _pretrain_direction(
            language_model,
            train_ids.flip(0) if flip else train_ids,
            val_ids.flip(0) if flip else val_ids,
            settings,
        )
    if isinstance(model, ClassifierEnsemble):
        for member in model.members[1:]:
            copy_encoder(classifier, member)
    return report


def _pretrain_direction(
    language_model: EncoderLanguageModel,
    train_ids: Tensor,
    val_ids: Tensor,
    settings: PretrainSettings,
) -> dict[str, float]:
    """Train one direction's language model; its validation loss before and after."""
    streams, bptt = stream_shape(train_ids.numel())
    validation = val_ids if val_ids.numel() >= 2 else None
    objective = LanguageModelObjective(
        train_ids,
        validation,
        batch_size=streams,
        bptt=bptt,
        report_bpc=False,
        train_name="the texts to pretrain on",
    )
    options = TrainOptions(
        lr=PRETRAIN_LR,
        schedule="cosine",
        warmup_steps=PRETRAIN_WARMUP,
        epochs=settings.epochs,
        seed=settings.seed,
        device=settings.device,
        progress=settings.progress,
        checkpoint_seconds=1e9,
    )
    before = _loss(language_model, validation)
    with tempfile.TemporaryDirectory(prefix="rnnkit-pretrain-") as scratch:
        Trainer(language_model, objective, options, scratch).fit()
    language_model.to("cpu")
    return {"val_loss_before": before, "val_loss_after": _loss(language_model, validation)}


def _loss(language_model: EncoderLanguageModel, ids: Tensor | None) -> float | None:
    """Mean next-token loss of ``ids`` (eval mode), None without validation text."""
    if ids is None:
        return None
    language_model.eval()
    total, count = stream_loss(language_model, ids)
    return total / count


def copy_encoder(source: SequenceClassifier, target: SequenceClassifier) -> None:
    """Copy ``source``'s embedding, n-gram embedding and RNN weights into ``target``."""
    for name in ("embedding", "ngrams", "rnn"):
        part: nn.Module | None = getattr(source, name)
        if part is not None:
            getattr(target, name).load_state_dict(part.state_dict())


def discriminative_groups(model: nn.Module, factor: float) -> list[dict[str, Any]]:
    """The optimiser's groups for fine-tuning: ``model.pretrained_groups()`` from the top down at
    ``lr_scale`` ``1 / factor``, ``1 / factor ** 2``, ... (the embedding lowest), and every other
    parameter (pooling, head) at 1."""
    groups = model.pretrained_groups()
    grouped = {id(p) for group in groups for p in group}
    rest = [p for p in model.parameters() if id(p) not in grouped]
    count = len(groups)
    scaled = [
        {"params": group, "lr_scale": factor ** -(count - index)}
        for index, group in enumerate(groups)
    ]
    return [*scaled, {"params": rest, "lr_scale": 1.0}]
