"""Caption tables: grouping references by image, and the faults named in one sentence."""

from __future__ import annotations

import pytest

from rnnkit.data.captions import image_paths, read_captions
from rnnkit.errors import UserError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_are_grouped_by_image_in_first_seen_order(tmp_path):
    table = write(tmp_path / "c.csv", "image,caption\nb.png,one b\na.png,an a\nb.png,  two   b\n")
    captions = read_captions(table)
    assert captions.inputs == ["b.png", "a.png"]
    assert captions.references == [["one b", "two b"], ["an a"]]
    assert captions.pairs() == [(0, "one b"), (0, "two b"), (1, "an a")]


def test_an_empty_caption_is_refused_with_its_line(tmp_path):
    table = write(tmp_path / "c.csv", "image,caption\na.png,fine\nb.png,\n")
    with pytest.raises(UserError, match=r"c\.csv line 3 has an empty caption for b\.png"):
        read_captions(table)


def test_missing_images_are_listed_with_their_count(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"")
    rows = "".join(f"m{i}.png,x\n" for i in range(5))
    captions = read_captions(write(tmp_path / "c.csv", "image,caption\na.png,x\n" + rows))
    with pytest.raises(UserError) as error:
        image_paths(captions, tmp_path / "imgs", tmp_path / "c.csv")
    message = str(error.value)
    assert "names 5 images missing" in message
    assert "m0.png, m1.png, m2.png, ..." in message and "m3.png" not in message


def test_a_table_without_the_caption_column_is_refused(tmp_path):
    with pytest.raises(UserError, match="no column 'caption'"):
        read_captions(write(tmp_path / "c.csv", "image,text\na.png,x\n"))
