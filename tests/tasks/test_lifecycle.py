"""The guarantees of the task lifecycle, checked for every task alike.

For each task, on tiny data:
- a ``--resume`` that changes a model option is refused with one sentence and leaves the run
  directory byte for byte as it was, and the run still evaluates, describes and predicts;
- training into another task's run directory is refused and writes nothing;
- a run killed with SIGKILL mid-training and resumed ends with the same weights as an
  uninterrupted run of the same seed;
- two processes started as torchrun starts them train one run, which rank 0 alone writes
  (rank 1 is watched: any file it would create, replace or remove in the run fails the test).
"""

from __future__ import annotations

import builtins
import json
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torchrun_env import become_rank, run_two_ranks
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.training import checkpoint as checkpoint_module
from rnnkit.training.rundir import read_safetensors

#: options that make every task's training tiny, deterministic and checkpointed at every step
COMMON = ["--progress", "off", "--device", "cpu", "--precision", "fp32", "--checkpoint-every", "1"]


@dataclass
class Case:
    """How to train one task on tiny data, and how to use the run afterwards."""

    task: str
    make_data: Callable[[Path], dict[str, Path]]  # folder -> named files
    train_args: Callable[[dict[str, Path]], list[str]]  # files -> flags (no --out)
    changed: list[str]  # a model option other than the run's
    uses: Callable[[Path, dict[str, Path]], list[list[str]]]  # run, files -> commands
    name: str = ""  # the case's name where a task has two cases (default: the task)

    @property
    def key(self) -> str:
        return self.name or self.task


def text_files(folder: Path) -> dict[str, Path]:
    path = folder / "text.txt"
    path.write_text("the cat sat on the mat.\n" * 40, encoding="utf-8")
    return {"data": path}


def labelled_files(folder: Path) -> dict[str, Path]:
    rows = [("a fine good film", "pos"), ("a bad dull film", "neg")] * 20
    path = folder / "reviews.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return {"data": path}


def conll_files(folder: Path) -> dict[str, Path]:
    sentence = "John\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n"
    path = folder / "train.conll"
    path.write_text("\n".join([sentence] * 12), encoding="utf-8")
    return {"data": path}


def pair_files(folder: Path) -> dict[str, Path]:
    words = ["abc", "bca", "cab", "aab", "bba", "ccb"]
    lines = [f"{w}\t{w[::-1]}" for w in words] * 6
    path = folder / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"data": path, "val": path}


def series_files(folder: Path) -> dict[str, Path]:
    rows = 120
    t = np.arange(rows)
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
            "value": np.sin(2 * np.pi * t / 12) + 0.1 * np.cos(t),
        }
    )
    path = folder / "series.csv"
    frame.to_csv(path, index=False)
    return {"data": path}


def audio_files(folder: Path) -> dict[str, Path]:
    from rnnkit.data.synthetic_audio import write_tone_dataset

    return {"data": write_tone_dataset(folder / "tones", 12, seed=0, alphabet="ab")}


def tone_files(folder: Path) -> dict[str, Path]:
    """Twelve short tones, low (300 Hz) and high (1500 Hz), and their path,label table."""
    from rnnkit.data.audio import write_wav

    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    rows = []
    for i in range(12):
        label, hz = ("low", 300.0) if i % 2 else ("high", 1500.0)
        t = np.arange(int(rng.uniform(0.1, 0.2) * 8000)) / 8000
        write_wav(folder / f"{label}_{i}.wav", 0.5 * np.sin(2 * np.pi * hz * t), 8000)
        rows.append((f"{label}_{i}.wav", label))
    path = folder / "tones.csv"
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(path, index=False)
    return {"data": path}


