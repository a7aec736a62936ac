"""Connected digits from FSDD: split discipline, texts, lengths and content of the WAVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnkit.data.spoken_digits import (
    build_connected_digits,
    fsdd_recordings,
    isolated_digits_csv,
    main,
    plan_connected_digits,
    select_recordings,
    split_seed,
)
from rnnkit.errors import UserError


@pytest.fixture
def fsdd(shared_data: Path) -> Path:
    folder = shared_data / "fsdd" / "recordings"
    if not folder.is_dir():
        pytest.skip(f"FSDD not found at {folder}")
    return folder


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_recordings_and_split(fsdd, tmp_path):
    recordings = fsdd_recordings(fsdd)
    assert len(recordings) == 3000
    assert {r.speaker for r in recordings} == {
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler",
    }  # fmt: skip
    test = select_recordings(recordings, "test")
    assert len(test) == 300 and all(r.index <= 4 for r in test)
    train = select_recordings(recordings, "train", exclude_speakers=["theo"])
    assert len(train) == 2250 and all(r.index >= 5 and r.speaker != "theo" for r in train)
    with pytest.raises(UserError, match="nobody"):
        select_recordings(recordings, "train", speakers=["nobody"])
    with pytest.raises(UserError, match="no recordings"):
        fsdd_recordings(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_built_strings_follow_their_plan(fsdd, tmp_path, split):
    csv_path = build_connected_digits(
        fsdd, tmp_path / "a", split=split, count=6, seed=3, exclude_speakers=["theo"]
    )
    assert csv_path == tmp_path / "a" / f"{split}.csv"
    rows = _rows(csv_path)
    chosen = select_recordings(fsdd_recordings(fsdd), split, exclude_speakers=["theo"])
    plans = plan_connected_digits(chosen, count=6, seed=split_seed(3, split))
    assert len(rows) == len(plans) == 6
    for row, plan in zip(rows, plans, strict=True):
        assert 3 <= len(plan.parts) <= 7 and len(plan.gaps) == len(plan.parts) + 1
        assert all(part.split == split and part.speaker == plan.speaker for part in plan.parts)
        assert plan.speaker != "theo"
        assert row["text"] == " ".join(str(part.digit) for part in plan.parts)
        wav, rate = sf.read(csv_path.parent / row["path"], dtype="float32")
        assert rate == 8000
        lengths = [sf.info(part.path).frames for part in plan.parts]
        assert len(wav) == sum(lengths) + sum(plan.gaps)
        assert all(0 <= gap <= 1200 for gap in plan.gaps)
        position = plan.gaps[0]
        assert np.abs(wav[:position]).max(initial=0) < 0.01  # a noisy gap, not a digit ...
        if position > 10:
            assert np.abs(wav[:position]).max() > 0  # ... and not digital zero
        for part, length, gap in zip(plan.parts, lengths, plan.gaps[1:], strict=True):
            original, _ = sf.read(part.path, dtype="float32")
            segment = wav[position : position + length]
            gain = float(segment @ original / (original @ original))
            assert 10 ** (-6.05 / 20) <= gain <= 10 ** (6.05 / 20)
            assert np.abs(segment - gain * original).max() < 0.01
            position += length + gap


def test_deterministic_and_seed_dependent(fsdd, tmp_path):
    one = build_connected_digits(fsdd, tmp_path / "one", split="test", count=3, seed=1)
    two = build_connected_digits(fsdd, tmp_path / "two", split="test", count=3, seed=1)
    other = build_connected_digits(fsdd, tmp_path / "other", split="test", count=3, seed=2)
    assert one.read_text() == two.read_text()
    for row in _rows(one):
        assert (one.parent / row["path"]).read_bytes() == (two.parent / row["path"]).read_bytes()
    assert _rows(one) != _rows(other) or any(
        (one.parent / a["path"]).read_bytes() != (other.parent / b["path"]).read_bytes()
        for a, b in zip(_rows(one), _rows(other), strict=True)
    )


def test_isolated_csv_and_command_line(fsdd, tmp_path):
    out = isolated_digits_csv(fsdd, tmp_path / "iso" / "test.csv", "test", speakers=["george"])
    rows = _rows(out)
    assert len(rows) == 50
    for row in rows[:5]:
        path = (out.parent / row["path"]).resolve()
        assert path.is_file() and path.name.startswith(row["text"] + "_george_")
    code = main(
        ["--fsdd", str(fsdd), "--out", str(tmp_path / "cli"), "--train", "2", "--test", "1",
         "--speakers", "lucas", "--max-digits", "3"]
    )  # fmt: skip
    assert code == 0
    assert len(_rows(tmp_path / "cli" / "train.csv")) == 2
    assert [len(r["text"].split()) for r in _rows(tmp_path / "cli" / "test.csv")] == [3]
    assert main(["--fsdd", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
