"""Captioning with a CNN pretrained by ``classify --images cnn`` ("trained separately") beside one
trained jointly with the decoder, and the classify CNN mode's accuracy on Fashion-MNIST.

Part ``caption`` (the figure of ``caption --encoder-from`` a classify run):

1. Scenes of ``rnnkit.data.fashion_scenes`` from ``../shared/data/fashion_mnist`` (64 x 64,
   1-3 items, three references each): ``--train`` training scenes, 300 validation, ``--eval``
   each of ``test`` and ``heldout`` (pairs of classes never seen together in training).
2. A classification set at the scenes' scale: single Fashion-MNIST items (``--items``
   training images, ``--items // 4`` test images from the t10k file) each drawn on a black
   64 x 64 canvas at a random slot and size as the scenes draw them, labelled with their class;
   ``rnnkit train classify --images cnn`` learns it for ``--classify-limit`` (the caption task's
   default CNN: widths 16,32,64), and its accuracy on the canvas test items is reported.
3. ``rnnkit train caption`` twice for ``--caption-limit`` each, with the same options and seed:
   *joint* (the CNN trains with the decoder) and *pretrained* (``--encoder-from`` the classify
   run: its CNN frozen, batch-norm statistics included, and its normalisation).
4. BLEU-4 and CIDEr-D of both, beam 5, on ``test`` and ``heldout``.

Part ``classify28``: ``classify --images cnn`` on Fashion-MNIST itself (28 x 28, 60,000 training
images, the stratified 10% held out for validation; the 10,000 test images) for
``--classify28-limit``, its test accuracy (the row-wise RNN's figure in the README is 90.3% after
10 minutes).

Budgets are wall-clock ``--time-limit``s of each training run (one thread each, run one after
another); the steps, wall seconds and CPU seconds each took are printed, and the whole run's.
Run (the README's figures)::

    OMP_NUM_THREADS=1 python benchmarks/caption_pretrained.py

Smoke run (about two minutes): ``--smoke``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.cpu import bf16_flags
from rnnkit.data.fashion_scenes import FASHION_NAMES, SIZES, Item, ItemSource, generate, render
from rnnkit.data.idx import read_idx
from rnnkit.tasks import caption as cap
from rnnkit.tasks import classify

FASHION_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist"
SPLITS = ("test", "heldout")


class OneImage(ItemSource):
    """An item source that always draws the same 28 x 28 image."""

    names = FASHION_NAMES

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray:
        return self.image


def canvas_items(images: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Each image drawn alone on a 64 x 64 canvas at a random slot and size, as scenes draw
    their items: ``uint8 (N, 64, 64)``."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), 64, 64), dtype=np.uint8)
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        item = Item(int(label), str(rng.choice(list(SIZES))), int(rng.integers(3)))
        out[n] = render([item], OneImage(image), rng)
    return out


def steps_of(run_dir: Path) -> int:
    return json.loads((run_dir / "config.json").read_text())["results"].get("step")


def train_classify(data: Path, out: Path, limit: str, seed: int) -> tuple[float, float]:
    """Train ``classify --images cnn`` on ``data``; return the wall and CPU seconds taken."""
    started, cpu = time.perf_counter(), time.process_time()
    classify.train(classify.ClassifyOptions(
        data=data, images="cnn", out=out, time_limit=limit, epochs=None, batch_size=64,
        schedule="cosine", eval_every=300, seed=seed, progress="off", device="cpu",
    ))  # fmt: skip
    return time.perf_counter() - started, time.process_time() - cpu


def caption_part(args: argparse.Namespace, work: Path) -> dict[str, object]:
    counts = {"train": args.train, "val": 300, "test": args.eval, "heldout": args.eval}
    tables = generate(work / "scenes", counts, seed=args.seed, fashion_mnist=FASHION_MNIST)
    images = work / "scenes" / "images"

    train_x = read_idx(FASHION_MNIST / "train-images-idx3-ubyte.gz")[: args.items]
    train_y = read_idx(FASHION_MNIST / "train-labels-idx1-ubyte.gz")[: args.items]
    test_x = read_idx(FASHION_MNIST / "t10k-images-idx3-ubyte.gz")[: args.items // 4]
    test_y = read_idx(FASHION_MNIST / "t10k-labels-idx1-ubyte.gz")[: args.items // 4]
    np.savez(work / "items_train.npz", images=canvas_items(train_x, train_y, args.seed),
             labels=train_y)  # fmt: skip
    np.savez(work / "items_test.npz", images=canvas_items(test_x, test_y, args.seed + 1),
             labels=test_y)  # fmt: skip
    print(f"data: scenes {counts}, canvas items {len(train_x)} / {len(test_x)}", flush=True)

    classify_run = work / "classify64"
    seconds, cpu = train_classify(work / "items_train.npz", classify_run, args.classify_limit,
                                  args.seed)  # fmt: skip
    accuracy = classify.evaluate(classify_run, work / "items_test.npz")["accuracy"]
    pretraining = {"test_accuracy": accuracy, "steps": steps_of(classify_run),
                   "seconds": seconds, "cpu_seconds": cpu, "items": len(train_x),
                   "limit": args.classify_limit}  # fmt: skip
    print(f"classify --images cnn on canvas items: {pretraining}", flush=True)

    results: dict[str, object] = {"pretraining": pretraining, "counts": counts}
    for name, encoder_from in (("joint", None), ("pretrained", classify_run)):
        out = work / f"caption_{name}"
        started, cpu = time.perf_counter(), time.process_time()
        cap.train(cap.CaptionOptions(
            data=tables["train"], val=tables["val"], images=images, out=out,
            time_limit=args.caption_limit, seed=args.seed, progress="off", device="cpu",
            encoder_from=encoder_from,
        ))  # fmt: skip
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        scores = {split: cap.evaluate(out, tables[split], images=images, beam=5)
                  for split in SPLITS}  # fmt: skip
        results[name] = {"steps": steps_of(out), "seconds": seconds, "cpu_seconds": cpu,
                         "limit": args.caption_limit,
                         **{split: {k: scores[split][k] for k in ("bleu4", "cider")}
                            for split in SPLITS}}  # fmt: skip
        print(f"caption {name}: {results[name]}", flush=True)
    return results


def classify28_part(args: argparse.Namespace, work: Path) -> dict[str, object]:
    run = work / "classify28"
    images = FASHION_MNIST / "train-images-idx3-ubyte.gz"
    seconds, cpu = train_classify(images, run, args.classify28_limit, args.seed)
    scores = classify.evaluate(run, FASHION_MNIST / "t10k-images-idx3-ubyte.gz")
    result = {"test_accuracy": scores["accuracy"], "steps": steps_of(run), "seconds": seconds,
              "cpu_seconds": cpu, "limit": args.classify28_limit}  # fmt: skip
    print(f"classify --images cnn on Fashion-MNIST 28x28: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="caption,classify28")
    parser.add_argument("--train", type=int, default=6000, help="training scenes")
    parser.add_argument("--eval", type=int, default=500, help="scenes per evaluation split")
    parser.add_argument("--items", type=int, default=20000, help="canvas items to classify")
    parser.add_argument("--classify-limit", default="2.5m")
    parser.add_argument("--caption-limit", default="4m")
    parser.add_argument("--classify28-limit", default="3m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny sets, 20 s budgets")
    parser.add_argument("--work", type=Path, help="folder to keep data and runs in")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()
    if args.smoke:
        args.train, args.eval, args.items = 300, 50, 2000
        args.classify_limit = args.caption_limit = args.classify28_limit = "20s"
    if not FASHION_MNIST.is_dir():
        raise SystemExit(f"{FASHION_MNIST} is missing; this benchmark needs Fashion-MNIST.")
    torch.set_num_threads(1)
    print(f"CPU flags: {bf16_flags()}; torch threads: {torch.get_num_threads()}", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="rnnkit-caption-pretrained-"))
    work.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    figures: dict[str, object] = {}
    parts = args.parts.split(",")
    if "caption" in parts:
        figures["caption"] = caption_part(args, work)
    if "classify28" in parts:
        figures["classify28"] = classify28_part(args, work)
    if "caption" in figures:
        result = figures["caption"]
        print(f"\n{'encoder':12} {'steps':>6} " + " ".join(
            f"{s + ' BLEU-4':>14} {s + ' CIDEr-D':>15}" for s in SPLITS))  # fmt: skip
        for name in ("joint", "pretrained"):
            row = result[name]
            print(f"{name:12} {row['steps']:6d} " + " ".join(
                f"{row[s]['bleu4']:14.1f} {row[s]['cider']:15.3f}" for s in SPLITS))  # fmt: skip
        held = result["pretrained"]["heldout"]["bleu4"] - result["joint"]["heldout"]["bleu4"]
        print(f"held-out BLEU-4, pretrained minus joint: {held:+.1f}")
    figures["total"] = {"seconds": time.perf_counter() - started,
                        "cpu_seconds": time.process_time() - cpu}  # fmt: skip
    print(f"total: {figures['total']['seconds'] / 60:.1f} minutes of wall time, "
          f"{figures['total']['cpu_seconds'] / 60:.1f} of CPU time")  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
