"""Connected spoken digits from FSDD: CER/WER of ``rnnkit train speech``, speed of transcription.

What it does, all in one run on this machine:

1. builds connected-digit strings (3-7 digits of one speaker, random gaps and gains) with
   ``rnnkit.data.spoken_digits``: training strings from FSDD's training takes (index 5-49),
   test strings from its test takes (index 0-4) only;
2. trains ``rnnkit train speech`` on them for ``--minutes`` (defaults of the task unless flags
   are given) and evaluates the test strings: CER and WER, greedy and with a beam;
3. leave one speaker out (``--loso SPEAKER``): trains again without that speaker's recordings and
   tests on strings made of that speaker's test takes;
4. (``--parts streaming``) a unidirectional model, which can stream, trained and tested the same;
5. speed on one thread: the real-time factor of transcribing the test strings (audio seconds per
   second of compute, reading and features included) and the compute per 100 ms chunk of a
   streaming (unidirectional) model of the same size.

Run: ``OMP_NUM_THREADS=1 python benchmarks/speech.py --fsdd ../shared/data/fsdd/recordings
[--minutes 15] [--parts main,loso,streaming]`` (one thread: "15 CPU minutes" of training).
Published anchor for context: Graves et al. 2013, deep BiLSTM + CTC, TIMIT phone error 17.7%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.cpu import cpu_flags
from rnnkit.data.audio import audio_info, read_audio
from rnnkit.data.spoken_digits import build_connected_digits
from rnnkit.data.transcripts import read_transcribed_audio
from rnnkit.models.speech import CTCRecognizer
from rnnkit.tasks import speech

MODEL_FLAGS = ("subsample", "hidden", "layers", "batch_size", "lr", "dropout", "cell")


def train_and_test(
    name: str,
    train_csv: Path,
    test_csv: Path,
    work: Path,
    minutes: float,
    args: argparse.Namespace,
    **more: object,
) -> tuple[Path, dict]:
    """Train a run on ``train_csv`` for ``minutes`` and evaluate it on ``test_csv``."""
    overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
    overrides.update(more)
    options = speech.SpeechOptions(
        data=train_csv,
        out=work / name,
        time_limit=minutes * 60,
        epochs=None,
        progress="plain",
        log_every=100,
        seed=args.seed,
        **overrides,
    )
    started = time.perf_counter()
    run = speech.train(options)
    seconds = time.perf_counter() - started
    greedy = speech.evaluate(run, test_csv)
    beam = speech.evaluate(run, test_csv, beam=args.beam)
    print(
        f"{name}: trained {seconds / 60:.1f} min (with reading); test {greedy['files']} files, "
        f"{greedy['audio_seconds'] / 60:.1f} min of audio: CER {100 * greedy['cer']:.2f}% "
        f"WER {100 * greedy['wer']:.2f}% (greedy); CER {100 * beam['cer']:.2f}% "
        f"WER {100 * beam['wer']:.2f}% (beam {args.beam})",
        flush=True,
    )
    return run, greedy


def real_time_factor(run: Path, test_csv: Path) -> tuple[float, float]:
    """(audio seconds per compute second, compute seconds) of transcribing ``test_csv`` on one
    thread, reading and features included."""
    paths = [item.path for item in read_transcribed_audio(test_csv)]
    audio = sum(audio_info(p)[1] for p in paths)
    started = time.perf_counter()
    speech.transcribe_files(run, paths)
    compute = time.perf_counter() - started
    return audio / compute, compute


def streaming_latency(run: Path, test_csv: Path, chunk_ms: float = 100.0) -> list[float]:
    """Seconds of compute per ``chunk_ms`` chunk (features, model, greedy text) of a streaming
    model the size of ``run``'s (unidirectional; its weights do not change the time)."""
    loaded = speech.load_run(run)
    config = {**loaded.model.config(), "bidirectional": False}
    model = CTCRecognizer.from_config(config).eval()
    featurizer, tokenizer = loaded.featurizer, loaded.tokenizer
    path = read_transcribed_audio(test_csv)[0].path
    samples = read_audio(path, featurizer.settings.sample_rate)
    chunk = round(featurizer.settings.sample_rate * chunk_ms / 1000)
    chunks = list(samples.split(chunk))
    timings = []
    stream = speech.stream_text(model, featurizer, tokenizer, chunks)
    while True:
        started = time.perf_counter()
        try:
            next(stream)
        except StopIteration:
            break
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=Path("../shared/data/fsdd/recordings"))
    parser.add_argument("--work", type=Path, default=None, help="Folder for data and runs.")
    parser.add_argument("--minutes", type=float, default=15.0, help="Training time per model.")
    parser.add_argument("--train-strings", type=int, default=3000)
    parser.add_argument("--test-strings", type=int, default=500)
    parser.add_argument(
        "--parts",
        default="main,loso",
        help="Comma-separated: main (all speakers, then speed), loso, streaming.",
    )
    parser.add_argument("--loso", default="theo", help="The speaker left out by 'loso'.")
    parser.add_argument("--streaming-minutes", type=float, default=None, help="Default: --minutes.")
    parser.add_argument("--loso-minutes", type=float, default=None, help="Default: --minutes.")
    parser.add_argument("--beam", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    for flag in MODEL_FLAGS:
        kind = float if flag in ("lr", "dropout") else str if flag == "cell" else int
        parser.add_argument("--" + flag.replace("_", "-"), type=kind, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rnnkit-speech-"))
    flags = sorted(cpu_flags() & {"avx512f", "avx512_bf16", "amx_bf16"})
    print(
        f"CPU flags: {', '.join(flags)}; threads {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f}; work folder {work}",
        flush=True,
    )

    digits = work / "digits"
    train_csv = build_connected_digits(
        args.fsdd, digits, split="train", count=args.train_strings, seed=args.seed
    )
    test_csv = build_connected_digits(
        args.fsdd, digits, split="test", count=args.test_strings, seed=args.seed
    )
    parts = set(args.parts.split(","))
    if "main" in parts:
        run, _ = train_and_test("all-speakers", train_csv, test_csv, work, args.minutes, args)
        speed(run, test_csv)
    if "streaming" in parts:
        minutes = args.streaming_minutes or args.minutes
        run, _ = train_and_test(
            "streaming", train_csv, test_csv, work, minutes, args, bidirectional=False
        )
        speed(run, test_csv)
    if "loso" in parts:
        held = work / "loso"
        loso_train = build_connected_digits(
            args.fsdd, held, split="train", count=args.train_strings, seed=args.seed,
            exclude_speakers=[args.loso],
        )  # fmt: skip
        loso_test = build_connected_digits(
            args.fsdd, held, split="test", count=args.test_strings // 2, seed=args.seed,
            speakers=[args.loso],
        )  # fmt: skip
        minutes = args.loso_minutes or args.minutes
        train_and_test(f"without-{args.loso}", loso_train, loso_test, work, minutes, args)


def speed(run: Path, test_csv: Path) -> None:
    """Print the real-time factor and the streaming compute per chunk, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    factor, compute = real_time_factor(run, test_csv)
    print(f"transcription, 1 thread: real-time factor {factor:.0f}x ({compute:.1f} s of compute)")
    timings = streaming_latency(run, test_csv)
    print(
        f"streaming, 1 thread, 100 ms chunks: {1000 * statistics.mean(timings):.2f} ms mean, "
        f"{1000 * sorted(timings)[int(0.95 * (len(timings) - 1))]:.2f} ms p95 per chunk",
        flush=True,
    )
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
