"""Lists of transcribed audio: tables with paths relative to them, folders named by a pattern."""

from __future__ import annotations

import pytest

from rnnkit.data.transcripts import read_transcribed_audio
from rnnkit.errors import UserError


def test_a_table_gives_paths_relative_to_itself_and_keeps_absolute_ones(tmp_path):
    elsewhere = tmp_path / "elsewhere.wav"
    table = tmp_path / "sub" / "list.tsv"
    table.parent.mkdir()
    table.write_text(f"text\tfile\nhello there\ta/b.wav\nbye\t{elsewhere}\n")
    items = read_transcribed_audio(table, path_column="file")
    assert [i.path for i in items] == [tmp_path / "sub" / "a" / "b.wav", elsewhere]
    assert [i.text for i in items] == ["hello there", "bye"]
    unlabelled = read_transcribed_audio(table, path_column="file", text_column="x", need_text=False)
    assert [i.text for i in unlabelled] == [None, None]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("^(\\d)_", ["3", "7"]), ("_(?P<text>[a-z]+)_", ["jo", "al"]), ("^\\d", ["3", "7"])],
)
def test_a_folder_takes_the_named_group_else_the_first_group_else_the_match(
    tmp_path, pattern, expected
):
    for name in ["7_al_2.wav", "3_jo_1.wav", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    items = read_transcribed_audio(tmp_path, label_from_name=pattern)
    assert [i.path.name for i in items] == ["3_jo_1.wav", "7_al_2.wav"]
    assert [i.text for i in items] == expected


def test_mistakes_name_the_file_or_the_pattern(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"")
    with pytest.raises(UserError, match="--label-from-name"):
        read_transcribed_audio(tmp_path)
    with pytest.raises(UserError, match="not a regular expression"):
        read_transcribed_audio(tmp_path, label_from_name="(")
    with pytest.raises(UserError, match="x.wav does not match"):
        read_transcribed_audio(tmp_path, label_from_name="^\\d")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no audio files"):
        read_transcribed_audio(empty, label_from_name=".")
    table = tmp_path / "t.csv"
    table.write_text("path,text\n,hello\n")
    with pytest.raises(UserError, match="line 2 has an empty 'path'"):
        read_transcribed_audio(table)
