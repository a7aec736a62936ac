"""The TSV pairs reader: good files, and one sentence per fault in bad ones."""

from __future__ import annotations

import pytest

from rnnkit.data.pairs import read_pairs
from rnnkit.errors import UserError


def write(tmp_path, text: str, name: str = "pairs.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_pairs_ignoring_further_columns_and_blank_lines(tmp_path):
    path = write(
        tmp_path,
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"
        "\n"
        "  Hi. \t Salut ! \r\n"
        "Run!\tCours !\n",
    )
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours !")]


def test_lines_without_a_tab_report_the_first_line_and_the_count(tmp_path):
    path = write(tmp_path, "a\tb\nno tab here\nc\td\nnor here\nnor here either\n")
    with pytest.raises(UserError) as error:
        read_pairs(path)
    message = str(error.value)
    assert "3 lines have no tab" in message and "line 2" in message and str(path) in message


@pytest.mark.parametrize("line", ["\tonly target", "only source\t", "   \t  "])
def test_empty_source_or_target(tmp_path, line):
    path = write(tmp_path, f"a\tb\n{line}\n")
    with pytest.raises(UserError, match=r"1 line has an empty source or target \(first: line 2\)"):
        read_pairs(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_pairs(tmp_path / "nothing.tsv")
    with pytest.raises(UserError, match="is empty"):
        read_pairs(write(tmp_path, ""))
    with pytest.raises(UserError, match="has no sentence pairs"):
        read_pairs(write(tmp_path, "\n\n  \n"))
