"""Captioning figures: BLEU-4 and CIDEr-D on generated Fashion-MNIST scenes, beside baselines.

Writes the scenes of ``rnnkit.data.fashion_scenes`` (1-3 Fashion-MNIST items on a 64 x 64 canvas,
three paraphrased references each; ``../shared/data/fashion_mnist``, or the built-in shapes with
``--shapes``): ``--train`` training scenes, 300 validation, and two evaluation splits, ``test``
(combinations of classes seen in training) and ``heldout`` (every scene holds a pair of classes
that no training scene holds together). Trains ``rnnkit train caption`` for ``--time-limit``
(default options otherwise: a 3-stage CNN, Bahdanau attention, a GRU decoder), then scores on
both splits, with sacrebleu's BLEU-4 and CIDEr-D (``rnnkit.metrics.captioning``):

- the model, greedy and beam 5 (the run's GNMT length penalty, 1.0);
- *nearest neighbour*: the first reference of the training image whose CNN feature map (the
  trained run's encoder, flattened; cosine similarity) is closest, computed in the same run;
- *most frequent caption*: the training caption written most often, for every image.

It also times decoding: images per second of beam 5, batched 64 at a time, on the test images.

Run (the README's figures)::

    OMP_NUM_THREADS=1 python benchmarks/caption.py --time-limit 20m

Smoke run (about a minute): ``--smoke`` (600 training scenes, 100 per evaluation split, 1 minute).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from rnnkit.data.captions import image_paths, read_captions
from rnnkit.data.fashion_scenes import generate
from rnnkit.decoding import DecodingSettings
from rnnkit.metrics.captioning import score_captions
from rnnkit.tasks import caption as cap

FASHION_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist"
SPLITS = ("test", "heldout")


def cnn_features(run: cap.CaptionRun, inputs: cap.Inputs, batch: int = 256) -> torch.Tensor:
    """The trained encoder's feature map of every input, flattened and unit-length: ``(N, P*F)``."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            images, _ = inputs.batch(range(start, min(start + batch, len(inputs))))
            features, _ = run.model.encoder(images)
            rows.append(torch.nn.functional.normalize(features.flatten(1), dim=1))
    return torch.cat(rows)


def decoding_speed(run: cap.CaptionRun, inputs: cap.Inputs, beam: int) -> float:
    """Images per second of batched search with ``beam`` (after one warm-up batch)."""
    settings = DecodingSettings(beam=beam, length_penalty=run.options.length_penalty)
    warm = cap.Inputs(inputs.images[:8], None, inputs.settings)
    run.caption_inputs(warm, settings)
    start = time.perf_counter()
    run.caption_inputs(inputs, settings)
    return len(inputs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", default="15m", help="training budget")
    parser.add_argument("--train", type=int, default=6000, help="training scenes")
    parser.add_argument("--eval", type=int, default=500, help="scenes per evaluation split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", action="store_true", help="built-in shapes, no data set")
    parser.add_argument("--smoke", action="store_true", help="600 scenes, 100 per split, 1m")
    parser.add_argument("--work", type=Path, help="folder to keep data and run in")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()
    if args.smoke:
        args.train, args.eval, args.time_limit = 600, 100, "1m"
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="rnnkit-caption-"))
    source = None if args.shapes else FASHION_MNIST
    counts = {"train": args.train, "val": 300, "test": args.eval, "heldout": args.eval}
    started = time.perf_counter()
    tables = generate(work / "data", counts, seed=args.seed, fashion_mnist=source)
    images = work / "data" / "images"
    print(f"data: {counts} in {time.perf_counter() - started:.0f} s", flush=True)

    options = cap.CaptionOptions(
        data=tables["train"],
        val=tables["val"],
        images=images,
        out=work / "run",
        time_limit=args.time_limit,
        seed=args.seed,
        progress="off",
        device="cpu",
    )
    started = time.perf_counter()
    run_dir = cap.train(options)
    train_seconds = time.perf_counter() - started
    run = cap.load_run(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    print(f"trained {config['results'].get('step')} steps in {train_seconds:.0f} s", flush=True)

    train_set = read_captions(tables["train"])
    train_inputs = run.inputs_of(image_paths(train_set, images, tables["train"]))
    train_features = cnn_features(run, train_inputs)
    frequent = Counter(c for refs in train_set.references for c in refs).most_common(1)[0][0]

    results: dict[str, dict[str, dict[str, float]]] = {}
    for split in SPLITS:
        captions = read_captions(tables[split])
        inputs = run.inputs_of(image_paths(captions, images, tables[split]))
        nearest = (cnn_features(run, inputs) @ train_features.T).argmax(dim=1).tolist()
        outputs = {
            "model greedy": run.caption_inputs(inputs, DecodingSettings(beam=1)),
            "model beam 5": run.caption_inputs(inputs, run.decoding.overridden(beam=5)),
            "nearest neighbour": [train_set.references[i][0] for i in nearest],
            "most frequent caption": [frequent] * len(captions),
        }
        results[split] = {
            name: score_captions(texts, captions.references) for name, texts in outputs.items()
        }
        examples = list(zip(captions.inputs[:3], outputs["model beam 5"][:3], strict=True))
        print(f"{split} examples: {examples}", flush=True)
    test_inputs = run.inputs_of(image_paths(read_captions(tables["test"]), images, tables["test"]))
    speed = decoding_speed(run, test_inputs, beam=5)

    print(f"\n{'split':8} {'system':22} {'BLEU-4':>7} {'CIDEr-D':>8} {'exact':>6}")
    for split, rows in results.items():
        for name, scores in rows.items():
            print(f"{split:8} {name:22} {scores['bleu4']:7.1f} {scores['cider']:8.3f} "
                  f"{scores['exact_match']:6.3f}")  # fmt: skip
    held = results["heldout"]
    margin = held["model beam 5"]["bleu4"] - held["nearest neighbour"]["bleu4"]
    print(f"\nheld-out BLEU-4, model beam 5 minus nearest neighbour: {margin:+.1f} (goal +10)")
    print(f"decoding: {speed:.0f} images/s with beam 5, 64 per batch, 1 thread")
    print(f"training: {config['results'].get('step')} steps, {train_seconds:.0f} s")
    figures = {"results": results, "images_per_s_beam5": speed, "train_seconds": train_seconds,
               "steps": config['results'].get('step'), "counts": counts}  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
