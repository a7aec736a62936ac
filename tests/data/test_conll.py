"""CoNLL reading: token first, tag last, sentences split at blank lines."""

from __future__ import annotations

import pytest

from rnnkit.data.conll import read_conll
from rnnkit.errors import UserError


def test_sentences_tokens_and_last_column_tags(tmp_path):
    path = tmp_path / "t.conll"
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU\tNNP\tB-NP\tB-ORG\nrejects\tVBZ\tB-VP\tO\n\n\nPeter B-PER\n"
    )
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-PER"]]


def test_a_line_without_tag_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("EU\tB-ORG\nrejects\n")
    with pytest.raises(UserError, match=r"t.conll line 2 has a token but no tag"):
        read_conll(path)


def test_untagged_lines_are_tokens_for_prediction(tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("EU\nrejects\n\nit\n")
    sentences = read_conll(path, require_tags=False)
    assert [(s.tokens, s.tags) for s in sentences] == [(["EU", "rejects"], []), (["it"], [])]
