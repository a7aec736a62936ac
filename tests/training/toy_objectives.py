"""Tiny models and objectives for the training-engine tests (not tests themselves).

``StreamObjective`` is truncated BPTT in miniature: B parallel streams of a noisy sine-like
series cut into chunks of T steps; an LSTM predicts the next value, carrying its state across
chunks. The epoch's stream order comes from the trainer's generator, so data order follows the
seed. ``train_toy`` is the one recipe the in-process tests and the subprocess scripts share.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

from rnnkit.training import StepResult, Trainer, TrainOptions, seed_everything


class TinyLSTM(nn.Module):
    """LSTM(1 -> H) with dropout on its outputs and a linear read-out: (B, T, 1) -> (B, T, 1)."""

    def __init__(self, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        output, state = self.lstm(x, state)
        return self.head(self.dropout(output)), state


class StreamObjective:
    """Next-value prediction on ``streams`` series of ``chunks * bptt + 1`` steps."""

    monitor = "loss"
    mode = "min"

    def __init__(self, streams=6, chunks=4, bptt=5, sleep=0.0, on_step=None, eval_noise=True):
        data_gen = torch.Generator().manual_seed(1234)  # data independent of the run seed
        steps = chunks * bptt + 1
        phase = torch.rand(streams, 1, generator=data_gen) * 6.28
        t = torch.arange(steps, dtype=torch.float32)
        series = torch.sin(0.3 * t + phase) + 0.1 * torch.randn(streams, steps, generator=data_gen)
        self.series = series.unsqueeze(-1)  # (S, steps, 1)
        self.chunks, self.bptt = chunks, bptt
        self.sleep, self.on_step, self.eval_noise = sleep, on_step, eval_noise
        self.calls = 0
        self.incoming_carries = []

    def batches_per_epoch(self) -> int:
        return self.chunks

    def train_batches(self, epoch, generator):
        order = torch.randperm(self.series.shape[0], generator=generator)
        series = self.series[order]
        for c in range(self.chunks):
            window = series[:, c * self.bptt : (c + 1) * self.bptt + 1]
            yield {"x": window[:, :-1], "y": window[:, 1:]}

    def training_step(self, model, batch, carry):
        self.incoming_carries.append(carry)
        prediction, state = model(batch["x"], carry)
        loss = nn.functional.mse_loss(prediction, batch["y"])
        self.calls += 1
        if self.on_step is not None:
            self.on_step(self.calls)
        if self.sleep:
            time.sleep(self.sleep)
        return StepResult(loss=loss, items=batch["y"].numel(), carry=state)

    def evaluate(self, model):
        if self.eval_noise:
            torch.rand(3)  # evaluation that draws randomness must not disturb training
        prediction, _ = model(self.series[:, :-1])
        return {"loss": float(nn.functional.mse_loss(prediction, self.series[:, 1:]))}


def train_toy(
    run_dir, *, resume=False, sleep=0.0, on_step=None, dropout=0.2, streams=6, **overrides
):
    """Seed, build TinyLSTM and StreamObjective, train; returns (model, objective, result)."""
    options = TrainOptions(epochs=3, lr=0.01, seed=7, checkpoint_every=2, progress="off")
    options.resume = resume
    for name, value in overrides.items():
        if not hasattr(options, name):
            raise TypeError(f"TrainOptions has no field {name!r}")
        setattr(options, name, value)
    seed_everything(options.seed)
    model = TinyLSTM(dropout=dropout)
    objective = StreamObjective(streams=streams, sleep=sleep, on_step=on_step)
    result = Trainer(model, objective, options, run_dir).fit()
    return model, objective, result


def main(arguments: list[str]) -> None:
    """``python toy_objectives.py RUN_DIR [--resume] [--sleep S] [--dropout P] [--streams N]``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--optimizer", default="adamw")
    args = parser.parse_args(arguments)
    train_toy(
        args.run_dir,
        resume=args.resume,
        sleep=args.sleep,
        on_step=lambda step: print(f"step {step}", flush=True),
        dropout=args.dropout,
        streams=args.streams,
        optimizer=args.optimizer,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main(sys.argv[1:])
