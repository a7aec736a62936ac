"""The scene generator: its grammar, its held-out combinations, its seed, and IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.fashion_scenes import (
    FASHION_NAMES,
    SHAPE_NAMES,
    FashionItems,
    Item,
    describe,
    generate,
    has_held_out_pair,
    held_out_pairs,
    keywords,
)
from rnnkit.data.idx import read_idx
from rnnkit.errors import UserError

FASHION = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion_mnist"


def test_the_grammar_names_counts_sizes_and_positions():
    names = SHAPE_NAMES  # square, circle, cross, triangle, ring
    assert describe([Item(1, "small", 0)], names)[0] == "a small circle on the left"
    pair = describe([Item(0, "large", 0), Item(4, "small", 2)], names)
    assert pair[:2] == ["a large square to the left of a small ring",
                        "a small ring to the right of a large square"]  # fmt: skip
    assert describe([Item(2, "small", 0), Item(2, "small", 1)], names)[0] == "two small crosses"
    assert describe([Item(3, "large", i) for i in range(3)], names)[0] == "three triangles"
    assert keywords([Item(0, "large", 0), Item(4, "small", 2)], names) == (
        "left large square right small ring"
    )


def test_held_out_pairs_appear_only_in_the_held_out_split(tmp_path):
    counts = {"train": 60, "val": 5, "test": 10, "heldout": 10}
    tables = generate(tmp_path, counts, seed=3)
    held = held_out_pairs(len(SHAPE_NAMES), 3)
    assert len(held) == 2  # 20% of the 10 pairs
    singular = {s: i for i, (s, _) in enumerate(SHAPE_NAMES)}
    for split, path in tables.items():
        frame = pd.read_csv(tmp_path / f"keywords_{split}.csv")
        assert frame["image"].nunique() <= counts[split]
        for text in frame["image"].unique():
            labels = [singular[w] for w in text.split() if w in singular]
            items = [Item(label, "small", 0) for label in labels]
            assert has_held_out_pair(items, held) == (split == "heldout"), (split, text)
        images = pd.read_csv(path)["image"].unique()
        assert len(images) == counts[split]
        assert all((tmp_path / "images" / name).is_file() for name in images)


def test_the_same_seed_writes_the_same_scenes(tmp_path):
    counts = {"train": 4, "val": 0, "test": 0, "heldout": 2}
    generate(tmp_path / "a", counts, seed=1)
    generate(tmp_path / "b", counts, seed=1)
    generate(tmp_path / "c", counts, seed=2)
    for name in ("train.csv", "heldout.csv", "images/train_00003.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.csv").read_bytes() != (
        tmp_path / "c" / "train.csv"
    ).read_bytes()


def test_idx_files_are_read_by_their_header(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2, 3, 4)
    with gzip.open(tmp_path / "x-idx3-ubyte.gz", "wb") as file:
        file.write(header + values.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz"), values)
    (tmp_path / "short").write_bytes(header + values.tobytes()[:-1])
    with pytest.raises(UserError, match="damaged"):
        read_idx(tmp_path / "short")


@pytest.mark.skipif(not FASHION.is_dir(), reason="../shared/data/fashion_mnist is absent")
def test_fashion_mnist_items_come_from_their_class():
    items = FashionItems(FASHION)
    assert [len(pool) for pool in items.by_label] == [6000] * len(FASHION_NAMES)
    drawn = items.draw(8, np.random.default_rng(0))
    assert drawn.shape == (28, 28) and drawn.dtype == np.uint8
