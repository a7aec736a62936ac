"""Connected-digit strings built from the Free Spoken Digit Dataset (FSDD).

FSDD holds single digits spoken by a few speakers, as ``{digit}_{speaker}_{index}.wav`` (mono,
8 kHz); its official split puts indices 0-4 in test and 5-49 in train. A connected-digit string
joins 3-7 recordings of one speaker from one split, with short noisy silences between them and
a random gain per digit: a small continuous speech recognition task ("3 9 1 1") that a CTC model
learns on a CPU.

Run ``python -m rnnkit.data.spoken_digits --fsdd ../shared/data/fsdd/recordings --out
data/digits --train 3000 --test 500 --seed 0`` to write ``train.csv`` and ``test.csv``
(``path,text``) with the WAVs beside them.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.audio import read_audio, write_wav
from rnnkit.errors import UserError

SPLITS = ("train", "test")
TEST_INDICES = range(0, 5)  # FSDD's official test split
FILE_NAME = re.compile(r"^(\d)_([A-Za-z0-9]+)_(\d+)\.wav$")
MAX_GAP_MS = 150.0
MAX_GAIN_DB = 6.0
NOISE_STD = 1e-3  # about -60 dBFS: silence that is not digital zero
PEAK_LIMIT = 0.99


@dataclass(frozen=True)
class Recording:
    """One FSDD file: ``digit`` spoken by ``speaker``, take number ``index``."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def split(self) -> str:
        return "test" if self.index in TEST_INDICES else "train"


@dataclass(frozen=True)
class DigitString:
    """The plan of one connected-digit utterance: ``gaps`` has one more entry than ``parts``
    (before, between and after the digits), in samples; ``gains`` are linear factors."""

    speaker: str
    parts: tuple[Recording, ...]
    gains: tuple[float, ...]
    gaps: tuple[int, ...]

    @property
    def text(self) -> str:
        return " ".join(str(part.digit) for part in self.parts)


def fsdd_recordings(folder: str | Path) -> list[Recording]:
    """Every ``{digit}_{speaker}_{index}.wav`` in ``folder``, sorted by speaker, digit, index."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"FSDD folder {folder} does not exist.")
    recordings = []
    for path in folder.iterdir():
        match = FILE_NAME.match(path.name)
        if match:
            digit, speaker, index = match.groups()
            recordings.append(Recording(path, int(digit), speaker, int(index)))
    if not recordings:
        raise UserError(
            f"FSDD folder {folder} has no recordings named like 7_jackson_32.wav; point to "
            "the dataset's recordings/ folder."
        )
    return sorted(recordings, key=lambda r: (r.speaker, r.digit, r.index))


def select_recordings(
    recordings: Sequence[Recording],
    split: str,
    *,
    speakers: Collection[str] | None = None,
    exclude_speakers: Collection[str] = (),
    folder: str | Path = "FSDD",
) -> list[Recording]:
    """The recordings of ``split`` by the chosen speakers; ``UserError`` when none are left."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    known = {recording.speaker for recording in recordings}
    unknown = (set(speakers or ()) | set(exclude_speakers)) - known
    if unknown:
        raise UserError(
            f"FSDD folder {folder} has no speaker {', '.join(sorted(unknown))}; its speakers "
            f"are {', '.join(sorted(known))}."
        )
    chosen = [
        recording
        for recording in recordings
        if recording.split == split
        and (speakers is None or recording.speaker in speakers)
        and recording.speaker not in exclude_speakers
    ]
    if not chosen:
        raise UserError(f"FSDD folder {folder} has no {split} recordings by the chosen speakers.")
    return chosen


