"""The caption task end to end on tiny generated images: learning, commands, faults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.captions import read_captions
from rnnkit.data.fashion_scenes import ShapeItems
from rnnkit.data.tokenizers import train_tokenizer
from rnnkit.tasks.caption import CaptionObjective, CaptionOptions, Inputs
from rnnkit.training.rundir import read_safetensors

FAST = ["--progress", "off", "--device", "cpu", "--precision", "fp32"]
SMALL = ["--image-size", "16", "--encoder-widths", "8,8", "--embedding-size", "16",
         "--decoder-hidden", "32", "--batch-size", "16"]  # fmt: skip
CAPTIONS = {0: ["a square", "there is a square"], 1: ["a circle", "there is a circle"]}


def rnnkit(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


def write_shapes(folder: Path, count: int = 24, seed: int = 0) -> Path:
    """``count`` 16x16 images of a square or a circle (alternating), and their caption table."""
    folder.mkdir(parents=True, exist_ok=True)
    rng, shapes = np.random.default_rng(seed), ShapeItems()
    rows = ["image,caption"]
    for i in range(count):
        label = i % 2
        item = Image.fromarray(shapes.draw(label, rng)).resize((16, 16))
        item.save(folder / f"s{i}.png")
        rows += [f"s{i}.png,{c}" for c in CAPTIONS[label]]
    table = folder / "captions.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return table


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A run trained to tell squares from circles, and its caption table."""
    folder = tmp_path_factory.mktemp("shapes")
    table = write_shapes(folder / "imgs")
    out = folder / "run"
    result = rnnkit("train", "caption", "--data", table, "--val", table, "--out", out, *SMALL,
                    "--max-steps", "60", "--eval-every", "30", "--lr", "0.005", *FAST)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    return out, table


