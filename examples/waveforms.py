"""One-to-many generation: waveforms from (frequency, amplitude, shape).

A ``ConditionalGenerator`` learns to draw ``STEPS`` samples of a sine, square or triangle wave
from a condition vector ``[cos w, sin w, amplitude, one-hot shape]`` (``w``: the phase turned per
step): the vector sets the GRU's initial state (and is given again at every step), and the
network unrolls the wave from it.
Run it to train for a few seconds and plot generated waves next to the true ones::

    python examples/waveforms.py --train-steps 600 --plot waveforms.png

Frequencies are in cycles per ``STEPS`` samples, so the FFT of a generated wave should peak at
the frequency it was asked for (``tests/examples/test_waveforms.py`` checks that).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from rnnkit.models.generator import ConditionalGenerator

STEPS = 64
SHAPES = ("sine", "square", "triangle")


def waveform(cycles: float, amplitude: float, shape: str, steps: int = STEPS) -> np.ndarray:
    """``steps`` samples of a wave with ``cycles`` periods over the whole length."""
    phase = (np.arange(steps) * cycles / steps) % 1.0
    if shape == "sine":
        wave = np.sin(2 * np.pi * phase)
    elif shape == "square":
        wave = np.where(phase < 0.5, 1.0, -1.0)
    elif shape == "triangle":
        wave = 1.0 - 4.0 * np.abs(phase - 0.5)
        wave = -wave  # starts at -1 -> rises, like the sine starts rising
    else:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    return amplitude * wave


def condition(cycles: float, amplitude: float, shape: str, steps: int = STEPS) -> np.ndarray:
    """The condition vector ``(3 + len(SHAPES),)`` of a wave."""
    one_hot = np.eye(len(SHAPES))[SHAPES.index(shape)]
    # the frequency as the phase turned per step, (cos, sin): neighbouring frequencies differ
    # by as much as the waves do, which a plain "cycles / 8" number hides at small scale
    step_angle = 2 * np.pi * cycles / steps
    return np.concatenate([[np.cos(step_angle), np.sin(step_angle), amplitude], one_hot])


def sample_batch(
    size: int, rng: np.random.Generator, shapes=SHAPES, cycles=(2, 3, 4, 5, 6), steps: int = STEPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random conditions ``(B, K)`` and their waves ``(B, steps, 1)``."""
    conditions, waves = [], []
    for _ in range(size):
        c = float(rng.choice(cycles))
        a = float(rng.uniform(0.5, 1.0))
        s = str(rng.choice(shapes))
        conditions.append(condition(c, a, s, steps))
        waves.append(waveform(c, a, s, steps))
    return (
        torch.tensor(np.array(conditions), dtype=torch.float32),
        torch.tensor(np.array(waves), dtype=torch.float32).unsqueeze(-1),
    )


def train_generator(
    train_steps: int = 600,
    batch_size: int = 32,
    hidden_size: int = 48,
    lr: float = 1e-2,
    seed: int = 0,
    shapes=SHAPES,
    cycles=(2, 3, 4, 5, 6),
    steps: int = STEPS,
) -> ConditionalGenerator:
    """Teacher-forced training with Adam on freshly drawn waves; returns the model (eval mode)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ConditionalGenerator(3 + len(SHAPES), 1, hidden_size=hidden_size, cell="gru")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, train_steps)
    for _ in range(train_steps):
        conditions, waves = sample_batch(batch_size, rng, shapes, cycles, steps)
        loss = torch.nn.functional.mse_loss(model(conditions, waves), waves)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return model.eval()


def dominant_cycles(wave: np.ndarray) -> int:
    """The FFT bin (cycles per the wave's length) with the most power, the constant excluded."""
    spectrum = np.abs(np.fft.rfft(wave - wave.mean()))
    return int(np.argmax(spectrum[1:]) + 1)


def generate(
    model: ConditionalGenerator, cycles: float, amplitude: float, shape: str, steps: int = STEPS
) -> np.ndarray:
    """One generated wave ``(steps,)`` for the given parameters."""
    vector = torch.tensor(condition(cycles, amplitude, shape, steps), dtype=torch.float32)[None]
    return model.generate(vector, steps)[0, :, 0].numpy()


def plot(model: ConditionalGenerator, path: Path) -> None:
    """A grid of generated (solid) and true (dashed) waves: one row per shape."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), layout="constrained")
    axes = figure.subplots(len(SHAPES), 3, sharex=True, sharey=True)
    for row, shape in enumerate(SHAPES):
        for column, (cycles, amplitude) in enumerate([(2, 1.0), (4, 0.7), (6, 0.9)]):
            axis = axes[row, column]
            axis.plot(waveform(cycles, amplitude, shape), "--", color="0.6", label="true")
            axis.plot(
                generate(model, cycles, amplitude, shape), color="tab:blue", label="generated"
            )
            axis.set_title(f"{shape}, {cycles} cycles, amplitude {amplitude}", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--plot", type=Path, default=Path("waveforms.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = train_generator(args.train_steps, seed=args.seed)
    for shape in SHAPES:
        found = [dominant_cycles(generate(model, c, 1.0, shape)) for c in (2, 3, 4, 5, 6)]
        print(f"{shape:<9} asked 2..6 cycles, FFT peaks at {found}")
    plot(model, args.plot)
    print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
