"""Text classification: ``rnnkit train classify`` defaults against TF-IDF + logistic regression.

Data sets: the UCI sentiment sentences (Kotzias et al. 2015: amazon, imdb and yelp, 1000 sentences
each, balanced; "all" is the three together) and any file passed with ``--file``, one example a
line, either ``label sentence`` (the label is the first word, as in TREC's ``DESC:manner How
...`` or SST's ``1 a gripping ...``) or ``sentence<TAB>label`` (as the UCI files).

Each data set is split into ``--folds`` stratified folds (seeded); for each fold both models are
trained on the other folds and scored on it, in the same run, and the table shows the mean and
standard deviation over the folds (with ``--folds 1``: one stratified split, ``--test-fraction``
held out). On 1000 sentences one 200-sentence test part has a standard error of about 1.4 points,
so the folds matter. The ``gap±se`` column is rnnkit's lead over the baseline in points: the mean of
the per-fold differences (both models score the same folds) and its standard error.
``--repeats N`` runs the folds of seeds S..S+N-1 (other partitions, other rnnkit seeds) and adds a
row of their means, the gap ± its standard error over the repeats: a default chosen on one
partition's folds also fits that partition's luck.

- baseline: scikit-learn's ``TfidfVectorizer`` (word 1-2-grams, sublinear tf) and
  ``LogisticRegression`` (C=10) (the ``baselines`` extra: ``pip install rnnkit[baselines]``);
- rnnkit: ``rnnkit.tasks.classify`` with every option at its default (on these sets an ensemble
  of five, each member holding out its own 10% of the training part for keeping its best
  weights), with ``--time-limit`` if given; ``--variant one=ensemble=1`` adds one classifier;
- variants (``--variant NAME=option=value,option=value``, repeatable): rnnkit with those options
  besides the defaults, each its own column, e.g. ``--variant pretrain=pretrain_lm=true`` (ULMFiT's
  recipe), ``--variant hybrid=ngram_features=262144``, ``--variant ens3=ensemble=3`` (three
  members, each trained as the run of its own seed), ``--variant refit=refit=true``;
  ``unlabelled=OTHERS`` passes a UCI set the sentences of the other two UCI sets, labels
  removed, as ``--unlabelled`` text; ``--no-defaults``
  leaves out the plain rnnkit column (when its figures are known);
- optionally (``--pretrain-steps N``), rnnkit with transfer: a word-level LSTM language model
  trained for N steps on the training part's texts, then ``--init-from`` it with gradual
  unfreezing (ULMFiT-style; no outside data).

Each rnnkit figure comes with the CPU seconds it took (this process's user + system time, all
threads), which on a shared machine says more than wall time.

Smoke run (a minute or two)::

    python benchmarks/sentiment.py --smoke

The figures of the README::

    OMP_NUM_THREADS=2 python benchmarks/sentiment.py --folds 5
    python benchmarks/sentiment.py --datasets none --file trec.txt --folds 5
    OMP_NUM_THREADS=1 python benchmarks/sentiment.py --datasets yelp --no-defaults \
        --variant pretrain=pretrain_lm=true --variant unlab=unlabelled=OTHERS
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.tasks import classify, lm

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_sentiment"
FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}
Rows = list[tuple[str, str]]
#: the value of a variant's ``unlabelled`` option that stands for the other UCI sets' sentences
OTHERS = "OTHERS"


def load(name: str, data_dir: Path) -> Rows:
    """(sentence, label) pairs of one UCI set, or of all three for ``"all"``."""
    names = list(FILES) if name == "all" else [name]
    rows: Rows = []
    for part in names:
        for line in (data_dir / FILES[part]).read_text(encoding="utf-8").splitlines():
            text, _, label = line.rpartition("\t")  # a few imdb lines hold a tab in the text
            if text.strip() and label.strip() in ("0", "1"):
                rows.append((text.strip(), label.strip()))
    return rows


def read_sentences(path: Path) -> Rows:
    """(sentence, label) pairs of a ``sentence<TAB>label`` or ``label sentence`` file."""
    rows: Rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        if "\t" in line:
            text, _, label = line.rpartition("\t")
        else:
            label, _, text = line.strip().partition(" ")
        if text.strip() and label.strip():
            rows.append((text.strip(), label.strip()))
    if len({label for _, label in rows}) < 2:
        sys.exit(f"{path}: fewer than two labels; write 'label sentence' or 'text<TAB>label' lines")
    return rows


def folds_of(labels: list[str], folds: int, seed: int, test_fraction: float) -> list[list[int]]:
    """Test indices of each fold: each class shuffled and dealt round the folds (stratified).

    With ``folds == 1``, one stratified test part of ``test_fraction``.
    """
    if folds == 1:
        return [classify.stratified_split(labels, test_fraction, seed)[1]]
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        for k, index in enumerate(rng.permutation(members)):
            parts[(k + offset) % folds].append(int(index))
        offset += len(members)
    return [sorted(part) for part in parts]


def write_table(path: Path, rows: Rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tfidf_baseline(train: Rows, test: Rows) -> float:
    """Test accuracy of TF-IDF + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=10.0, max_iter=2000),
    )
    model.fit([t for t, _ in train], [y for _, y in train])
    return float((model.predict([t for t, _ in test]) == np.array([y for _, y in test])).mean())


