"""Inference speed of the conditioned decoders: translation, transcription, music and captions.

Rates per CPU second of this process (the median of ``--repeats``). Untrained models of each
task's default sizes, fixed seed (speed does not depend on training; an untrained model rarely
emits eos, hence the translation model's eos bias), 1 thread:

- ``translate``: ``Seq2Seq`` (GRU, 2 x 256 bidirectional encoder, 512 decoder, Bahdanau attention,
  tied embeddings; 8,000 source and 6,000 target words; eos's output bias raised to 3 so that
  outputs end after 14-23 tokens, as translations of Multi30k's sources would), ``--sentences``
  random sources of 6-24 tokens, decoded as ``rnnkit translate`` does (``decode_ids``: 64
  sentences a batch, length penalty 1, outputs up to twice the source) greedily (beam 1) and with
  beam 5: sentences/s;
- ``speech``: ``CTCRecognizer`` (3 x 192 bidirectional LSTM, 3 frames stacked), log-mel features
  of ``--seconds`` of synthetic audio, greedy CTC: the real-time factor (compute seconds per
  audio second; below 1 is faster than real time);
- ``music``: ``PianoRollModel`` (LSTM 256, NADE head) sampling ``--frames`` frames: steps/s;
- ``caption``: ``Captioner`` (3-stage CNN over 64 x 64 RGB images, GRU 256 decoder, Bahdanau
  attention, 2,000 words), 64 images a batch, beam 5, up to 20 words: images/s.

``--save FILE`` writes the translations (ids) to compare another checkout's against:
``--compare FILE`` prints how many of this run's differ. To measure the code before a change,
run this same script with ``PYTHONPATH`` pointing at that commit's ``rnnkit`` (``git archive``)::

    OMP_NUM_THREADS=1 python benchmarks/decoding.py --save /tmp/new.json
    git archive main rnnkit | tar -x -C /tmp/main
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/main python benchmarks/decoding.py --only translate \\
        --compare /tmp/new.json

Quick mode (``make bench``): ``--quick`` (fewer sentences, seconds, frames, images).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import rnnkit
from rnnkit.cpu import cpu_flags
from rnnkit.data.audio_features import FeatureSettings, compute_features
from rnnkit.decoding.ctc import ctc_greedy
from rnnkit.models import Captioner, CTCRecognizer, PianoRollModel, Seq2Seq
from rnnkit.tasks import translate as tr

PARTS = ("translate", "speech", "music", "caption")


def best_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The median CPU seconds of this process over ``repeats`` calls of ``fn`` (one thread: less
    swayed by other jobs on the machine than wall time) and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def translation(sentences: int, repeats: int) -> tuple[list[tuple[str, float, str]], dict]:
    torch.manual_seed(0)
    model = Seq2Seq(8000, 6000, tie_embeddings=True).eval()
    with torch.no_grad():  # untrained, eos would be rare: with this bias outputs end
        model.output_bias[model.eos_id] = 3.0
    rng = random.Random(0)
    sources = [
        [rng.randrange(4, 8000) for _ in range(rng.randint(5, 23))] + [3] for _ in range(sentences)
    ]
    rows, outputs = [], {}
    for beam in (1, 5):
        seconds, result = best_seconds(
            lambda beam=beam: tr.decode_ids(
                model,
                sources,
                beam=beam,
                length_penalty=1.0,
                max_length_ratio=2.0,
                max_target_length=200,
                no_repeat_ngram=0,
                forbidden_ids=[1],
            ),
            repeats,
        )
        outputs[f"beam{beam}"] = result
        tokens = sum(len(ids) for ids in result)
        rows.append(
            (
                f"translate, beam {beam}",
                sentences / seconds,
                f"sentences/CPU-s ({tokens / sentences:.1f} tokens/sentence)",
            )
        )
    return rows, outputs


def transcription(seconds_of_audio: float, repeats: int) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    settings = FeatureSettings()
    model = CTCRecognizer(settings.n_mels, 30, hidden_size=192, num_layers=3, subsample=3).eval()
    t = torch.arange(int(seconds_of_audio * settings.sample_rate)) / settings.sample_rate
    audio = 0.3 * torch.sin(2 * math.pi * 220 * t * (1 + 0.5 * torch.sin(t))) + 0.01 * torch.randn(
        t.shape
    )

    def transcribe() -> list[list[int]]:
        with torch.inference_mode():
            features = compute_features(audio, settings).unsqueeze(0)
            log_probs, lengths = model(features)
            return ctc_greedy(log_probs, lengths)

    seconds, _ = best_seconds(transcribe, repeats)
    return [
        (
            f"transcribe {seconds_of_audio:g} s, greedy CTC",
            seconds / seconds_of_audio,
            "real-time factor (CPU s per audio s)",
        )
    ]


def music(frames: int, repeats: int) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    model = PianoRollModel().eval()
    generator = torch.Generator().manual_seed(0)
    seconds, _ = best_seconds(lambda: model.generate(frames, generator=generator), repeats)
    return [("music, NADE head, 1 sample", frames / seconds, "steps/CPU-s")]


def captions(images: int, repeats: int) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    model = Captioner(2000, image_channels=3, attention_size=64).eval()
    pictures = torch.randn(images, 3, 64, 64)

    def caption_all() -> None:
        for start in range(0, images, 64):
            model.generate(pictures[start : start + 64], None, 20, beam_size=5, length_penalty=1.0)

    seconds, _ = best_seconds(caption_all, repeats)
    return [("caption, beam 5, 64 a batch", images / seconds, "images/CPU-s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated of {PARTS}")
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smaller run of each (make bench)")
    parser.add_argument("--save", type=Path, help="write the translations' ids to this JSON file")
    parser.add_argument("--compare", type=Path, help="a --save file to compare translations with")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.seconds, args.frames, args.images = 64, 10.0, 200, 64
        args.repeats = 1
    parts = [p.strip() for p in args.only.split(",")]
    print(f"rnnkit at {Path(rnnkit.__file__).parent}, {torch.get_num_threads()} thread(s)")
    flags = sorted(f for f in cpu_flags() if f.startswith("amx") or f == "avx512_bf16")
    print(f"CPU flags: {' '.join(flags) or '(no amx, no avx512_bf16)'}")
    rows: list[tuple[str, float, str]] = []
    if "translate" in parts:
        translate_rows, outputs = translation(args.sentences, args.repeats)
        rows += translate_rows
        if args.save:
            args.save.write_text(json.dumps(outputs))
        if args.compare:
            other = json.loads(args.compare.read_text())
            for key, ids in outputs.items():
                differ = sum(a != b for a, b in zip(ids, other.get(key, []), strict=False))
                print(f"{key}: {differ} of {len(ids)} translations differ from {args.compare}")
    if "speech" in parts:
        rows += transcription(args.seconds, args.repeats)
    if "music" in parts:
        rows += music(args.frames, args.repeats)
    if "caption" in parts:
        rows += captions(args.images, args.repeats)
    print(f"\n{'what':<34} {'figure':>10}  unit")
    for name, value, unit in rows:
        print(f"{name:<34} {value:>10.3g}  {unit}")


if __name__ == "__main__":
    main()
