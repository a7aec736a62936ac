"""``rnnkit export RUN --format onnx``: the files it writes, and the example that runs them.

The graph of a real (tiny) lm run is compared with the run's model in torch, and
``examples/onnx_char_lm.py`` (onnxruntime and NumPy only) with ``rnnkit generate``'s greedy text.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_user_error, rnnkit

from rnnkit.tasks import lm

ort = pytest.importorskip("onnxruntime", reason="ONNX tests need the export extra")
pytest.importorskip("onnxscript", reason="ONNX tests need the export extra")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "onnx_char_lm.py"


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory) -> Path:
    """``rnnkit export`` of the tiny lm run; the graph's path."""
    output = tmp_path_factory.mktemp("export") / "chars.onnx"
    result = rnnkit("export", tiny_run, "--format", "onnx", "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    written = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(p.name for p in written) == ["chars.json", "chars.onnx", "chars.tokenizer.json"]
    assert sorted(p.name for p in output.parent.iterdir()) == sorted(p.name for p in written)
    return output


def load_example():
    spec = importlib.util.spec_from_file_location("onnx_char_lm_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_writes_the_graph_its_manifest_and_the_tokenizer(exported, tiny_run):
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["task"] == "lm" and manifest["config"]["model"]["hidden_size"] == 16
    graph = manifest["graphs"][0]
    assert graph["file"] == "chars.onnx" and graph["outputs"] == ["logits", "h_out", "c_out"]
    assert graph["inputs"][0] == {"name": "tokens", "dtype": "int64", "shape": ["batch", "time"]}
    tokenizer = exported.with_name("chars.tokenizer.json")
    assert tokenizer.read_bytes() == (tiny_run / "tokenizer.json").read_bytes()

    model = lm.TASK_SPEC.load_model(lm.TASK_SPEC.open(tiny_run))
    tokens = torch.randint(4, model.vocab_size, (2, 12))
    with torch.no_grad():
        logits, _ = model(tokens)
    session = ort.InferenceSession(str(exported))
    zeros = np.zeros((1, 2, 16), np.float32)
    (onnx_logits,) = session.run(
        ["logits"], {"tokens": tokens.numpy(), "h_in": zeros, "c_in": zeros}
    )
    np.testing.assert_allclose(onnx_logits, logits.numpy(), atol=1e-4, rtol=0)


def test_the_example_samples_what_rnnkit_generates(exported, tiny_run):
    example = load_example()
    model = example.CharModel(exported)
    greedy = "".join(example.generate(model, "abc", 40, temperature=0))
    assert greedy == "".join(lm.generate(tiny_run, "abc", 40, temperature=0))
    sampled = "".join(example.generate(model, "abc", 60, temperature=0.8, seed=3))
    assert len(sampled) == 60 and set(sampled) <= set("abcdefgh\n")
    assert sampled == "".join(example.generate(model, "abc", 60, temperature=0.8, seed=3))


def test_the_example_runs_without_torch(exported):
    blocked = "import sys; sys.modules['torch'] = None; sys.modules['rnnkit'] = None; "
    run = f"import runpy; sys.argv = ['x', {str(exported)!r}, '--length', '30', '--prime', 'ab']; "
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked + run + f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(completed.stdout) == 31 and set(completed.stdout) <= set("abcdefgh\n")


def test_bad_exports_are_refused_in_one_sentence(tiny_run, tmp_path):
    output = tmp_path / "m.onnx"
    assert_user_error(rnnkit("export", tmp_path / "missing", "--output", output), "does not exist")
    (tmp_path / "notarun").mkdir()
    assert_user_error(
        rnnkit("export", tmp_path / "notarun", "--output", output), "not an rnnkit run"
    )
    assert_user_error(
        rnnkit("export", tiny_run, "--format", "tflite", "--output", output),
        "format 'tflite' is not one rnnkit exports; use onnx",
    )
    assert_user_error(
        rnnkit("export", tiny_run, "--output", tmp_path / "no" / "m.onnx"), "does not exist"
    )
    assert_user_error(
        rnnkit("export", tiny_run, "--output", tmp_path / "m.json"), "must name an .onnx file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notarun"]


def test_a_model_without_an_exporter_is_a_user_error():
    from rnnkit.errors import UserError
    from rnnkit.export import model_graphs

    with pytest.raises(UserError, match="Linear model cannot be exported"):
        model_graphs(torch.nn.Linear(2, 2))


def greedy_onnx(encoder_path: Path, inputs: dict, bos_id: int, steps: int) -> list[list[int]]:
    """Greedy decoding through an exported encoder and its ``decoder_step`` graph beside it,
    the decoder's state fed back: each row's ``steps`` tokens."""
    encoder = ort.InferenceSession(str(encoder_path))
    decoder = ort.InferenceSession(
        str(encoder_path.with_name(f"{encoder_path.stem}.decoder_step.onnx"))
    )
    names = [o.name for o in encoder.get_outputs()]
    state = dict(zip(names, encoder.run(names, inputs), strict=True))
    tokens = np.full(len(next(iter(inputs.values()))), bos_id, dtype=np.int64)
    carried_names = [o.name.removesuffix("_out") for o in decoder.get_outputs()[1:]]
    produced = []
    for _ in range(steps):
        log_probs, *carried = decoder.run(
            None, {"tokens": tokens, **{i.name: state[i.name] for i in decoder.get_inputs()[1:]}}
        )
        tokens = log_probs.argmax(-1)
        produced.append(tokens)
        state.update(zip(carried_names, carried, strict=True))
    return np.stack(produced, axis=1).tolist()


def cut_at_eos(sequences: list[list[int]], eos_id: int) -> list[list[int]]:
    """Each sequence up to its first eos (as rnnkit's search returns them, eos dropped)."""
    return [s[: s.index(eos_id)] if eos_id in s else s for s in sequences]


def test_a_translate_run_exports_encoder_and_decoder_step_that_decode_greedily(tmp_path):
    from rnnkit.data.synthetic import date_pairs, write_pairs_tsv
    from rnnkit.tasks import translate

    data = write_pairs_tsv(date_pairs(60, seed=0), tmp_path / "train.tsv")
    run_dir = tmp_path / "run"
    flags = [
        "--tokenizer", "char", "--embedding-size", "8", "--encoder-hidden", "8",
        "--encoder-layers", "1", "--decoder-hidden", "12", "--batch-size", "16", "--max-steps",
        "3", "--progress", "off", "--precision", "fp32", "--cell", "lstm",
    ]  # fmt: skip
    assert rnnkit("train", "translate", "--data", data, "--out", run_dir, *flags).exit_code == 0
    output = tmp_path / "out" / "dates.onnx"
    output.parent.mkdir()
    result = rnnkit("export", run_dir, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "dates.decoder_step.onnx", "dates.json", "dates.onnx", "dates.source_tokenizer.json",
        "dates.target_tokenizer.json",
    ]  # fmt: skip

    model = translate.TASK_SPEC.load_model(translate.TASK_SPEC.open(run_dir))
    source = torch.randint(4, model.source_embedding.num_embeddings, (2, 9))
    lengths = torch.tensor([9, 6])
    expected = model.generate(source, lengths, 8).sequences()  # rnnkit's greedy search

    produced = greedy_onnx(
        output, {"source": source.numpy(), "lengths": lengths.numpy()}, model.bos_id, 8
    )
    assert cut_at_eos(produced, model.eos_id) == expected


def test_a_caption_run_exports_encoder_and_decoder_step_that_decode_greedily(tmp_path):
    from rnnkit.data.fashion_scenes import generate
    from rnnkit.tasks import caption

    table = generate(tmp_path / "scenes", {"train": 6}, seed=0)["train"]
    run_dir = tmp_path / "run"
    flags = [
        "--images", tmp_path / "scenes" / "images", "--image-size", "16", "--encoder-widths",
        "4,4", "--embedding-size", "8", "--decoder-hidden", "8", "--batch-size", "4",
        "--max-steps", "2", "--progress", "off", "--precision", "fp32",
    ]  # fmt: skip
    assert rnnkit("train", "caption", "--data", table, "--out", run_dir, *flags).exit_code == 0
    output = tmp_path / "out" / "scenes.onnx"
    output.parent.mkdir()
    result = rnnkit("export", run_dir, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "scenes.decoder_step.onnx", "scenes.images.json", "scenes.json", "scenes.onnx",
        "scenes.tokenizer.json",
    ]  # fmt: skip
    manifest = json.loads(output.with_suffix(".json").read_text())
    assert manifest["graphs"][0]["inputs"] == [
        {"name": "images", "dtype": "float32", "shape": ["batch", 1, 16, 16]}
    ]

    run = caption.load_run(run_dir)  # the images as the run reads and normalises them
    images = sorted((tmp_path / "scenes" / "images").glob("*.png"))[:3]
    batch, _ = run.inputs_of(images).batch(range(3))
    expected = run.model.generate(batch, None, 6).sequences()  # rnnkit's greedy search
    produced = greedy_onnx(output, {"images": batch.numpy()}, run.model.bos_id, 6)
    assert cut_at_eos(produced, run.model.eos_id) == expected


def test_a_video_classify_run_exports_at_its_frame_size(tmp_path):
    """The clip classifier's graph is traced at the run's frame size (12x12 here; the CNN's
    pooling to 4x4 becomes a window fixed for that size) and gives the probabilities of
    ``rnnkit predict`` for a batch of another size than the example's."""
    from rnnkit.tasks import video

    rng = np.random.default_rng(1)
    frames = (rng.random((5, 4, 12, 12)) < 0.3).astype(np.uint8) * 255
    np.savez(tmp_path / "clips.npz", frames=frames, labels=np.array(["a", "b", "a", "b", "a"]))
    run = tmp_path / "run"
    result = rnnkit("train", "video", "--mode", "classify", "--data", tmp_path / "clips.npz",
                    "--out", run, "--hidden", "4", "--features", "8", "--batch-size", "4",
                    "--max-steps", "2", "--progress", "off", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    output = tmp_path / "clips.onnx"
    result = rnnkit("export", run, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    manifest = json.loads(output.with_suffix(".json").read_text())
    assert manifest["task"] == "video" and manifest["graphs"][0]["outputs"] == ["logits"]
    assert manifest["graphs"][0]["inputs"][0]["shape"] == ["batch", "time", 1, 12, 12]
    session = ort.InferenceSession(str(output))
    (logits,) = session.run(
        ["logits"],
        {"frames": frames[..., None, :, :].astype(np.float32) / 255, "lengths": np.full(5, 4)},
    )
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = video.label_clips(run, tmp_path / "clips.npz")
    chosen = [manifest["config"]["data"]["classes"].index(label) for _, label, _ in expected]
    np.testing.assert_allclose(
        probabilities[np.arange(5), chosen], [p for *_, p in expected], atol=1e-4, rtol=0
    )


def test_an_image_classify_run_exports_images_to_the_probabilities_of_predict(tmp_path):
    """classify ``--images cnn``: the graph takes images normalised as ``images.json`` says
    (here by NumPy, from the file) and gives the probabilities ``rnnkit predict`` writes, for a
    batch of another size than the example's."""
    import csv

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(7, 16, 16)).astype(np.uint8)
    data = tmp_path / "images.npz"
    np.savez(data, images=images, labels=np.arange(7) % 2)
    run = tmp_path / "run"
    result = rnnkit("train", "classify", "--images", "cnn", "--encoder-widths", "4,4",
                    "--hidden", "6", "--batch-size", "4", "--data", data, "--val", data,
                    "--out", run, "--max-steps", "2", "--progress", "off", "--device", "cpu",
                    "--precision", "fp32")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    output = tmp_path / "out" / "halves.onnx"
    output.parent.mkdir()
    result = rnnkit("export", run, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "halves.images.json", "halves.json", "halves.onnx",
    ]  # fmt: skip
    manifest = json.loads(output.with_suffix(".json").read_text())
    assert manifest["task"] == "classify"
    assert manifest["graphs"][0]["inputs"] == [
        {"name": "images", "dtype": "float32", "shape": ["batch", 1, 16, 16]}
    ]
    assert manifest["graphs"][0]["outputs"] == ["logits", "weights"]

    settings = json.loads(output.with_name("halves.images.json").read_text())
    mean, std = np.array(settings["mean"]), np.array(settings["std"])
    normalised = ((images[:, None] / 255 - mean[:, None, None]) / std[:, None, None]).astype(
        np.float32
    )
    (logits,) = ort.InferenceSession(str(output)).run(["logits"], {"images": normalised})
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    predictions = tmp_path / "predictions.csv"
    result = rnnkit("predict", run, "--data", data, "--output", predictions)
    assert result.exit_code == 0, (result.output, result.exception)
    with predictions.open() as file:
        rows = list(csv.DictReader(file))
    names = manifest["config"]["data"]["labels"]
    expected = np.array([[float(row[f"p_{name}"]) for name in names] for row in rows])
    np.testing.assert_allclose(probabilities, expected, atol=1e-4, rtol=0)


def test_a_forecast_run_without_covariates_exports_at_its_defaults(tmp_path):
    """A single-column series trained with the defaults (window normalisation, the residual
    over seasonal naive, an ensemble for few windows): the graph takes the history alone and
    gives the forecast of the run's model."""
    import pandas as pd

    from rnnkit.tasks import open_run

    steps = np.arange(120)
    data = tmp_path / "series.csv"
    pd.DataFrame({"y": 5 + 2 * np.sin(2 * np.pi * steps / 12)}).to_csv(data, index=False)
    run = tmp_path / "run"
    result = rnnkit("train", "forecast", "--data", data, "--target", "y", "--lookback", "24",
                    "--horizon", "6", "--hidden", "6", "--max-steps", "2", "--out", run,
                    "--progress", "off")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    output = tmp_path / "out" / "series.onnx"
    output.parent.mkdir()
    result = rnnkit("export", run, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    manifest = json.loads(output.with_suffix(".json").read_text())
    model_config = manifest["config"]["model"]
    assert model_config["num_covariates"] == 0 and model_config["members"] > 1
    assert model_config["normalise"] == "window" and model_config["season"] >= 1
    assert [i["name"] for i in manifest["graphs"][0]["inputs"]] == ["history"]

    task, opened = open_run(run)
    model = task.load_model(opened).eval()
    history = torch.randn(3, 24, 1)  # a batch of 3 where the example's is 2
    with torch.no_grad():
        expected = model(history).mean
    (mean,) = ort.InferenceSession(str(output)).run(["mean"], {"history": history.numpy()})
    np.testing.assert_allclose(mean, expected.numpy(), atol=1e-4, rtol=0)