def rnn_classifier(
    train_csv: Path,
    test_csv: Path,
    out: Path,
    args: argparse.Namespace,
    init_from: Path | None,
    variant: dict[str, object] | None = None,
) -> float:
    """Test accuracy of ``rnnkit train classify`` with its defaults (or ``--init-from``, or a
    variant's options)."""
    extra = {"init_from": init_from, "freeze_epochs": 2} if init_from is not None else {}
    extra |= args.overrides | (variant or {})
    options = classify.ClassifyOptions(
        data=train_csv,
        out=out,
        time_limit=args.time_limit,
        seed=args.seed,
        progress="off",
        device=args.device,
        **extra,
    )
    classify.train(options)
    return classify.evaluate(out, test_csv)["accuracy"]


def member_accuracies(run_dir: Path, test_csv: Path) -> list[float]:
    """Test accuracy of each member of an ``--ensemble`` run alone (member ``i`` is the run
    ``--seed S+i`` would train; none for a single classifier)."""
    run = classify.load_run(run_dir)
    members = getattr(run.model, "members", None)
    if members is None:
        return []
    labelled = run.data_options().read(test_csv)
    truth = torch.tensor([run.class_names.index(label) for label in labelled.labels])
    inputs = run.encoder.encode(labelled)
    return [
        float((classify.predict_probabilities(m, inputs).argmax(1) == truth).float().mean())
        for m in members
    ]


def pretrain_language_model(texts: list[str], out: Path, args: argparse.Namespace) -> None:
    """Train a word-level LSTM language model on ``texts``."""
    corpus = out.with_suffix(".txt")
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    options = lm.LMOptions(
        data=corpus,
        out=out,
        tokenizer="word",
        hidden=128,
        embedding_size=128,
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
    lm.train(options)


def parse_setting(text: str) -> tuple[str, object]:
    """``"dropout=0.5"`` -> ``("dropout", 0.5)``: a ``ClassifyOptions`` field and its value."""
    name, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return name.replace("-", "_"), kind(value)
        except ValueError:
            pass
    return name.replace("-", "_"), {"true": True, "false": False}.get(value.lower(), value)


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f}±{statistics.stdev(values):.3f}"