def roll_files(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    rolls = {f"piece{i}": (rng.random((10 + i, 88)) < 0.05).astype(np.uint8) for i in range(6)}
    for roll in rolls.values():
        roll[0, 40] = 1
    path = folder / "rolls.npz"
    np.savez(path, **rolls)
    return {"data": path, "midi": folder / "generated.mid"}


def image_files(folder: Path) -> dict[str, Path]:
    """Eight 16x16 scenes of shapes and their captions, the table beside the images."""
    from PIL import Image

    from rnnkit.data.fashion_scenes import generate

    tables = generate(folder / "scenes", {"train": 8}, seed=0)
    for image in (folder / "scenes" / "images").iterdir():
        Image.open(image).resize((16, 16)).save(folder / "scenes" / image.name)
    return {"data": tables["train"], "image": folder / "scenes" / "train_00000.png"}


def labelled_image_files(folder: Path) -> dict[str, Path]:
    """Twelve 8x8 images, bright in the top or the bottom half, with their labels."""
    images = np.random.default_rng(0).integers(0, 60, (12, 8, 8)).astype(np.uint8)
    for n in range(12):
        images[n, (n % 2) * 4 : (n % 2) * 4 + 4] += 150
    path = folder / "images.npz"
    np.savez(path, images=images, labels=np.arange(12) % 2)
    return {"data": path}


def clip_files(folder: Path) -> dict[str, Path]:
    """Twelve 8-frame clips of a bright square sliding across 16x16 frames."""
    frames = np.zeros((12, 8, 16, 16), np.uint8)
    for n in range(12):
        for t in range(8):
            frames[n, t, n % 8 : n % 8 + 4, t : t + 4] = 255
    path = folder / "clips.npz"
    np.savez(path, frames=frames)
    return {"data": path, "future": folder / "future.npz"}


CASES = [
    Case(
        "lm",
        text_files,
        lambda f: ["--data", f["data"], "--hidden", "8", "--layers", "1", "--bptt", "8",
                   "--batch-size", "4", "--max-steps", "6", "--eval-every", "3"],
        ["--hidden", "9"],
        lambda run, f: [["generate", run, "--length", "5", "--seed", "0"]],
    ),
    Case(
        "classify",
        labelled_files,
        # one classifier: the lifecycle's own checkpoint (an ensemble's members resume in
        # members/<i>/, tests/tasks/test_classify_members.py)
        lambda f: ["--data", f["data"], "--hidden", "8", "--embedding-size", "8",
                   "--batch-size", "4", "--max-steps", "6", "--ensemble", "1"],
        ["--hidden", "9"],
        lambda run, f: [["predict", run, "--text", "a good film"]],
    ),
    Case(
        "tag",
        conll_files,
        lambda f: ["--data", f["data"], "--hidden", "8", "--embedding-size", "8",
                   "--char-hidden", "4", "--char-embedding-size", "4", "--batch-size", "2",
                   "--max-steps", "6"],
        ["--hidden", "9"],
        lambda run, f: [["predict", run, "--text", "John lives in Paris"]],
    ),
    Case(
        "translate",
        pair_files,
        lambda f: ["--data", f["data"], "--val", f["val"], "--tokenizer", "char",
                   "--embedding-size", "8", "--encoder-hidden", "8", "--decoder-hidden", "8",
                   "--encoder-layers", "1", "--decoder-layers", "1", "--batch-size", "4",
                   "--max-steps", "6"],
        ["--encoder-hidden", "9"],
        lambda run, f: [["translate", run, "--text", "abc", "--beam", "1"]],
    ),
    Case(
        "forecast",
        series_files,
        lambda f: ["--data", f["data"], "--target", "value", "--time-column", "time",
                   "--lookback", "8", "--horizon", "4", "--hidden", "8", "--batch-size", "8",
                   "--max-steps", "6"],
        ["--hidden", "9"],
        lambda run, f: [["forecast", run, "--data", f["data"], "--steps", "2"]],
    ),
    Case(
        "detect",
        series_files,
        lambda f: ["--data", f["data"], "--target", "value", "--time-column", "time",
                   "--window", "8", "--hidden", "8", "--batch-size", "8", "--max-steps", "6"],
        ["--hidden", "9"],
        lambda run, f: [["detect", run, "--data", f["data"]]],
    ),
    Case(
        "speech",
        audio_files,
        lambda f: ["--data", f["data"], "--hidden", "8", "--layers", "1", "--batch-size", "4",
                   "--max-steps", "6"],
        ["--hidden", "9"],
        lambda run, f: [["transcribe", run, "--data", f["data"]]],
    ),
    Case(
        "classify",
        tone_files,
        lambda f: ["--audio", "--data", f["data"], "--hidden", "8", "--batch-size", "4",
                   "--max-steps", "6"],
        ["--n-mels", "20"],
        lambda run, f: [["predict", run, "--data", f["data"]]],
        name="classify-audio",
    ),
    Case(
        "music",
        roll_files,
        lambda f: ["--data", f["data"], "--hidden", "8", "--nade-hidden", "4", "--seq-len", "4",
                   "--batch-size", "4", "--max-steps", "6", "--transpose", "2"],
        ["--hidden", "9"],
        lambda run, f: [["generate", run, "--output", f["midi"], "--steps", "4", "--seed", "0"]],
    ),
    Case(
        "caption",
        image_files,
        lambda f: ["--data", f["data"], "--image-size", "16", "--encoder-widths", "4,4",
                   "--embedding-size", "8", "--decoder-hidden", "8", "--batch-size", "4",
                   "--max-steps", "6"],
        ["--decoder-hidden", "9"],
        lambda run, f: [["caption", run, f["image"], "--beam", "2"]],
    ),
    Case(
        "classify",
        labelled_image_files,
        lambda f: ["--images", "cnn", "--data", f["data"], "--encoder-widths", "2,4",
                   "--hidden", "4", "--batch-size", "4", "--max-steps", "6"],
        ["--encoder-widths", "2,5"],
        lambda run, f: [["predict", run, "--data", f["data"]]],
        name="classify-cnn",
    ),
    Case(
        "video",
        clip_files,
        lambda f: ["--data", f["data"], "--input-frames", "4", "--output-frames", "4",
                   "--hidden", "4", "--layers", "1", "--kernel-size", "3", "--patch", "2",
                   "--batch-size", "4", "--max-steps", "6"],
        ["--hidden", "5"],
        lambda run, f: [["predict", run, "--data", f["data"], "--output", f["future"]]],
    ),
    Case(
        "classify",
        labelled_files,
        # mixup's pairs and weights come with each batch; adversarial training runs the model
        # twice a step: both must resume exactly and train across processes
        lambda f: ["--data", f["data"], "--hidden", "8", "--embedding-size", "8",
                   "--batch-size", "4", "--max-steps", "6", "--ensemble", "1",
                   "--mixup", "0.4", "--adversarial", "0.05"],
        ["--hidden", "9"],
        lambda run, f: [["predict", run, "--text", "a good film"]],
        name="classify-mixup-adversarial",
    ),
]  # fmt: skip
BY_TASK = {case.key: case for case in CASES}
TASKS = list(BY_TASK)


def rnnkit(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def train_args(case: Case, files: dict[str, Path], out: Path) -> list[str | Path]:
    return ["train", case.task, *case.train_args(files), "--out", out, *COMMON]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, dict[str, Path]]]:
    """One finished tiny run per case: case key -> (run directory, data files)."""
    made = {}
    for case in CASES:
        folder = tmp_path_factory.mktemp(case.key)
        files = case.make_data(folder)
        result = rnnkit(*train_args(case, files, folder / "run"))
        assert result.exit_code == 0, (case.key, result.output, result.exception)
        made[case.key] = (folder / "run", files)
    return made


