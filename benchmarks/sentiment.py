"""Sentiment classification: rnnkit's classifier against TF-IDF + logistic regression.

On the UCI sentiment sentences (Kotzias et al. 2015: amazon, imdb and yelp, 1000 sentences each,
balanced) and on the three together ("all", 3000 sentences), each data set is split once into
training and test parts (stratified, ``--test-fraction``, fixed seed). Both models are trained on
the same training part and scored on the same test part in the same run:

- baseline: scikit-learn's ``TfidfVectorizer`` (word 1-2-grams, sublinear tf) and
  ``LogisticRegression`` (the ``baselines`` extra: ``pip install rnnkit[baselines]``);
- rnnkit: ``rnnkit.tasks.classify`` (word tokens, bidirectional LSTM, attention pooling), which
  holds out 10% of its training part for early stopping / best-weight keeping;
- optionally (``--pretrain-steps N``), rnnkit with transfer: a word-level LSTM language model
  trained for N steps on the training part's texts, then ``--init-from`` it with gradual
  unfreezing (ULMFiT-style; no outside data).

Smoke run (about a minute)::

    python benchmarks/sentiment.py --smoke

Full run (the figures for the issue note)::

    python benchmarks/sentiment.py --epochs 15 --pretrain-steps 1500
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.tasks import classify, lm

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_sentiment"
FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}


def load(name: str, data_dir: Path) -> list[tuple[str, str]]:
    """(sentence, label) pairs of one set, or of all three for ``"all"``."""
    names = list(FILES) if name == "all" else [name]
    rows = []
    for part in names:
        for line in (data_dir / FILES[part]).read_text(encoding="utf-8").splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in ("0", "1"):
                rows.append((text.strip(), label.strip()))
    return rows


def write_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def tfidf_baseline(
    train: list[tuple[str, str]], test: list[tuple[str, str]]
) -> tuple[float, float]:
    """(test accuracy, seconds) of TF-IDF + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=10.0, max_iter=2000),
    )
    model.fit([t for t, _ in train], [y for _, y in train])
    seconds = time.perf_counter() - started
    accuracy = float((model.predict([t for t, _ in test]) == [y for _, y in test]).mean())
    return accuracy, seconds


def rnn_classifier(
    train_csv: Path, test_csv: Path, out: Path, args: argparse.Namespace, init_from: Path | None
) -> tuple[float, float]:
    """(test accuracy, training seconds) of rnnkit's classifier."""
    options = classify.ClassifyOptions(
        data=train_csv,
        out=out,
        tokenizer="word",
        min_count=1,
        hidden=args.hidden,
        embedding_size=args.embedding,
        dropout=args.dropout,
        pooling=args.pooling,
        cell=args.cell,
        epochs=args.epochs,
        time_limit=args.time_limit,
        lr=args.lr,
        batch_size=32,
        patience=4,
        seed=args.seed,
        progress="off",
        device=args.device,
        init_from=init_from,
        freeze_epochs=2 if init_from is not None else 0,
    )
    started = time.perf_counter()
    classify.train(options)
    seconds = time.perf_counter() - started
    return classify.evaluate(out, test_csv)["accuracy"], seconds


def pretrain_language_model(texts: list[str], out: Path, args: argparse.Namespace) -> float:
    """Train a word-level LSTM language model on ``texts``; return the seconds it took."""
    corpus = out.with_suffix(".txt")
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    options = lm.LMOptions(
        data=corpus,
        out=out,
        tokenizer="word",
        hidden=args.hidden,
        embedding_size=args.embedding,
        layers=1,
        dropout=0.3,
        bptt=32,
        batch_size=16,
        max_steps=args.pretrain_steps,
        eval_every=max(50, args.pretrain_steps // 4),
        warmup_steps=min(100, args.pretrain_steps // 10),
        progress="off",
        precision="fp32",
        device=args.device,
        seed=args.seed,
    )
    started = time.perf_counter()
    lm.train(options)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=None, help="default: amazon,imdb,yelp,all")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--time-limit", default=None, help="per classifier run, e.g. 2m")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--embedding", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.4)
    parser.add_argument("--pooling", default="attention")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--pretrain-steps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--smoke", action="store_true", help="yelp and amazon, 3 epochs, 20s")
    args = parser.parse_args()
    if args.smoke:
        args.datasets = args.datasets or "amazon,yelp"
        args.epochs, args.time_limit = 3, "20s"
        args.hidden = args.embedding = 64
    args.datasets = args.datasets or "amazon,imdb,yelp,all"
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data_dir.is_dir():
        sys.exit(f"data not found: {args.data_dir}")

    header = (
        f"{'data':<7} {'train':>5} {'test':>4}  {'tfidf+LR':>8} {'s':>5}  {'rnnkit':>6} {'s':>6}"
    )
    if args.pretrain_steps:
        header += f"  {'rnnkit+LM':>9} {'s':>6}"
    print(header)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets.split(","):
            rows = load(name, args.data_dir)
            train_rows, test_rows = classify.stratified_split(
                [y for _, y in rows], args.test_fraction, args.seed
            )
            train = [rows[i] for i in train_rows]
            test = [rows[i] for i in test_rows]
            folder = Path(scratch) / name
            folder.mkdir()
            train_csv = write_table(folder / "train.csv", train)
            test_csv = write_table(folder / "test.csv", test)
            baseline, baseline_seconds = tfidf_baseline(train, test)
            accuracy, seconds = rnn_classifier(train_csv, test_csv, folder / "rnn", args, None)
            line = (
                f"{name:<7} {len(train):>5} {len(test):>4}  {baseline:>8.3f} "
                f"{baseline_seconds:>5.1f}  {accuracy:>6.3f} {seconds:>6.1f}"
            )
            if args.pretrain_steps:
                lm_dir = folder / "lm"
                lm_seconds = pretrain_language_model([t for t, _ in train], lm_dir, args)
                tuned, tuned_seconds = rnn_classifier(
                    train_csv, test_csv, folder / "rnn_lm", args, lm_dir
                )
                line += f"  {tuned:>9.3f} {lm_seconds + tuned_seconds:>6.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
