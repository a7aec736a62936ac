"""``rnnkit runs [DIR]``: the run directories under a folder, as a table or JSON."""

from __future__ import annotations

import csv
import json
import os
import shutil

from conftest import TINY, assert_user_error, rnnkit


def _best_val_loss(run_dir) -> float:
    """The lowest validation loss in metrics.csv: the kept weights are the best validated."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return min(float(row["val_loss"]) for row in csv.DictReader(handle) if row["val_loss"])


def test_runs_lists_finished_unfinished_and_damaged_runs(tmp_path, tiny_corpus):
    folder = tmp_path / "experiments"
    first = folder / "a" / "first"
    assert rnnkit("train", "lm", "--data", tiny_corpus, "--out", first, *TINY).exit_code == 0
    second = folder / "b"
    flags = [*TINY, "--max-steps", "5", "--eval-every", "2"]
    assert rnnkit("train", "lm", "--data", tiny_corpus, "--out", second, *flags).exit_code == 0
    # an older first run: its files a day earlier
    for path in first.iterdir():
        stat = path.stat()
        os.utime(path, (stat.st_atime - 86400, stat.st_mtime - 86400))
    unfinished = folder / "c"
    shutil.copytree(second, unfinished)
    config = json.loads((unfinished / "config.json").read_text())
    del config["results"]
    (unfinished / "config.json").write_text(json.dumps(config))
    (folder / "damaged").mkdir()
    (folder / "damaged" / "config.json").write_text("{not json")
    (folder / "notes").mkdir()  # a folder without config.json is no run
    (folder / "notes" / "readme.txt").write_text("hello")

    result = rnnkit("runs", folder, "--json")
    assert result.exit_code == 0, result.output
    rows = {row["path"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == sorted(str(p) for p in [first, second, unfinished, folder / "damaged"])
    assert list(rows)[0] == str(first)  # oldest first
    assert rows[str(first)]["task"] == "lm" and rows[str(first)]["steps"] == 3
    assert rows[str(second)]["steps"] == 5 and rows[str(second)]["monitor"] == "loss"
    assert abs(rows[str(second)]["best"] - _best_val_loss(second)) < 1e-5
    assert rows[str(unfinished)]["finished"] is False and rows[str(unfinished)]["best"] is None
    assert "not valid JSON" in rows[str(folder / "damaged")]["problem"]

    table = rnnkit("runs", folder)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "task", "created", "(UTC)", "steps", "best"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert by_name["b"].split()[1] == "lm" and by_name["b"].split()[4] == "5"
    assert f"loss {_best_val_loss(second):.4f}" in by_name["b"]
    assert "(not finished)" in by_name["c"] and "unreadable" in by_name["damaged"]
    assert lines[1].startswith("a/first")


def test_runs_of_an_empty_folder_and_bad_folders(tmp_path):
    empty = rnnkit("runs", tmp_path, "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert_user_error(rnnkit("runs", tmp_path / "missing"), "does not exist")
    (tmp_path / "file.txt").write_text("x")
    assert_user_error(rnnkit("runs", tmp_path / "file.txt"), "is not a folder")
