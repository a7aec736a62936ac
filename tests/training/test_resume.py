"""Exact resume: a run killed with SIGKILL (or stopped by Ctrl-C) and resumed ends bit-identical."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.training.checkpoint import checkpoint_path, load_checkpoint
from rnnkit.training.rundir import read_safetensors

sys.path.insert(0, str(Path(__file__).parent))
from toy_objectives import StreamObjective, train_toy  # noqa: E402


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_safetensors(run_dir / "model.safetensors")


def _train_and_report_steps(run_dir: str, steps) -> None:
    train_toy(run_dir, sleep=0.02, on_step=steps.put)


def test_run_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    # 3 epochs x 4 batches; checkpoints every 2 steps and at epoch ends; dropout 0.2 draws
    # random numbers every step and evaluation draws some too, so RNG state must be restored;
    # the LSTM state is carried across batches, so the carry must be restored too.
    _, _, expected = train_toy(tmp_path / "reference")

    killed = tmp_path / "killed"
    fork = multiprocessing.get_context("fork")  # a real process, started without re-importing
    steps = fork.Queue()
    child = fork.Process(target=_train_and_report_steps, args=(str(killed), steps))
    child.start()
    while steps.get(timeout=60) < 3:
        pass
    os.kill(child.pid, signal.SIGKILL)  # mid-epoch, one step past the step-2 checkpoint
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    assert load_checkpoint(checkpoint_path(killed)).state["step"] == 2
    assert not (killed / "model.safetensors").exists()

    _, objective, resumed = train_toy(killed, resume=True)
    assert objective.calls == 10  # steps 3..12: resumed from the checkpoint, not from scratch
    assert objective.incoming_carries[0] is not None  # ... with the carried LSTM state
    assert resumed["step"] == expected["step"] == 12

    got, want = _weights(killed), _weights(tmp_path / "reference")
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    metrics = (killed / "metrics.csv").read_text().splitlines()
    assert metrics == (tmp_path / "reference" / "metrics.csv").read_text().splitlines()


# with a weight average, the average (and its update count) must come back from the checkpoint too
@pytest.mark.parametrize(
    "average", [{}, {"weight_average": "ema", "ema_decay": 0.8}, {"weight_average": "neighbours"}]
)
def test_ctrl_c_saves_a_checkpoint_and_resume_matches_the_uninterrupted_run(tmp_path, average):
    _, _, expected = train_toy(tmp_path / "reference", epochs=2, **average)

    class InterruptAtStep5(StreamObjective):
        def training_step(self, model, batch, carry):
            result = super().training_step(model, batch, carry)
            if self.calls == 5:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C delivers
            return result

    import toy_objectives

    original = toy_objectives.StreamObjective
    toy_objectives.StreamObjective = InterruptAtStep5
    try:
        _, _, interrupted = train_toy(tmp_path / "run", epochs=2, **average)
    finally:
        toy_objectives.StreamObjective = original
    assert interrupted["stop_reason"] == "interrupted" and interrupted["step"] == 5
    assert (tmp_path / "run" / "checkpoint" / "last.safetensors").is_file()

    _, _, resumed = train_toy(tmp_path / "run", epochs=2, resume=True, **average)
    assert resumed["step"] == expected["step"] == 8
    want, got = _weights(tmp_path / "reference"), _weights(tmp_path / "run")
    for name in want:
        assert torch.equal(got[name], want[name]), name


def test_a_fresh_run_ignores_an_old_checkpoint_and_resume_without_one_starts_over(tmp_path):
    train_toy(tmp_path, epochs=1)
    assert checkpoint_path(tmp_path).is_file()
    _, objective, _ = train_toy(tmp_path, epochs=1, max_steps=None, resume=False)
    assert objective.calls == 4  # trained from scratch, not resumed
    checkpoint_path(tmp_path).unlink()
    _, objective, result = train_toy(tmp_path, epochs=1, resume=True)
    assert objective.calls == 4 and result["step"] == 4