def paired_gap(values: list[float], baseline: list[float]) -> str:
    """Points of accuracy over the baseline, the mean of the per-fold differences, with its
    standard error (``+1.7±0.9``): the folds are shared, so the difference is paired, and its
    error, not either column's spread, says whether a gap is more than the folds' luck."""
    differences = [100 * (v - b) for v, b in zip(values, baseline, strict=True)]
    gap = statistics.mean(differences)
    if len(differences) == 1:
        return f"{gap:+.1f}"
    return f"{gap:+.1f}±{statistics.stdev(differences) / math.sqrt(len(differences)):.1f}"


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``"name=a=1,b=x"`` -> ``("name", {"a": 1, "b": "x"})``."""
    name, _, settings = text.partition("=")
    return name, dict(parse_setting(part) for part in settings.split(",") if part)


def other_sentences(name: str, data_dir: Path, path: Path) -> Path:
    """Write the sentences of the UCI sets other than ``name`` (no labels), one a line."""
    if name not in FILES:
        sys.exit(f"unlabelled={OTHERS} needs a UCI set, not {name}")
    texts = [text for other in FILES if other != name for text, _ in load(other, data_dir)]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def run_dataset(
    name: str, rows: Rows, scratch: Path, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Train and score every model on every fold of one data set (folds and rnnkit seeds of
    ``args.seed``); print its row. Returns each column's accuracy per fold (``tfidf``, ``rnn``,
    each variant's name)."""
    results: dict[str, list[float]] = {"tfidf": [], "rnn": [], "rnn_lm": []}
    cpu: dict[str, float] = {"rnn": 0.0, "rnn_lm": 0.0}
    variants = {}
    for label, settings in args.variants:
        if settings.get("unlabelled") == OTHERS:
            unlabelled = scratch / f"{name}-others.txt"
            settings = {**settings, "unlabelled": other_sentences(name, args.data_dir, unlabelled)}
        variants[label] = settings
        results[label], cpu[label] = [], 0.0
    members: dict[str, list[float]] = {}  # each ensemble member's accuracy alone
    labels = [y for _, y in rows]
    folds = folds_of(labels, args.folds, args.seed, args.test_fraction)
    for k, test_rows in enumerate(folds):
        held = set(test_rows)
        train = [row for i, row in enumerate(rows) if i not in held]
        test = [rows[i] for i in test_rows]
        folder = scratch / f"{name}-{k}"
        folder.mkdir()
        train_csv = write_table(folder / "train.csv", train)
        test_csv = write_table(folder / "test.csv", test)
        results["tfidf"].append(tfidf_baseline(train, test))
        if not args.no_defaults:
            began = cpu_seconds()
            results["rnn"].append(rnn_classifier(train_csv, test_csv, folder / "rnn", args, None))
            cpu["rnn"] += cpu_seconds() - began
        for label, settings in variants.items():
            began = cpu_seconds()
            out = folder / f"variant-{len(results[label])}-{label}"
            accuracy = rnn_classifier(train_csv, test_csv, out, args, None, settings)
            results[label].append(accuracy)
            cpu[label] += cpu_seconds() - began
            alone = member_accuracies(out, test_csv)
            for i, member in enumerate(alone):
                members.setdefault(f"{label}[{i}]", []).append(member)
        if args.pretrain_steps:
            began = cpu_seconds()
            pretrain_language_model([t for t, _ in train], folder / "lm", args)
            tuned = rnn_classifier(train_csv, test_csv, folder / "rnn_lm", args, folder / "lm")
            results["rnn_lm"].append(tuned)
            cpu["rnn_lm"] += cpu_seconds() - began
        shown = "  ".join(f"{label} {v[-1]:.3f}" for label, v in (results | members).items() if v)
        print(f"  {name} fold {k + 1}/{len(folds)}: {shown}", file=sys.stderr, flush=True)
        shutil.rmtree(folder)  # its runs, checkpoints of every member: gigabytes over a benchmark
    shown_name = name if args.repeats == 1 else f"{name[:7]}/{args.seed}"
    line = f"{shown_name:<10} {len(rows):>6} {len(folds):>5}  {mean_sd(results['tfidf']):>12}"
    for label in ["rnn", *variants] if not args.no_defaults else list(variants):
        gap = paired_gap(results[label], results["tfidf"])
        line += f"  {mean_sd(results[label]):>12} {cpu[label] / len(folds):>7.0f} {gap:>9}"
    if args.pretrain_steps:
        line += f"  {mean_sd(results['rnn_lm']):>12} {cpu['rnn_lm'] / len(folds):>7.0f}"
    print(line, flush=True)
    for label, values in members.items():
        print(f"{'':<10} member {label} alone: {mean_sd(values)}", flush=True)
    return {label: values for label, values in results.items() if values}


