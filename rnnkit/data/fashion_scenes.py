"""Captioned scenes of one to three clothing items, generated from a seed, with a split of item
combinations never seen in training (for ``rnnkit train caption``: tests, examples, benchmarks).

A scene is a black ``64 x 64`` canvas with 1-3 items in distinct slots (left, middle, right),
each small (18 px) or large (28 px), drawn from Fashion-MNIST's 28 x 28 images (``--fashion-mnist
DIR``, the folder of its IDX files) or, without it, from simple shapes drawn here (squares,
circles, crosses...), so that tests need no data set. A small grammar describes each scene in
several paraphrases, which are its reference captions::

    a small sneaker on the left            | there is a small sneaker on the left
    a large bag to the left of a small coat | a small coat to the right of a large bag
    three dresses in a row                 | a dress, a bag and a coat from left to right

*Held-out combinations*: a seeded choice of class pairs never occurs together in a training,
validation or test scene; the ``heldout`` split holds only scenes with such a pair, so a model
must describe combinations it has only seen in parts (compositional generalisation).

``python -m rnnkit.data.fashion_scenes --out DIR [--fashion-mnist DIR] [--seed 0] ...`` writes
``DIR/images/*.png`` and per split ``DIR/<split>.csv`` (``image,caption``, one row per reference)
and ``DIR/keywords_<split>.csv`` (the same captions from each item's slot, size and name, left
to right, e.g. ``left small bag right large coat``: keywords -> sentence). Pass ``--images
DIR/images`` to the caption commands.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.idx import read_idx
from rnnkit.errors import require_extra

CANVAS = 64
#: the item sizes in pixels, and the slots' centres across the canvas
SIZES = {"small": 18, "large": 28}
SLOTS = ("left", "middle", "right")
SLOT_CENTRES = (12, 32, 52)
SPLITS = ("train", "val", "test", "heldout")

#: Fashion-MNIST's classes in label order: (singular, plural)
FASHION_NAMES = (
    ("top", "tops"),
    ("trouser", "trousers"),
    ("pullover", "pullovers"),
    ("dress", "dresses"),
    ("coat", "coats"),
    ("sandal", "sandals"),
    ("shirt", "shirts"),
    ("sneaker", "sneakers"),
    ("bag", "bags"),
    ("boot", "boots"),
)
SHAPE_NAMES = (
    ("square", "squares"),
    ("circle", "circles"),
    ("cross", "crosses"),
    ("triangle", "triangles"),
    ("ring", "rings"),
)

_POSITION = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
_NUMBER = {2: "two", 3: "three"}


# ------------------------------------------------------------------------------ items


class ItemSource:
    """The items scenes are made of: class names and a way to draw one item ``(28, 28)``."""

    names: Sequence[tuple[str, str]]

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class FashionItems(ItemSource):
    """Items from Fashion-MNIST: a random image of the class (training images only)."""

    names = FASHION_NAMES

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        images = read_idx(folder / "train-images-idx3-ubyte.gz")
        labels = read_idx(folder / "train-labels-idx1-ubyte.gz")
        self.by_label = [images[labels == label] for label in range(len(self.names))]

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray:
        pool = self.by_label[label]
        return pool[rng.integers(len(pool))]


class ShapeItems(ItemSource):
    """Items drawn here: five shapes with a random stroke and brightness (no data set needed)."""

    names = SHAPE_NAMES

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray:
        y, x = np.mgrid[0:28, 0:28] - 13.5
        width = rng.uniform(2.0, 4.0)
        radius = np.hypot(x, y)
        masks = (
            (np.abs(x) < 11) & (np.abs(y) < 11),  # square
            radius < 12,  # circle
            (np.abs(x) < width) | (np.abs(y) < width),  # cross
            (y > -11) & (y < 11) & (np.abs(x) < (y + 11) / 2),  # triangle
            (radius < 12) & (radius > 12 - 2 * width),  # ring
        )
        return (masks[label] * rng.uniform(150, 255)).astype(np.uint8)


# ------------------------------------------------------------------------------ scenes


@dataclass(frozen=True)
class Item:
    label: int
    size: str  # "small" | "large"
    slot: int  # 0 left, 1 middle, 2 right


def random_items(classes: int, rng: np.random.Generator, count: int | None = None) -> list[Item]:
    """1-3 items (``count`` when given) in distinct slots, left to right."""
    count = count or int(rng.integers(1, 4))
    slots = sorted(rng.choice(3, size=count, replace=False).tolist())
    return [Item(int(rng.integers(classes)), str(rng.choice(list(SIZES))), slot) for slot in slots]


def held_out_pairs(classes: int, seed: int, share: float = 0.2) -> set[frozenset[int]]:
    """A seeded ``share`` of the unordered pairs of distinct classes (at least one)."""
    pairs = [frozenset(p) for p in itertools.combinations(range(classes), 2)]
    rng = np.random.default_rng([seed, 7])
    chosen = rng.choice(len(pairs), size=max(1, round(share * len(pairs))), replace=False)
    return {pairs[i] for i in chosen}


def has_held_out_pair(items: Sequence[Item], held_out: set[frozenset[int]]) -> bool:
    labels = {item.label for item in items}
    return any(pair <= labels for pair in held_out)


def render(items: Sequence[Item], source: ItemSource, rng: np.random.Generator) -> np.ndarray:
    """The scene ``uint8 (64, 64)``: each item scaled to its size and placed in its slot, with a
    little jitter; overlapping pixels keep the brighter value."""
    image_module = require_extra("PIL.Image", "images", "drawing scenes")
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    for item in items:
        side = SIZES[item.size]
        drawn = image_module.fromarray(source.draw(item.label, rng)).resize((side, side))
        x = SLOT_CENTRES[item.slot] + int(rng.integers(-2, 3)) - side // 2
        y = CANVAS // 2 + int(rng.integers(-10, 11)) - side // 2
        x, y = min(max(x, 0), CANVAS - side), min(max(y, 0), CANVAS - side)
        patch = canvas[y : y + side, x : x + side]
        np.maximum(patch, np.asarray(drawn), out=patch)
    return canvas


# ------------------------------------------------------------------------------ captions


def describe(items: Sequence[Item], names: Sequence[tuple[str, str]]) -> list[str]:
    """The reference captions of a scene (items left to right): two or three paraphrases."""

    def one(item: Item) -> str:
        return f"a {item.size} {names[item.label][0]}"

    if len(items) == 1:
        (item,) = items
        where = _POSITION[SLOTS[item.slot]]
        return [f"{one(item)} {where}", f"there is {one(item)} {where}",
                f"{one(item)} {where} of the picture"]  # fmt: skip
    labels = {item.label for item in items}
    plural = names[items[0].label][1]
    if len(items) == 2:
        left, right = items
        if len(labels) == 1 and left.size == right.size:
            number = f"two {left.size} {plural}"
            return [number, f"{number} side by side", f"there are {number}"]
        return [f"{one(left)} to the left of {one(right)}",
                f"{one(right)} to the right of {one(left)}",
                f"{one(left)} and {one(right)}"]  # fmt: skip
    if len(labels) == 1:
        return ["three " + plural, f"three {plural} in a row", f"there are three {plural}"]
    a, b, c = (names[item.label][0] for item in items)
    return [f"a {a}, a {b} and a {c} from left to right",
            f"from left to right a {a}, a {b} and a {c}",
            f"a {a} next to a {b} and a {c}"]  # fmt: skip


def keywords(items: Sequence[Item], names: Sequence[tuple[str, str]]) -> str:
    """The scene as keywords, left to right: ``"left small bag middle large coat"``."""
    return " ".join(f"{SLOTS[item.slot]} {item.size} {names[item.label][0]}" for item in items)


# ------------------------------------------------------------------------------ writing


def generate(
    out: str | Path,
    counts: dict[str, int],
    *,
    seed: int = 0,
    fashion_mnist: str | Path | None = None,
    held_out_share: float = 0.2,
) -> dict[str, Path]:
    """Write scenes and their captions under ``out`` (see the module doc); ``counts``: scenes per
    split (``train``, ``val``, ``test``, ``heldout``). Returns each split's caption table."""
    image_module = require_extra("PIL.Image", "images", "writing scenes")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    source: ItemSource = FashionItems(fashion_mnist) if fashion_mnist else ShapeItems()
    classes = len(source.names)
    held_out = held_out_pairs(classes, seed, held_out_share)
    rng = np.random.default_rng(seed)
    tables = {}
    for split in SPLITS:
        rows, keyword_rows = [], []
        for index in range(counts.get(split, 0)):
            while True:
                items = random_items(classes, rng, None if split != "heldout" else
                                     int(rng.integers(2, 4)))  # fmt: skip
                if has_held_out_pair(items, held_out) == (split == "heldout"):
                    break
            name = f"{split}_{index:05d}.png"
            image_module.fromarray(render(items, source, rng)).save(out / "images" / name)
            for caption in describe(items, source.names):
                rows.append((name, caption))
                keyword_rows.append((keywords(items, source.names), caption))
        tables[split] = _write_rows(out / f"{split}.csv", rows)
        _write_rows(out / f"keywords_{split}.csv", keyword_rows)
    return tables


def _write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.data.fashion_scenes",
        description="Write captioned scenes of clothing items (or shapes) for rnnkit's caption "
        "task, with a split of item combinations never seen in training.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--fashion-mnist", type=Path, help="folder of Fashion-MNIST's IDX files")
    parser.add_argument("--seed", type=int, default=0)
    for split, default in zip(SPLITS, (6000, 300, 500, 500), strict=True):
        parser.add_argument(f"--{split}", type=int, default=default, help=f"{split} scenes")
    args = parser.parse_args(argv)
    counts = {split: getattr(args, split) for split in SPLITS}
    tables = generate(args.out, counts, seed=args.seed, fashion_mnist=args.fashion_mnist)
    for split, path in tables.items():
        print(f"{split}: {counts[split]} scenes, captions in {path}")


if __name__ == "__main__":
    main()