@pytest.mark.parametrize("task", TASKS)
def test_refused_resume_changes_nothing_and_the_run_still_works(task, runs):
    case = BY_TASK[task]
    run, files = runs[task]
    before = snapshot(run)
    result = rnnkit(*train_args(case, files, run), "--resume", *case.changed)
    assert_one_line_error(result, "cannot resume")
    assert snapshot(run) == before
    for command in [["info", run], ["evaluate", run, "--data", files["data"], "--json"]]:
        used = rnnkit(*command)
        assert used.exit_code == 0, (command, used.output, used.exception)
    for command in case.uses(run, files):
        used = rnnkit(*command)
        assert used.exit_code == 0, (command, used.output, used.exception)
        assert used.stdout.strip(), command


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("resume", [True, False])
def test_another_tasks_run_directory_is_refused_and_left_alone(task, resume, runs):
    case = BY_TASK[task]
    other = TASKS[(TASKS.index(task) + 1) % len(TASKS)]
    other_run, _ = runs[other]
    _, files = runs[task]
    before = snapshot(other_run)
    result = rnnkit(*train_args(case, files, other_run), *(["--resume"] if resume else []))
    other_task = BY_TASK[other].task
    assert_one_line_error(result, f"task '{other_task}'" if resume else "already holds a run")
    assert snapshot(other_run) == before


