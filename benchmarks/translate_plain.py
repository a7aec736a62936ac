"""The hand-written PyTorch baseline of the translation benchmark (no rnnkit inside).

The loop the translation issue describes: a bidirectional 2 x 256 GRU encoder, a ``GRUCell``
decoder of 512 with Bahdanau (additive) attention and input feeding of the context, word
vocabularies of lowercased, word-tokenised text with minimum count 2, bf16 autocast where the CPU
has bf16 instructions, Adam at 1e-3, label smoothing 0.1, batches of 128, gradient clipping at
1.0, trained for a wall-clock budget, then greedy decoding. ``benchmarks/translate.py multi30k
--models plain`` runs it; its outputs are lowercased tokens, so only the lowercased, tokenised
BLEU is meaningful for it.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.training import preferred_precision

PAD, UNK, BOS, EOS = 0, 1, 2, 3
_WORDS = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


class Vocabulary:
    def __init__(self, sentences: list[list[str]], min_count: int = 2) -> None:
        counts = Counter(w for s in sentences for w in s)
        self.itos = ["<pad>", "<unk>", "<bos>", "<eos>"]
        self.itos += [w for w, c in counts.most_common() if c >= min_count]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def encode(self, sentence: list[str]) -> list[int]:
        return [self.stoi.get(w, UNK) for w in sentence] + [EOS]


def pad(rows: list[list[int]]) -> Tensor:
    out = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


class Encoder(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, dec_hidden: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.rnn = nn.GRU(emb, hidden, 2, batch_first=True, bidirectional=True, dropout=dropout)
        self.bridge = nn.Linear(2 * hidden, dec_hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embedding(src)), lengths, batch_first=True, enforce_sorted=False
        )
        out, h = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return out, torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], dim=1)))


class Decoder(nn.Module):
    def __init__(self, vocab: int, emb: int, memory: int, hidden: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.cell = nn.GRUCell(emb + memory, hidden)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(memory, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.out = nn.Linear(hidden + memory + emb, vocab)
        self.dropout = nn.Dropout(dropout)

    def attend(self, h: Tensor, keys: Tensor, memory: Tensor, pad_mask: Tensor) -> Tensor:
        scores = self.score(torch.tanh(keys + self.query(h).unsqueeze(1))).squeeze(2)
        weights = scores.float().masked_fill(pad_mask, float("-inf")).softmax(dim=1)
        return torch.bmm(weights.to(memory.dtype).unsqueeze(1), memory).squeeze(1)

    def step(self, y: Tensor, h: Tensor, keys: Tensor, memory: Tensor, pad_mask: Tensor):
        e = self.dropout(self.embedding(y))
        context = self.attend(h, keys, memory, pad_mask)
        h = self.cell(torch.cat([e, context], dim=1), h)
        return self.out(torch.cat([h, context, e], dim=1)), h


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, dropout: float = 0.3):
        super().__init__()
        self.encoder = Encoder(src_vocab, 256, 256, 512, dropout)
        self.decoder = Decoder(tgt_vocab, 256, 512, 512, dropout)

    def encode(self, src: Tensor, lengths: Tensor):
        memory, h = self.encoder(src, lengths)
        return memory, self.decoder.key(memory), h, src[:, : memory.shape[1]] == PAD

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        memory, keys, h, pad_mask = self.encode(src, lengths)
        logits = []
        for y in tgt_in.unbind(1):  # teacher forcing
            step_logits, h = self.decoder.step(y, h, keys, memory, pad_mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def greedy(self, src: Tensor, lengths: Tensor, max_len: int) -> list[list[int]]:
        memory, keys, h, pad_mask = self.encode(src, lengths)
        y = torch.full((src.shape[0],), BOS, dtype=torch.long)
        done = torch.zeros(src.shape[0], dtype=torch.bool)
        out = []
        for _ in range(max_len):
            logits, h = self.decoder.step(y, h, keys, memory, pad_mask)
            y = logits.argmax(dim=1)
            out.append(y)
            done |= y == EOS
            if done.all():
                break
        rows = torch.stack(out, dim=1).tolist()
        return [row[: row.index(EOS)] if EOS in row else row for row in rows]


def train_and_translate(
    train_pairs: list[tuple[str, str]], sources: list[str], seconds: float, seed: int = 0
) -> tuple[list[str], int]:
    """Train the loop for ``seconds``; return the greedy translations of ``sources`` (lowercased,
    tokenised, space-joined) and the number of training steps."""
    torch.manual_seed(seed)
    random.seed(seed)
    src_words = [words(s) for s, _ in train_pairs]
    tgt_words = [words(t) for _, t in train_pairs]
    src_vocab, tgt_vocab = Vocabulary(src_words), Vocabulary(tgt_words)
    pairs = zip(src_words, tgt_words, strict=True)
    data = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in pairs]
    model = Seq2Seq(len(src_vocab.itos), len(tgt_vocab.itos))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    autocast = preferred_precision() == "bf16"
    began, steps = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        random.shuffle(data)
        for start in range(0, len(data), 128):
            if time.perf_counter() - began >= seconds:
                break
            batch = data[start : start + 128]
            src = pad([s for s, _ in batch])
            lengths = torch.tensor([len(s) for s, _ in batch])
            tgt_in = pad([[BOS] + t[:-1] for _, t in batch])
            tgt_out = pad([t for _, t in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(src, lengths, tgt_in)
            loss = F.cross_entropy(
                logits.float().flatten(0, 1), tgt_out.flatten(),
                ignore_index=PAD, label_smoothing=0.1,
            )  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            steps += 1
    model.eval()
    hypotheses = []
    for start in range(0, len(sources), 64):
        encoded = [src_vocab.encode(words(s)) for s in sources[start : start + 64]]
        lengths = torch.tensor([len(s) for s in encoded])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            ids = model.greedy(pad(encoded), lengths, int(lengths.max()) * 2 + 10)
        hypotheses += [" ".join(tgt_vocab.itos[i] for i in row) for row in ids]
    return hypotheses, steps
