"""``POST /v1/{run}/classify-file``: a classify run on texts, images or audio answers for an
uploaded data file what ``rnnkit predict --data`` writes for the same file, whatever form the
same inputs arrive in (a CSV or JSON texts, an ``.npz``, a gzipped IDX file or one PNG, one WAV
of a table); and a wrong upload is a 422 sentence that names no temporary path."""

from __future__ import annotations

import csv
import gzip
import io
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.audio import write_wav

TINY = ["--hidden", "8", "--batch-size", "8", "--max-steps", "4", "--progress", "off",
        "--device", "cpu", "--precision", "fp32", "--seed", "0"]  # fmt: skip


def rnnkit(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def predicted_rows(run: Path, data: Path) -> list[dict[str, str]]:
    """``rnnkit predict --data``'s CSV rows: the oracle of every upload."""
    return list(csv.DictReader(rnnkit("predict", run, "--data", data).stdout.splitlines()))


def assert_same(answer: dict, rows: list[dict[str, str]]) -> None:
    predictions = answer["predictions"]
    assert len(predictions) == len(rows)
    for prediction, row in zip(predictions, rows, strict=True):
        assert prediction["label"] == row["predicted"]
        for label, probability in prediction["probabilities"].items():
            assert probability == pytest.approx(float(row[f"p_{label}"]), abs=1e-6)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A classify run on 8x8 images read row by row, and its images ``(N, 8, 8)`` uint8."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(24, 8, 8)).astype(np.uint8)
    np.savez(folder / "images.npz", images=images, labels=np.arange(24) % 2)
    rnnkit("train", "classify", "--images", "rows", "--data", folder / "images.npz",
           "--out", folder / "run", *TINY)  # fmt: skip
    return folder / "run", images


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        label = "low" if i % 2 == 0 else "high"
        t = np.arange(int(rng.uniform(0.1, 0.2) * 8000)) / 8000
        write_wav(folder / f"{label}_{i}.wav", np.sin(2 * np.pi * (300 if i % 2 == 0 else 1500) * t)
                  .astype(np.float32) * 0.5, 8000)  # fmt: skip
        rows.append(f"{label}_{i}.wav,{label}")
    (folder / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    rnnkit("train", "classify", "--audio", "--data", folder / "list.csv", "--out", folder / "run",
           *TINY)  # fmt: skip
    return folder / "run"


def client_of(run: Path):
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    return TestClient(create_app([run]))


def test_a_csv_of_texts_answers_as_rnnkit_predict_and_as_the_json_endpoint(client, served_runs):
    run = served_runs["classify"]
    reviews = run.parent / "reviews.csv"
    answer = client.post("/v1/classify-run/classify-file?suffix=csv", content=reviews.read_bytes())
    assert answer.status_code == 200, answer.text
    assert_same(answer.json(), predicted_rows(run, reviews))
    assert answer.json()["id_column"] == "row"
    texts = [line.split(",")[0] for line in reviews.read_text().splitlines()[1:4]]
    by_json = client.post("/v1/classify-run/classify", json={"texts": texts}).json()["predictions"]
    for one, other in zip(by_json, answer.json()["predictions"][:3], strict=True):
        assert one["label"] == other["label"]
        assert one["probabilities"] == pytest.approx(other["probabilities"], abs=1e-6)


def test_images_answer_alike_as_npz_gzipped_idx_and_one_png(image_run, tmp_path):
    run, images = image_run
    npz = tmp_path / "some.npz"
    np.savez(npz, images=images[:5])
    idx = io.BytesIO()
    with gzip.GzipFile(fileobj=idx, mode="wb") as handle:
        handle.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 8, 8) + images[:5].tobytes())
    png = io.BytesIO()
    Image.fromarray(images[3]).save(png, format="PNG")
    rows = predicted_rows(run, npz)
    with client_of(run) as client:
        by_npz = client.post("/v1/run/classify-file?suffix=npz", content=npz.read_bytes())
        by_idx = client.post("/v1/run/classify-file?suffix=gz", content=idx.getvalue())
        by_png = client.post("/v1/run/classify-file?suffix=png", content=png.getvalue())
        as_text = client.post("/v1/run/classify", json={"texts": ["a text"]})
        wrong_kind = client.post("/v1/run/classify-file?suffix=csv", content=b"text\nhello\n")
    for answer in (by_npz, by_idx):
        assert answer.status_code == 200, answer.text
        assert_same(answer.json(), rows)
    assert by_png.status_code == 200, by_png.text
    assert_same(by_png.json(), rows[3:4])
    assert by_png.json()["predictions"][0]["id"] == "upload.png"
    assert as_text.status_code == 422 and "/v1/run/classify-file" in as_text.json()["detail"]
    assert wrong_kind.status_code == 422
    detail = wrong_kind.json()["detail"]
    assert "the uploaded file" in detail and tempfile.gettempdir() not in detail
    assert "\n" not in detail


def test_one_audio_file_answers_as_its_row_of_rnnkit_predict(audio_run):
    data = audio_run.parent / "list.csv"
    rows = predicted_rows(audio_run, data)
    paths = [Path(row["path"]).name for row in rows]
    with client_of(audio_run) as client:
        answer = client.post(
            "/v1/run/classify-file?suffix=wav",
            content=(audio_run.parent / "high_3.wav").read_bytes(),
        )
    assert answer.status_code == 200, answer.text
    assert_same(answer.json(), [rows[paths.index("high_3.wav")]])
    assert answer.json()["id_column"] == "path"


@pytest.mark.parametrize(
    ("suffix", "body", "fragment"),
    [("csv", b"", "the request body is empty"), ("exe", b"MZ", "not a data file kind")],
)
def test_an_empty_body_or_unknown_kind_is_a_422_sentence(client, suffix, body, fragment):
    answer = client.post(f"/v1/classify-run/classify-file?suffix={suffix}", content=body)
    assert answer.status_code == 422 and fragment in answer.json()["detail"]
