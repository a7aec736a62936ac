"""The video endpoint over tiny runs of both modes: it answers what the task's own Python API
answers (``rnnkit.tasks.video.predict_clips`` and ``label_clips``), and bad clips are a clear
422."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks import video


def npz_bytes(frames: np.ndarray, **more: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, frames=frames, **more)
    return buffer.getvalue()


def test_a_prediction_run_gives_the_frames_of_rnnkit_predict(client, served_runs, tmp_path):
    clips = served_runs["video"].parent / "clips.npz"
    response = client.post("/v1/video-run/predict", content=clips.read_bytes())
    assert response.status_code == 200, response.text
    video.predict_clips(served_runs["video"], clips, tmp_path / "future.npz")
    with np.load(tmp_path / "future.npz") as written:
        expected = written["frames"]
    frames = np.array(response.json()["frames"])
    assert frames.shape == (8, 2, 12, 12) == expected.shape  # 8 clips, 2 frames each
    np.testing.assert_array_equal(frames, expected)


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(1)
    frames = (rng.random((8, 5, 12, 12)) < 0.3).astype(np.uint8) * 255
    (folder / "labelled.npz").write_bytes(npz_bytes(frames, labels=np.array(["a", "b"] * 4)))
    out = folder / "clips-run"
    args = ["train", "video", "--mode", "classify", "--data", folder / "labelled.npz",
            "--out", out, "--hidden", "4", "--batch-size", "4", "--max-steps", "3",
            "--progress", "off", "--device", "cpu", "--seed", "0"]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def test_a_clip_of_the_run_shows_its_input_prediction_and_truth(client, served_runs, tmp_path):
    clips = served_runs["video"].parent / "clips.npz"
    with np.load(clips) as saved:
        frames = saved["frames"]  # (8, 6, 12, 12): 4 frames in, 2 out
    video.predict_clips(served_runs["video"], clips, tmp_path / "future.npz")
    with np.load(tmp_path / "future.npz") as written:
        predicted = written["frames"]
    for answer in (
        client.get("/v1/video-run/clip?index=3"),
        client.post("/v1/video-run/clip?index=3", content=clips.read_bytes()),
    ):
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert shown["clip"] == "3" and shown["clips"] == 8
        np.testing.assert_array_equal(np.array(shown["context"])[..., 0], frames[3, :4])
        np.testing.assert_array_equal(np.array(shown["truth"])[..., 0], frames[3, 4:])
        np.testing.assert_array_equal(np.array(shown["predicted"])[..., 0], predicted[3])
    too_far = client.get("/v1/video-run/clip?index=8")
    assert too_far.status_code == 422 and "has 8 clips" in too_far.json()["detail"]


def test_a_classify_run_gives_the_labels_of_rnnkit_predict(classify_run):
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    clips = classify_run.parent / "labelled.npz"
    with TestClient(create_app([classify_run])) as client:
        response = client.post("/v1/clips-run/predict", content=clips.read_bytes())
    assert response.status_code == 200, response.text
    expected = video.label_clips(classify_run, clips)
    labels = response.json()["labels"]
    assert [(r["clip"], r["label"]) for r in labels] == [(n, lab) for n, lab, _ in expected]
    assert [r["probability"] for r in labels] == pytest.approx([p for *_, p in expected])
    assert all(0.5 <= r["probability"] <= 1 for r in labels)  # the likelier of two classes
    with TestClient(create_app([classify_run])) as client:
        shown = client.post("/v1/clips-run/clip?index=2", content=clips.read_bytes()).json()
    name, label, probability = expected[2]
    assert shown["clip"] == name and shown["label"] == label
    assert shown["probabilities"][label] == pytest.approx(probability)
    assert sum(shown["probabilities"].values()) == pytest.approx(1.0)
    with np.load(clips) as saved:
        np.testing.assert_array_equal(np.array(shown["context"])[..., 0], saved["frames"][2])


@pytest.mark.parametrize(
    "query, body, fragment",
    [
        ("", b"", "the request body is empty"),
        ("?suffix=gif", None, "is not a clips file kind"),
        ("", b"not an npz file", "the uploaded file"),
        ("", npz_bytes(np.zeros((2, 6, 16, 16), np.uint8)), "16"),  # frames of another size
    ],
)
def test_bad_clips_are_422(client, served_runs, query, body, fragment):
    content = (served_runs["video"].parent / "clips.npz").read_bytes() if body is None else body
    response = client.post(f"/v1/video-run/predict{query}", content=content)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert fragment in detail and tempfile.gettempdir() not in detail  # no temporary path