def print_repeats(
    name: str, rows: Rows, seeds: range, repeats: list[dict[str, list[float]]]
) -> None:
    """The row of ``--repeats`` runs of one data set: each column's mean accuracy over them
    and its gap over the baseline as the mean of the repeats' paired gaps, ± its standard
    error over the repeats (each repeat's folds are another partition: defaults chosen on one
    partition's folds also fit that partition's luck; the repeats' mean does not)."""
    means = {label: [statistics.mean(repeat[label]) for repeat in repeats] for label in repeats[0]}
    shown_name = f"{name[:7]}/{seeds[0]}-{seeds[-1]}"
    line = f"{shown_name:<10} {len(rows):>6} {len(repeats):>4}x  {mean_sd(means['tfidf']):>12}"
    for label, values in means.items():
        if label not in ("tfidf", "rnn_lm"):
            line += f"  {mean_sd(values):>12} {'':>7} {paired_gap(values, means['tfidf']):>9}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="amazon,imdb,yelp,all", help="UCI sets, or none")
    parser.add_argument("--file", type=Path, action="append", default=[], help="a sentence file")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (1: a split)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="with --folds 1")
    parser.add_argument("--time-limit", default=None, help="per rnnkit run, e.g. 2m")
    parser.add_argument("--pretrain-steps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run the folds of seeds S..S+N-1 (other partitions, other rnnkit seeds) and print "
        "their mean row",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--set", action="append", default=[], help="option=value for rnnkit (ablations)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help=f"NAME=option=value,...: a column of rnnkit with these options (unlabelled={OTHERS}: "
        "the other UCI sets' sentences)",
    )
    parser.add_argument("--no-defaults", action="store_true", help="leave out plain rnnkit")
    parser.add_argument("--smoke", action="store_true", help="amazon, 2 folds, 20 s per run")
    args = parser.parse_args()
    if importlib.util.find_spec("sklearn") is None:  # the baseline is the point of the comparison
        sys.exit(
            "scikit-learn is not installed: the TF-IDF + LR baseline needs it "
            "(pip install 'rnnkit[baselines]')."
        )
    args.overrides = dict(parse_setting(text) for text in args.set)
    args.variants = [parse_variant(text) for text in args.variant]
    if args.smoke:
        args.datasets, args.folds, args.time_limit = "amazon", 2, "20s"
    if args.threads:
        torch.set_num_threads(args.threads)
    sets: list[tuple[str, Rows]] = []
    for name in [n for n in args.datasets.split(",") if n and n != "none"]:
        if not args.data_dir.is_dir():
            sys.exit(f"data not found: {args.data_dir}")
        sets.append((name, load(name, args.data_dir)))
    for path in args.file:
        sets.append((path.stem[:10], read_sentences(path)))

    changed = " ".join(args.set) or "defaults"
    print(f"rnnkit ({changed}) vs TF-IDF+LR, {torch.get_num_threads()} threads; cpu s per fold")
    header = f"{'data':<10} {'size':>6} {'folds':>5}  {'tfidf+LR':>12}"
    columns = [] if args.no_defaults else ["rnnkit"]
    for label in [*columns, *(label for label, _ in args.variants)]:
        header += f"  {label[:12]:>12} {'cpu s':>7} {'gap±se':>9}"
    if args.pretrain_steps:
        header += f"  {'rnnkit+LM':>12} {'cpu s':>7}"
    print(header)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for name, rows in sets:
            repeats, seeds = [], range(args.seed, args.seed + args.repeats)
            for seed in seeds:
                folder = Path(scratch) / f"seed-{seed}"
                folder.mkdir(exist_ok=True)
                seeded = argparse.Namespace(**{**vars(args), "seed": seed})
                repeats.append(run_dataset(name, rows, folder, seeded))
            if args.repeats > 1:
                print_repeats(name, rows, seeds, repeats)
    print(f"wall {time.perf_counter() - started:.0f} s, cpu {cpu_seconds():.0f} s")


if __name__ == "__main__":
    main()
