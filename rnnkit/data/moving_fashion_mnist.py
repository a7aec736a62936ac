"""Moving Fashion-MNIST: Fashion-MNIST items bouncing in a square canvas, as clips of frames.

The protocol of Moving MNIST (Srivastava et al. 2015) with Fashion-MNIST items, as OpenSTL's
benchmark uses it: each clip puts ``items`` (2) random 28x28 images at random places in a 64x64
canvas, each moving in a straight line at a fixed speed in a random direction and bouncing off
the canvas' edges; overlapping items combine by the brighter pixel. 20 frames: 10 in, 10 out.
Everything is drawn from one NumPy generator, so a seed fixes the clips.

Run as a program to write an ``.npz`` that ``rnnkit train video`` reads::

    python -m rnnkit.data.moving_fashion_mnist --source ../shared/data/fashion_mnist \
        --out mfm_train.npz --clips 10000 --seed 0
    python -m rnnkit.data.moving_fashion_mnist --source ../shared/data/fashion_mnist \
        --split test --out mfm_test.npz --clips 2000 --seed 1

``--labels`` adds a clip-classification set: ``labels`` holds the class name of the clip's
(first) item, so with ``--items 1`` a clip's label is which kind of item moves.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.fashion_mnist import CLASSES, read_fashion_mnist


@dataclass
class MovingClips:
    """``frames (N, T, S, S)`` uint8 and ``classes (N, items)``: each item's class index."""

    frames: np.ndarray
    classes: np.ndarray

    def labels(self) -> np.ndarray:
        """The class name of each clip's first item, ``(N,)`` strings."""
        return np.array([CLASSES[c] for c in self.classes[:, 0]])


def item_paths(
    count: int, steps: int, room: int, speed: float, rng: np.random.Generator
) -> np.ndarray:
    """Top-left corners ``(count, steps, 2)`` (row, column) of items moving in straight lines at
    ``speed`` pixels a frame from a random start in ``[0, room]`` in a random direction, bouncing
    off ``0`` and ``room``."""
    start = rng.uniform(0, room, size=(count, 2))
    angle = rng.uniform(0, 2 * math.pi, size=count)
    velocity = speed * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    positions = np.empty((count, steps, 2))
    position = start.copy()
    for t in range(steps):
        positions[:, t] = position
        position = position + velocity
        for axis in range(2):
            low = position[:, axis] < 0
            high = position[:, axis] > room
            position[low, axis] = -position[low, axis]
            position[high, axis] = 2 * room - position[high, axis]
            velocity[low | high, axis] *= -1
    return positions


def moving_clips(
    images: np.ndarray,
    count: int,
    *,
    steps: int = 20,
    size: int = 64,
    items: int = 2,
    speed: float = 3.0,
    seed: int = 0,
) -> MovingClips:
    """``count`` clips of ``steps`` frames ``size`` x ``size``, each with ``items`` random
    images of ``images (M, h, w)`` uint8 moving in it; ``classes`` holds the chosen images'
    indices into ``images`` (``generate`` turns them into class indices)."""
    if images.ndim != 3:
        raise ValueError(f"images must be (M, h, w), got shape {images.shape}")
    height, width = images.shape[1:]
    if height > size or width > size:
        raise ValueError(f"items of {height}x{width} do not fit a {size}x{size} canvas")
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(images), size=(count, items))
    frames = np.zeros((count, steps, size, size), dtype=np.uint8)
    for item in range(items):
        corners = np.rint(item_paths(count, steps, size - max(height, width), speed, rng))
        corners = corners.astype(np.int64)
        for n in range(count):
            image = images[chosen[n, item]]
            for t in range(steps):
                r, c = corners[n, t]
                window = frames[n, t, r : r + height, c : c + width]
                np.maximum(window, image, out=window)
    return MovingClips(frames, chosen)


def generate(
    source: str | Path,
    count: int,
    *,
    split: str = "train",
    steps: int = 20,
    size: int = 64,
    items: int = 2,
    seed: int = 0,
) -> MovingClips:
    """Moving Fashion-MNIST clips from the ``split`` images of the Fashion-MNIST folder
    ``source``; ``classes`` holds each item's Fashion-MNIST class."""
    images, labels = read_fashion_mnist(source, split)
    clips = moving_clips(images, count, steps=steps, size=size, items=items, seed=seed)
    return MovingClips(clips.frames, labels[clips.classes].astype(np.int64))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.data.moving_fashion_mnist",
        description="Write Moving Fashion-MNIST clips as an .npz of frames (N, T, H, W) uint8.",
    )
    parser.add_argument("--source", required=True, type=Path, help="Fashion-MNIST folder.")
    parser.add_argument("--out", required=True, type=Path, help="The .npz to write.")
    parser.add_argument("--clips", type=int, default=10000, help="Number of clips.")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--steps", type=int, default=20, help="Frames per clip.")
    parser.add_argument("--size", type=int, default=64, help="Canvas side in pixels.")
    parser.add_argument("--items", type=int, default=2, help="Moving items per clip.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--labels", action="store_true", help="Add labels: the class of each clip's first item."
    )
    args = parser.parse_args(argv)
    from rnnkit.errors import UserError

    if min(args.clips, args.steps, args.items) < 1 or args.size < 28:
        parser.error("--clips, --steps and --items must be >= 1 and --size >= 28")
    try:
        clips = generate(
            args.source,
            args.clips,
            split=args.split,
            steps=args.steps,
            size=args.size,
            items=args.items,
            seed=args.seed,
        )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    arrays = {"frames": clips.frames}
    if args.labels:
        arrays["labels"] = clips.labels()
    np.savez(args.out, **arrays)
    print(f"{args.out}: {args.clips} clips of {args.steps} frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
