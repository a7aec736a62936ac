"""Results go to the --output file, or to stdout; an unwritable file is one sentence."""

from __future__ import annotations

import pytest

from rnnkit.data.writers import write_output
from rnnkit.errors import UserError


def test_text_goes_to_the_file_or_to_stdout(tmp_path, capsys):
    path = tmp_path / "out.txt"
    write_output(path, "é\n")
    assert path.read_bytes() == "é\n".encode()
    write_output(None, "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"


def test_an_unwritable_file_is_named(tmp_path):
    missing_folder = tmp_path / "nowhere" / "out.txt"
    with pytest.raises(UserError, match=r"cannot write .*nowhere/out.txt \(No such file"):
        write_output(missing_folder, "x")
    assert not missing_folder.parent.exists()