def plan_connected_digits(
    recordings: Sequence[Recording],
    *,
    count: int,
    seed: int,
    min_digits: int = 3,
    max_digits: int = 7,
    sample_rate: int = 8000,
) -> list[DigitString]:
    """Draw ``count`` digit strings, each from one speaker's ``recordings``; deterministic."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    by_speaker: dict[str, list[Recording]] = {}
    for recording in recordings:
        by_speaker.setdefault(recording.speaker, []).append(recording)
    speakers = sorted(by_speaker)
    rng = random.Random(seed)
    max_gap = int(sample_rate * MAX_GAP_MS / 1000)
    plans = []
    for _ in range(count):
        speaker = rng.choice(speakers)
        size = rng.randint(min_digits, max_digits)
        parts = tuple(rng.choice(by_speaker[speaker]) for _ in range(size))
        gains = tuple(10 ** (rng.uniform(-MAX_GAIN_DB, MAX_GAIN_DB) / 20) for _ in parts)
        gaps = tuple(rng.randint(0, max_gap) for _ in range(size + 1))
        plans.append(DigitString(speaker, parts, gains, gaps))
    return plans


def render(
    plan: DigitString, sample_rate: int, noise_seed: int, cache: dict | None = None
) -> np.ndarray:
    """The samples (N,) of ``plan``: gaps of low noise around the gain-scaled digits."""
    pieces = [np.zeros(plan.gaps[0], dtype=np.float32)]
    for part, gain, gap in zip(plan.parts, plan.gains, plan.gaps[1:], strict=True):
        audio = cache.get(part.path) if cache is not None else None
        if audio is None:
            audio = read_audio(part.path, sample_rate).numpy()
            if cache is not None:
                cache[part.path] = audio
        peak = float(np.abs(audio).max())
        if peak > 0:
            gain = min(gain, PEAK_LIMIT / peak)  # +6 dB must not clip a loud take
        pieces += [audio * np.float32(gain), np.zeros(gap, dtype=np.float32)]
    samples = np.concatenate(pieces)
    noise = np.random.default_rng(noise_seed).normal(0.0, NOISE_STD, samples.shape)
    return np.clip(samples + noise.astype(np.float32), -1.0, 1.0)


def split_seed(seed: int, split: str) -> int:
    """The seed ``build_connected_digits`` plans ``split`` with: the two splits differ."""
    return seed * 2 + SPLITS.index(split)


def build_connected_digits(
    folder: str | Path,
    out_dir: str | Path,
    *,
    split: str,
    count: int,
    seed: int,
    min_digits: int = 3,
    max_digits: int = 7,
    speakers: Collection[str] | None = None,
    exclude_speakers: Collection[str] = (),
    sample_rate: int = 8000,
) -> Path:
    """Write ``count`` connected-digit WAVs of ``split`` and ``out_dir/<split>.csv``.

    Each WAV joins ``min_digits``-``max_digits`` recordings of one speaker, all from the split
    (train strings use train takes only), with 0-150 ms noisy gaps before, between and after the
    digits and a gain of +-6 dB per digit. The CSV has ``path,text`` rows: the WAV's path relative
    to the CSV and the digits separated by spaces. The same arguments write the same files.
    """
    chosen = select_recordings(
        fsdd_recordings(folder),
        split,
        speakers=speakers,
        exclude_speakers=exclude_speakers,
        folder=folder,
    )
    plans = plan_connected_digits(
        chosen,
        count=count,
        seed=split_seed(seed, split),
        min_digits=min_digits,
        max_digits=max_digits,
        sample_rate=sample_rate,
    )
    out_dir = Path(out_dir)
    (out_dir / split).mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{split}.csv"
    cache: dict = {}
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text"])
        for number, plan in enumerate(plans):
            relative = f"{split}/{split}_{number:05d}.wav"
            noise_seed = seed * 1_000_003 + number * 2 + SPLITS.index(split)
            write_wav(out_dir / relative, render(plan, sample_rate, noise_seed, cache), sample_rate)
            writer.writerow([relative, plan.text])
    return csv_path


def isolated_digits_csv(
    folder: str | Path,
    out_csv: str | Path,
    split: str,
    *,
    speakers: Collection[str] | None = None,
    exclude_speakers: Collection[str] = (),
) -> Path:
    """Write ``path,text`` rows for the single recordings of ``split`` (paths relative to the
    CSV, text the digit) to ``out_csv``; returns its path."""
    chosen = select_recordings(
        fsdd_recordings(folder),
        split,
        speakers=speakers,
        exclude_speakers=exclude_speakers,
        folder=folder,
    )
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    base = out_csv.parent.resolve()
    with out_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text"])
        for recording in chosen:
            relative = os.path.relpath(recording.path.resolve(), base)
            writer.writerow([Path(relative).as_posix(), str(recording.digit)])
    return out_csv


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.data.spoken_digits",
        description="Build connected-digit train and test sets from FSDD recordings.",
    )
    parser.add_argument("--fsdd", required=True, help="FSDD's recordings/ folder.")
    parser.add_argument("--out", required=True, help="Output folder for the CSVs and WAVs.")
    parser.add_argument("--train", type=int, default=3000, help="Training strings to write.")
    parser.add_argument("--test", type=int, default=500, help="Test strings to write.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-digits", type=int, default=3)
    parser.add_argument("--max-digits", type=int, default=7)
    parser.add_argument("--sample-rate", type=int, default=8000)
    parser.add_argument("--speakers", nargs="+", default=None, help="Use only these speakers.")
    parser.add_argument(
        "--exclude-speakers", nargs="+", default=[], help="Leave these speakers out."
    )
    parser.add_argument(
        "--isolated", action="store_true", help="Also write isolated_{train,test}.csv."
    )
    args = parser.parse_args(argv)
    try:
        for split, count in (("train", args.train), ("test", args.test)):
            path = build_connected_digits(
                args.fsdd,
                args.out,
                split=split,
                count=count,
                seed=args.seed,
                min_digits=args.min_digits,
                max_digits=args.max_digits,
                speakers=args.speakers,
                exclude_speakers=args.exclude_speakers,
                sample_rate=args.sample_rate,
            )
            print(f"wrote {count} {split} strings: {path}", file=sys.stderr)
            if args.isolated:
                isolated = Path(args.out) / f"isolated_{split}.csv"
                isolated_digits_csv(
                    args.fsdd,
                    isolated,
                    split,
                    speakers=args.speakers,
                    exclude_speakers=args.exclude_speakers,
                )
                print(f"wrote {isolated}", file=sys.stderr)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
