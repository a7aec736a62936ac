"""Tiny runs of every served task, trained once per test session (in seconds), and the
application serving them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_series import series_csv
from typer.testing import CliRunner

from rnnkit.cli import app

pytest.importorskip("fastapi", reason="rnnkit[serve] (fastapi) is not installed")
pytest.importorskip("httpx", reason="rnnkit[serve] (httpx) is not installed")

COMMON = ["--progress", "off", "--device", "cpu", "--precision", "fp32", "--seed", "0"]
#: a text whose quotes, brackets and line positions vary, for the unit search
LM_TEXT = 'he said "come (here) now" to me.\nshe [said] no.\n' * 30


def _train(task: str, folder: Path, *flags: str | Path) -> Path:
    out = folder / f"{task}-run"
    args = ["train", task, *map(str, flags), "--out", str(out), *COMMON]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (task, result.output, result.exception)
    return out


@pytest.fixture(scope="session")
def served_runs(tmp_path_factory) -> dict[str, Path]:
    """task -> a tiny trained run directory (the data files stay beside them)."""
    folder = tmp_path_factory.mktemp("served")
    text = folder / "text.txt"
    text.write_text(LM_TEXT, encoding="utf-8")
    reviews = folder / "reviews.csv"
    rows = [("a fine good film", "pos"), ("a bad dull film", "neg")] * 20
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(reviews, index=False)
    conll = folder / "train.conll"
    conll.write_text("\n".join(["John\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n"] * 12))
    pairs = folder / "pairs.tsv"
    words = ["abc", "bca", "cab", "aab", "bba", "ccb"]
    pairs.write_text("\n".join(f"{w}\t{w[::-1]}" for w in words * 6) + "\n")
    series = series_csv(folder)
    from rnnkit.data.synthetic_audio import write_tone_dataset

    tones = write_tone_dataset(folder / "tones", 12, seed=0, alphabet="ab")
    rolls = folder / "rolls.npz"
    rng = np.random.default_rng(0)
    np.savez(rolls, **{f"piece{i}": (rng.random((12, 88)) < 0.08).astype(np.uint8)
                       for i in range(6)})  # fmt: skip
    from rnnkit.data.fashion_scenes import generate

    scenes = generate(folder / "scenes", {"train": 8}, seed=0)["train"]
    clips = folder / "clips.npz"
    np.savez(clips, frames=(rng.random((8, 6, 12, 12)) < 0.2).astype(np.uint8) * 255)
    small = ["--max-steps", "6"]
    return {
        "lm": _train("lm", folder, "--data", text, "--hidden", "8", "--layers", "2", "--bptt",
                     "8", "--batch-size", "4", "--eval-every", "3", *small),
        "classify": _train("classify", folder, "--data", reviews, "--hidden", "8",
                           "--embedding-size", "8", "--batch-size", "4", *small),
        "tag": _train("tag", folder, "--data", conll, "--hidden", "8", "--embedding-size", "8",
                      "--char-hidden", "4", "--char-embedding-size", "4", "--batch-size", "2",
                      *small),
        "translate": _train("translate", folder, "--data", pairs, "--val", pairs, "--tokenizer",
                            "char", "--embedding-size", "8", "--encoder-hidden", "8",
                            "--decoder-hidden", "8", "--encoder-layers", "1",
                            "--decoder-layers", "1", "--batch-size", "4", *small),
        "forecast": _train("forecast", folder, "--data", series, "--target", "value",
                           "--time-column", "time", "--lookback", "8", "--horizon", "4",
                           "--hidden", "8", "--batch-size", "8", "--likelihood", "gaussian",
                           *small),
        "detect": _train("detect", folder, "--data", series, "--target", "value",
                         "--time-column", "time", "--window", "8", "--hidden", "8",
                         "--batch-size", "8", *small),
        "speech": _train("speech", folder, "--data", tones, "--hidden", "8", "--layers", "1",
                         "--batch-size", "4", *small),
        "music": _train("music", folder, "--data", rolls, "--hidden", "8", "--nade-hidden", "4",
                        "--seq-len", "4", "--batch-size", "4", *small),
        "caption": _train("caption", folder, "--data", scenes, "--images",
                          folder / "scenes" / "images", "--image-size", "16",
                          "--encoder-widths", "4,4", "--embedding-size", "8",
                          "--decoder-hidden", "8", "--batch-size", "4", *small),
        "video": _train("video", folder, "--data", clips, "--input-frames", "4",
                        "--output-frames", "2", "--hidden", "4", "--layers", "1",
                        "--kernel-size", "3", "--patch", "2", "--batch-size", "4", *small),
    }  # fmt: skip


@pytest.fixture(scope="session")
def client(served_runs):
    """A TestClient of the application serving every tiny run."""
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    with TestClient(create_app(list(served_runs.values()))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_server(served_runs):
    """The application served by uvicorn on 127.0.0.1 (a free port) in a thread:
    (its URL, the application)."""
    import threading
    import time

    import uvicorn

    from rnnkit.serve.app import create_app
    from rnnkit.serve.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    application = create_app(list(served_runs.values()))
    config = uvicorn.Config(application, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 20 s"
    yield f"http://127.0.0.1:{port}", application
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