def test_the_run_learns_to_name_the_shapes(trained):
    run, table = trained
    result = rnnkit("evaluate", run, "--data", table, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    metrics = json.loads(result.stdout)
    assert metrics["exact_match"] == 1.0 and metrics["inputs"] == 24 and metrics["captions"] == 48
    assert metrics["bleu1"] == pytest.approx(100.0)
    images = table.parent
    result = rnnkit("caption", run, images / "s0.png", images / "s1.png", "--beam", "3")
    assert result.exit_code == 0, (result.output, result.exception)
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [path for path, _ in lines] == [str(images / "s0.png"), str(images / "s1.png")]
    assert lines[0][1] in CAPTIONS[0] and lines[1][1] in CAPTIONS[1]


def test_the_attention_plot_is_a_grid_png(trained, tmp_path):
    run, table = trained
    plot = tmp_path / "att.png"
    result = rnnkit("caption", run, table.parent / "s3.png", "--attention-plot", plot)
    assert result.exit_code == 0, (result.output, result.exception)
    words = len(result.stdout.split("\t")[1].split()) + 1  # and the end of the caption
    with Image.open(plot) as image:
        width, height = image.size
    assert width >= 120 * 1.8 * min(words, 5) * 0.9  # one 1.8-inch panel per word across


def test_an_encoder_from_another_run_is_reused_frozen(trained, tmp_path):
    run, table = trained
    out = tmp_path / "second"
    result = rnnkit("train", "caption", "--data", table, "--out", out, "--encoder-from", run,
                    *SMALL, "--encoder-widths", "4", "--max-steps", "3", *FAST)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    first, second = (
        read_safetensors(run / "model.safetensors"),
        read_safetensors(out / "model.safetensors"),
    )
    encoder = [name for name in first if name.startswith("encoder.")]
    assert encoder and all(np.array_equal(first[n], second[n]) for n in encoder)
    assert not np.array_equal(first["output.weight"], second["output.weight"])
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["freeze_encoder"] and config["model"]["encoder_widths"] == [8, 8]
    assert (out / "images.json").read_text() == (run / "images.json").read_text()


def test_keywords_become_sentences(tmp_path):
    table = tmp_path / "keywords.csv"
    pairs = [("red ball", "a red ball"), ("blue box", "a blue box")] * 8
    rows = ["image,caption"] + [f"{k},{c}" for k, c in pairs]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = rnnkit("train", "caption", "--keywords", "--data", table, "--out", out,
                    "--embedding-size", "16", "--decoder-hidden", "32", "--batch-size", "16",
                    "--max-steps", "40", "--lr", "0.01", *FAST)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    result = rnnkit("caption", out, "blue box", "red ball", "--attention-plot", tmp_path / "k.png")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.splitlines() == ["blue box\ta blue box", "red ball\ta red ball"]
    assert (tmp_path / "k.png").is_file()


def test_images_of_different_modes_are_converted(tmp_path):
    folder = tmp_path / "imgs"
    table = write_shapes(folder, count=4)
    Image.new("RGB", (20, 16), (200, 10, 10)).save(folder / "s0.png")  # colour, not square
    Image.new("P", (16, 16)).save(folder / "s1.png")  # a palette image
    out = tmp_path / "run"
    result = rnnkit("train", "caption", "--data", table, "--out", out, *SMALL, "--max-steps",
                    "2", *FAST)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads((out / "images.json").read_text())["channels"] == 3


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fault", ["unreadable", "missing", "empty caption", "beam 0"])
def test_bad_training_input_exits_2_and_writes_nothing(fault, tmp_path):
    folder = tmp_path / "imgs"
    table = write_shapes(folder, count=4)
    extra: list[str] = []
    if fault == "unreadable":
        (folder / "s2.png").write_text("no image", encoding="utf-8")
        expected = "s2.png is not an image Pillow can read"
    elif fault == "missing":
        (folder / "s1.png").unlink()
        (folder / "s3.png").unlink()
        expected = "names 2 images missing"
    elif fault == "empty caption":
        table.write_text(table.read_text() + "s0.png,\n", encoding="utf-8")
        expected = "line 10 has an empty caption for s0.png"
    else:
        extra, expected = ["--beam", "0"], "--beam must be a whole number >= 1"
    out = tmp_path / "run"
    result = rnnkit("train", "caption", "--data", table, "--out", out, *SMALL, "--max-steps",
                    "2", *extra, *FAST)  # fmt: skip
    assert_one_line_error(result, expected)
    assert not out.exists()


def test_bad_command_input_exits_2(trained, tmp_path):
    run, table = trained
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert_one_line_error(
        rnnkit("caption", run, table.parent / "s0.png", "--beam", "0"), "--beam must be"
    )
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    assert_one_line_error(rnnkit("caption", run, tmp_path / "bad.jpg"), "bad.jpg is not an image")
    assert_one_line_error(
        rnnkit("evaluate", run, "--data", table, "--images", tmp_path), "names 24 images missing"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_images_is_refused_for_runs_of_other_tasks(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abc abc abc\n" * 20, encoding="utf-8")
    out = tmp_path / "lm"
    result = rnnkit("train", "lm", "--data", text, "--out", out, "--hidden", "4", "--max-steps",
                    "1", "--batch-size", "2", "--bptt", "4", *FAST)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert_one_line_error(
        rnnkit("evaluate", out, "--data", text, "--images", tmp_path), "--images does not apply"
    )


def test_scheduled_sampling_decays_the_teacher_forcing_ratio_per_batch(tmp_path):
    table = write_shapes(tmp_path, count=8)  # 16 captions: 4 batches of 4
    captions = read_captions(table)
    options = CaptionOptions(data=table, batch_size=4, teacher_forcing=1.0,
                             teacher_forcing_end=0.2, teacher_forcing_decay_epochs=2.0)  # fmt: skip
    tokenizer = train_tokenizer("word", [c for refs in captions.references for c in refs])
    keywords = [[4]] * len(captions)
    objective = CaptionObjective(Inputs(None, keywords, None), captions, None, options, tokenizer)
    for epoch in (0, 1, 2):
        ratios = [
            float(batch["teacher_forcing"][0])
            for batch in objective.train_batches(epoch, torch.Generator().manual_seed(0))
        ]
        # linear from 1.0 to 0.2 over two epochs of four batches each, then 0.2
        want = [max(0.2, 1.0 - 0.8 * (epoch + b / 4) / 2) for b in range(4)]
        assert ratios == pytest.approx(want), epoch