# ------------------------------------------------------------------------------- kill -9


def _train_until_blocked(argv: list[str], block_at_step: int) -> None:
    """Train (in a forked child) and hang just before writing checkpoint ``block_at_step``, so
    that the parent can kill the process there: mid-run, one step past the last checkpoint."""
    original = checkpoint_module.save_checkpoint

    def save_or_hang(path, state, tensors):
        if state["step"] >= block_at_step:
            os.kill(os.getpid(), signal.SIGSTOP)  # the parent sees it stopped, then kills it
        original(path, state, tensors)

    import rnnkit.training.trainer as trainer_module

    trainer_module.save_checkpoint = save_or_hang
    result = CliRunner().invoke(app, argv)
    os._exit(result.exit_code)


@pytest.mark.parametrize("task", TASKS)
def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(task, tmp_path):
    case = BY_TASK[task]
    files = case.make_data(tmp_path)
    whole = rnnkit(*train_args(case, files, tmp_path / "whole"))
    assert whole.exit_code == 0, (whole.output, whole.exception)

    killed = tmp_path / "killed"
    argv = [str(a) for a in train_args(case, files, killed)]
    child = multiprocessing.get_context("fork").Process(target=_train_until_blocked, args=(argv, 4))
    child.start()
    _, status = os.waitpid(child.pid, os.WUNTRACED)  # returns once the child has stopped
    assert os.WIFSTOPPED(status), status
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    assert (
        checkpoint_module.load_checkpoint(checkpoint_module.checkpoint_path(killed)).state["step"]
        == 3
    )
    assert not (killed / "model.safetensors").exists()

    resumed = rnnkit(*train_args(case, files, killed), "--resume")
    assert resumed.exit_code == 0, (resumed.output, resumed.exception)
    got = read_safetensors(killed / "model.safetensors")
    want = read_safetensors(tmp_path / "whole" / "model.safetensors")
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    steps = pd.read_csv(killed / "metrics.csv")["step"].tolist()
    assert steps == pd.read_csv(tmp_path / "whole" / "metrics.csv")["step"].tolist()


# ------------------------------------------------------------------------------- torchrun


def _watch_writes_under(folder: Path) -> list[str]:
    """Record every attempt of this process to create, replace or remove a path in ``folder``."""
    seen: list[str] = []
    root = os.path.realpath(folder)

    def inside(path) -> bool:
        try:
            return os.path.realpath(os.fspath(path)).startswith(root)
        except TypeError:  # a file descriptor
            return False

    def guard(function, describe):
        def guarded(*args, **kwargs):
            what = describe(*args, **kwargs)
            if what:
                seen.append(what)
            return function(*args, **kwargs)

        return guarded

    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    builtins.open = guard(
        builtins.open,
        lambda file, mode="r", *a, **k: (
            f"open {file} {mode}" if inside(file) and set(mode) & set("wax+") else None
        ),
    )
    os.open = guard(
        os.open,
        lambda path, flags, *a, **k: (
            f"os.open {path}" if inside(path) and flags & writing else None
        ),
    )
    for name in ("replace", "rename", "unlink", "remove", "mkdir", "rmdir"):
        setattr(
            os,
            name,
            guard(
                getattr(os, name), lambda p, *a, _n=name, **k: f"{_n} {p}" if inside(p) else None
            ),
        )
    return seen


def _run_as_rank(rank: int, port: int, argv: list[str], out: str) -> None:
    """A worker as ``torchrun --nproc-per-node=2`` starts it: rank and rendezvous in env vars."""
    become_rank(rank, port)
    # a forked child that enters the parent's OpenMP thread pool can hang (torchrun starts
    # fresh processes; this harness forks a parent that has trained in parallel)
    torch.set_num_threads(1)
    seen = _watch_writes_under(Path(out)) if rank == 1 else []
    result = CliRunner().invoke(app, argv)
    if result.exit_code != 0:
        print(result.output, result.exception, file=sys.stderr)
        os._exit(result.exit_code or 1)
    if seen:
        print("rank 1 wrote:", *seen, sep="\n  ", file=sys.stderr)
        os._exit(3)
    os._exit(0)


