"""Reading CSV/TSV/JSONL tables: content by extension, and one clear sentence per fault."""

from __future__ import annotations

import json

import pytest

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
