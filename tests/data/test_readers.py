"""read_text: the text of a good file, one clear UserError for each kind of bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data import read_text
from rnnkit.errors import UserError


def test_reads_utf8_text_exactly(tmp_path: Path) -> None:
    text = "Größe: 5 €\nzweite Zeile — 日本\n"
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_text(path) == text


def test_drops_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello")
    assert read_text(path) == "hello"


def test_other_encoding_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    assert read_text(path, encoding="latin-1") == "café"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.txt"
    with pytest.raises(UserError, match="nowhere.txt does not exist"):
        read_text(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"{tmp_path.name} is a directory"):
        read_text(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(UserError, match="empty.txt is empty"):
        read_text(path)


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b" \n\t\n")
    with pytest.raises(UserError, match="blank.txt contains only whitespace"):
        read_text(path)


def test_invalid_utf8_names_offset_and_suggests_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    data = "abc café".encode("latin-1")  # é is the single byte 0xe9 at offset 7
    path.write_bytes(data)
    with pytest.raises(UserError) as caught:
        read_text(path)
    message = str(caught.value)
    assert "latin.txt is not valid utf-8" in message
    assert f"offset {data.index(0xE9)}" in message
    assert "0xe9" in message
    assert "--encoding" in message
    assert message.count(".") <= 2 and "\n" not in message  # one sentence, one line


def test_unknown_encoding(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("abc")
    with pytest.raises(UserError, match="unknown encoding 'klingon'"):
        read_text(path, encoding="klingon")