@pytest.mark.parametrize("task", TASKS)
def test_two_processes_train_one_run_that_rank_0_alone_writes(task, runs, tmp_path):
    case = BY_TASK[task]
    _, files = runs[task]
    out = tmp_path / "ddp"
    argv = [str(a) for a in train_args(case, files, out)]
    assert run_two_ranks(_run_as_rank, argv, str(out)) == [0, 0]
    steps = pd.read_csv(out / "metrics.csv")["step"].tolist()
    assert steps == sorted(set(steps)), steps  # each row written once
    single, _ = runs[task]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in single.iterdir())
    assert rnnkit("evaluate", out, "--data", files["data"]).exit_code == 0


def test_two_processes_train_an_ensemble_whose_members_rank_0_alone_writes(runs, tmp_path):
    case = BY_TASK["classify"]
    _, files = runs["classify"]

    def ensemble_args(out: Path) -> list[str]:
        argv = [str(a) for a in train_args(case, files, out)]
        argv[argv.index("--ensemble") + 1] = "2"
        return argv

    out, single = tmp_path / "ddp", tmp_path / "single"
    assert run_two_ranks(_run_as_rank, ensemble_args(out), str(out)) == [0, 0]
    assert rnnkit(*ensemble_args(single)).exit_code == 0

    def files_of(run: Path) -> list[str]:
        return sorted(str(path.relative_to(run)) for path in run.rglob("*"))

    assert files_of(out) == files_of(single)  # both members, each in members/<i>/
    for member in ("0", "1"):
        steps = pd.read_csv(out / "members" / member / "metrics.csv")["step"].tolist()
        assert steps == sorted(set(steps)), steps  # each row written once
    assert json.loads((out / "config.json").read_text())["model"]["members"] == 2
    assert rnnkit("evaluate", out, "--data", files["data"]).exit_code == 0


def test_two_processes_pretrain_a_language_model_then_fine_tune_it(runs, tmp_path):
    # two trainers one after the other in the same processes, as an ensemble's members
    case = BY_TASK["classify"]
    _, files = runs["classify"]
    out = tmp_path / "ddp"
    argv = [str(a) for a in train_args(case, files, out)]
    argv += ["--pretrain-lm", "--pretrain-epochs", "1"]
    assert run_two_ranks(_run_as_rank, argv, str(out)) == [0, 0]
    assert json.loads((out / "config.json").read_text())["data"]["pretraining"] is not None
    assert rnnkit("evaluate", out, "--data", files["data"]).exit_code == 0


def test_resume_into_files_that_are_no_run_is_refused_and_leaves_them(tmp_path):
    case = BY_TASK["lm"]
    files = case.make_data(tmp_path)
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = rnnkit(*train_args(case, files, out), "--resume")
    assert_one_line_error(result, "no config.json (such as notes.txt)")
    assert snapshot(out) == {"notes.txt": b"mine"}


def test_a_run_killed_before_its_config_was_written_starts_again_on_resume(tmp_path):
    # the artifacts are written before config.json: such a directory holds only run files
    case = BY_TASK["lm"]
    files = case.make_data(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    (out / "tokenizer.json").write_text("{half a file", encoding="utf-8")
    result = rnnkit(*train_args(case, files, out), "--resume")
    assert result.exit_code == 0, (result.output, result.exception)
    assert rnnkit("info", out).exit_code == 0
    assert json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["kind"] == "char"


def test_a_tokenizer_of_another_size_than_the_model_is_one_sentence(runs, tmp_path):
    run, files = runs["lm"]
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    tokenizer = json.loads((damaged / "tokenizer.json").read_text(encoding="utf-8"))
    size = len(tokenizer["tokens"])  # the special tokens included
    tokenizer["tokens"].append("#")
    (damaged / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    result = rnnkit("evaluate", damaged, "--data", files["data"])
    assert_one_line_error(
        result, f"holds {size + 1} tokens but the run's model was built for {size}; the run is"
    )
