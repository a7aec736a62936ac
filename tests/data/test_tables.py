"""Reading CSV/TSV/JSONL tables: content by extension, and one clear sentence per fault; and
reading labelled examples (texts or numeric sequences) from them."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.data.labelled import label_order, read_labelled, subset
from rnnkit.data.numeric import FeatureScaler
from rnnkit.data.tables import read_table, require_columns
from rnnkit.errors import UserError


def test_csv_tsv_and_jsonl_give_the_same_table(tmp_path):
    rows = [("a, quoted", "1"), ("plain", "0")]
    (tmp_path / "t.csv").write_text('text,label\n"a, quoted",1\nplain,0\n')
    (tmp_path / "t.tsv").write_text("text\tlabel\na, quoted\t1\nplain\t0\n")
    (tmp_path / "t.jsonl").write_text(
        "\n".join(json.dumps({"text": t, "label": int(y)}) for t, y in rows) + "\n"
    )
    for name in ("t.csv", "t.tsv", "t.jsonl"):
        frame = read_table(tmp_path / name, as_text=True)
        assert list(frame.columns) == ["text", "label"]
        assert [tuple(r) for r in frame.itertuples(index=False)] == rows


def test_as_text_keeps_empty_cells_as_empty_strings(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n,1\nNA,0\n")
    frame = read_table(tmp_path / "t.csv", as_text=True)
    assert frame["text"].tolist() == ["", "NA"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"  \n\n", "only whitespace"),
        ("latin.csv", "text,label\ncaf\xe9,1\n".encode("latin-1"), "not valid utf-8"),
        ("tabs.csv", b"text\tlabel\nhello\t1\n", "looks tab-separated"),
        ("commas.tsv", b"text,label\nhello,1\n", "looks comma-separated"),
        ("rows.jsonl", b'{"text": "a"}\n[1, 2]\n', "line 2"),
        ("table.xlsx", b"x", "not a table format"),
        ("header.csv", b"text,label\n", "no rows"),
    ],
)
def test_bad_files_raise_one_sentence_naming_the_file(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as error:
        read_table(path)
    message = str(error.value)
    assert expected in message
    assert name in message
    assert "\n" not in message


def test_missing_column_lists_the_existing_ones(tmp_path):
    (tmp_path / "t.csv").write_text("review,stars\ngood,5\n")
    frame = read_table(tmp_path / "t.csv")
    with pytest.raises(UserError, match="no column 'text'; its columns are 'review', 'stars'"):
        require_columns(frame, ["text"], tmp_path / "t.csv")


# ------------------------------------------------------------------------ labelled examples


def test_labelled_text_table_skips_empty_texts_and_names_rows_by_number(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("text,label\ngood,pos\n ,neg\nbad,neg\n")
    data = read_labelled(tmp_path / "t.csv")
    assert (data.texts, data.labels, data.names) == (["good", "bad"], ["pos", "neg"], ["1", "3"])
    assert "skipped 1 rows with an empty text" in capsys.readouterr().err
    unlabelled = read_labelled(tmp_path / "t.csv", label_column=None)
    assert unlabelled.labels is None and len(unlabelled) == 2


def test_labelled_numeric_table_needs_a_sequence_column(tmp_path):
    (tmp_path / "t.csv").write_text("id,v,label\na,1.0,x\n")
    with pytest.raises(UserError, match="--sequence-column"):
        read_labelled(tmp_path / "t.csv", numeric=True)
    data = read_labelled(tmp_path / "t.csv", numeric=True, sequence_column="id")
    assert data.texts is None and data.labels == ["x"] and data.numeric.feature_names == ["v"]


def test_label_order_is_numeric_for_integer_labels():
    assert label_order(["10", "2", "-1", "2"]) == ["-1", "2", "10"]
    assert label_order(["b", "10", "a"]) == ["10", "a", "b"]


def test_subset_keeps_examples_labels_and_names_together(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\na,x\nb,y\nc,z\n")
    picked = subset(read_labelled(tmp_path / "t.csv"), [2, 0])
    assert (picked.texts, picked.labels, picked.names) == (["c", "a"], ["z", "x"], ["3", "1"])


def test_feature_scaler_dict_round_trip_is_its_saved_file(tmp_path):
    scaler = FeatureScaler.fit([torch.tensor([[1.0, 5.0], [3.0, 5.0]])])
    assert scaler.to_dict() == {"mean": [2.0, 5.0], "std": [1.0, 1.0]}
    scaler.save(tmp_path / "scaler.json")
    assert json.loads((tmp_path / "scaler.json").read_text()) == scaler.to_dict()
    loaded = FeatureScaler.from_dict(scaler.to_dict())
    assert torch.equal(loaded.mean, scaler.mean) and torch.equal(loaded.std, scaler.std)
