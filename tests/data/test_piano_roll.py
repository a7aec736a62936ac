"""Piano rolls from .mat, .npz and MIDI folders, MIDI written and read back, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pretty_midi")
scipy_io = pytest.importorskip("scipy.io")

from rnnkit.data.midi import KEYS, read_midi, write_midi  # noqa: E402
from rnnkit.data.piano_roll import RollSource, read_pieces  # noqa: E402
from rnnkit.errors import UserError  # noqa: E402

JSB = Path(__file__).resolve().parents[3] / "shared" / "data" / "poly_music" / "JSB_Chorales.mat"


def random_roll(frames: int, seed: int) -> np.ndarray:
    """A (frames, 88) roll with a note sounding in its last frame (so its length survives MIDI)."""
    roll = (np.random.default_rng(seed).random((frames, KEYS)) < 0.05).astype(np.uint8)
    roll[-1, 40] = 1
    return roll


@pytest.mark.parametrize("grid", [{"frames_per_quarter": 8}, {"frames_per_quarter": 4},
                                  {"fs": 10.0}])  # fmt: skip
def test_midi_written_then_read_back_gives_the_same_roll(tmp_path, grid):
    roll = random_roll(40, seed=1)
    path = tmp_path / "piece.mid"
    write_midi(path, roll, tempo=93.0, program=40, **grid)
    assert np.array_equal(read_midi(path, **grid), roll)
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    assert midi.instruments[0].program == 40
    assert midi.get_tempo_changes()[1][0] == pytest.approx(93.0, rel=1e-3)


def test_frames_follow_quarter_notes_whatever_the_tempo(tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=60.0)  # a quarter note lasts one second
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.5, end=1.5))
    midi.instruments.append(piano)
    path = tmp_path / "one.mid"
    midi.write(str(path))
    roll = read_midi(path, frames_per_quarter=4)  # frames 2..5 (0.5 s to 1.5 s)
    assert roll.shape == (6, KEYS)
    assert np.flatnonzero(roll[:, 60 - 21]).tolist() == [2, 3, 4, 5]
    assert roll.sum() == 4


def test_sustain_holds_a_released_note_until_the_pedal_comes_up(tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=60.0)
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=64, start=1.75, end=2.0))
    piano.control_changes += [pretty_midi.ControlChange(64, 100, 0.25),
                              pretty_midi.ControlChange(64, 0, 1.5)]  # fmt: skip
    midi.instruments.append(piano)
    path = tmp_path / "pedal.mid"
    midi.write(str(path))
    dry = read_midi(path, frames_per_quarter=4)
    wet = read_midi(path, frames_per_quarter=4, sustain=True)
    assert np.flatnonzero(dry[:, 39]).tolist() == [0, 1]
    assert np.flatnonzero(wet[:, 39]).tolist() == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(dry[:, 43], wet[:, 43])  # after the pedal: unchanged


def test_mat_file_splits(tmp_path):
    rolls = {key: [random_roll(5 + i, i) for i in range(n)]
             for key, n in [("traindata", 3), ("validdata", 2), ("testdata", 1)]}  # fmt: skip
    cells = {}
    for key, pieces in rolls.items():
        cell = np.empty((1, len(pieces)), dtype=object)
        for i, piece in enumerate(pieces):
            cell[0, i] = piece.astype(np.float64)
        cells[key] = cell
    path = tmp_path / "set.mat"
    scipy_io.savemat(path, cells)
    pieces = read_pieces(path)
    assert pieces.has_splits
    for split, key in [("train", "traindata"), ("valid", "validdata"), ("test", "testdata")]:
        got = pieces.split(split)
        assert len(got) == len(rolls[key])
        for a, b in zip(got, rolls[key], strict=True):
            assert np.array_equal(a, b)


def test_npz_with_and_without_splits(tmp_path):
    split = tmp_path / "split.npz"
    np.savez(split, train_0=random_roll(6, 0), train_1=random_roll(7, 1), test_0=random_roll(8, 2))
    pieces = read_pieces(split)
    assert {k: len(v) for k, v in pieces.splits.items()} == {"train": 2, "test": 1}
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=random_roll(6, 0), b=random_roll(7, 1))
    pieces = read_pieces(plain)
    assert not pieces.has_splits and len(pieces.splits["all"]) == 2
    with pytest.raises(UserError, match="no 'test' split"):
        pieces.split("test")


def test_midi_folder_one_piece_per_file_sorted(tmp_path):
    for name, seed in [("b.mid", 2), ("sub/a.midi", 1)]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_midi(tmp_path / name, random_roll(12, seed))
    pieces = read_pieces(tmp_path)
    assert pieces.names["all"] == [str(tmp_path / "b.mid"), str(tmp_path / "sub/a.midi")]
    assert np.array_equal(pieces.splits["all"][1], random_roll(12, 1))


@pytest.mark.skipif(not JSB.exists(), reason="the shared poly_music data is absent")
def test_jsb_chorales_as_published():
    pieces = read_pieces(JSB)
    assert [len(pieces.split(s)) for s in ("train", "valid", "test")] == [229, 76, 77]
    assert all(p.shape[1] == KEYS and p.dtype == np.uint8 for p in pieces.split("test"))


# ------------------------------------------------------------------------------------ bad input


def one_sentence(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message
    assert message.count(". ") == 0, message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_inputs_are_one_sentence_naming_the_file(tmp_path):
    garbage = tmp_path / "bad.mid"
    garbage.write_bytes(b"not a midi file at all")
    with pytest.raises(UserError) as error:
        read_midi(garbage)
    one_sentence(error, str(garbage), "not a MIDI file that parses")

    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    (empty_folder / "notes.txt").write_text("no midi here")
    with pytest.raises(UserError) as error:
        read_pieces(empty_folder)
    one_sentence(error, str(empty_folder), "no .mid")

    mat = tmp_path / "other.mat"
    scipy_io.savemat(mat, {"traindata": np.zeros((2, 2))})
    with pytest.raises(UserError) as error:
        read_pieces(mat)
    one_sentence(error, str(mat), "validdata")

    silent = tmp_path / "silent.npz"
    np.savez(silent, a=random_roll(5, 0), b=np.zeros((5, KEYS)))
    with pytest.raises(UserError) as error:
        read_pieces(silent)
    one_sentence(error, str(silent), "no notes")

    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, a=np.ones((5, 12)))
    with pytest.raises(UserError) as error:
        read_pieces(wrong)
    one_sentence(error, str(wrong), "(frames, 88)")


def test_a_bad_file_in_a_folder_stops_the_reading_unless_skip_bad(tmp_path, capsys):
    write_midi(tmp_path / "good.mid", random_roll(10, 0))
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(UserError) as error:
        read_pieces(tmp_path)
    one_sentence(error, str(bad), "--skip-bad")
    pieces = read_pieces(tmp_path, RollSource(skip_bad=True))
    assert pieces.names["all"] == [str(tmp_path / "good.mid")]
    assert str(bad) in capsys.readouterr().err


def test_without_the_music_extra_one_sentence_says_how_to_install_it(tmp_path, monkeypatch):
    import ast
    import sys

    import rnnkit

    # the package imports without the extra: no module imports it at its top level
    for source in Path(rnnkit.__file__).parent.rglob("*.py"):
        for node in ast.parse(source.read_text()).body:
            names = [a.name for a in getattr(node, "names", [])] + [getattr(node, "module", "")]
            assert not any(
                (n or "").split(".")[0] in ("pretty_midi", "scipy", "mido") for n in names
            ), source
    monkeypatch.setitem(sys.modules, "pretty_midi", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    for reader, path in [(read_midi, tmp_path / "a.mid"), (read_pieces, tmp_path / "a.mat")]:
        path.write_bytes(b"anything")
        with pytest.raises(UserError) as error:
            reader(path)
        one_sentence(error, "pip install 'rnnkit[music]'")
