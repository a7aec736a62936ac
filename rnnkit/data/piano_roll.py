"""Collections of piano rolls from the files a user gives: ``.mat``, ``.npz`` or a MIDI folder.

Every piece is a ``(T, 88)`` uint8 array (see ``rnnkit.data.midi``). A source may hold named
splits (``train``, ``valid``, ``test``) or not:

- ``.mat``: the files of Boulanger-Lewandowski et al. 2012 (``traindata``, ``validdata``,
  ``testdata``, each a cell array of ``frames x 88`` matrices), read with ``scipy.io.loadmat``;
- ``.npz``: one ``(T, 88)`` array per piece; a name starting ``train``, ``valid`` or ``test``
  (``train_0``, ``test_12``...) puts the piece in that split, otherwise the file has no splits;
  read with ``allow_pickle=False``;
- a folder of ``.mid``/``.midi`` files (searched recursively, sorted by path): one piece per
  file, no splits; a file that does not parse stops the reading unless ``skip_bad``, which
  lists it on stderr and goes on.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.midi import KEYS, MIDI_SUFFIXES, read_midi, require_music_package
from rnnkit.errors import UserError

SPLITS = ("train", "valid", "test")
_MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


@dataclass
class RollSource:
    """How to turn a file or folder into piano rolls: the frame grid and the MIDI settings."""

    frames_per_quarter: int = 8
    fs: float | None = None
    sustain: bool = False
    skip_bad: bool = False


@dataclass
class PieceSet:
    """The pieces of a file or folder: ``splits`` maps a split name to its pieces, or holds the
    single entry ``"all"`` for a source without splits; ``names`` says where each piece came from
    (a MIDI file's path, or ``file[index]``)."""

    path: Path
    splits: dict[str, list[np.ndarray]]
    names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_splits(self) -> bool:
        return "all" not in self.splits

    def split(self, name: str) -> list[np.ndarray]:
        """The pieces of split ``name``; ``UserError`` naming the file when it has no such split."""
        if name not in self.splits:
            held = ", ".join(self.splits) if self.has_splits else "no splits"
            raise UserError(f"{self.path} has no {name!r} split (it holds {held}); drop --split.")
        return self.splits[name]


def read_pieces(path: str | Path, source: RollSource | None = None) -> PieceSet:
    """The pieces of a ``.mat`` or ``.npz`` file or a folder of MIDI files (see module doc).

    ``UserError`` naming the file for a missing path, an unknown format, a file that does not
    parse, missing keys, a piece that is not ``(T, 88)`` of 0/1, or a piece without notes.
    """
    path = Path(path)
    source = source or RollSource()
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path.")
    if path.is_dir():
        pieces = _read_folder(path, source)
    elif path.suffix.lower() == ".mat":
        pieces = _read_mat(path)
    elif path.suffix.lower() == ".npz":
        pieces = _read_npz(path)
    elif path.suffix.lower() in MIDI_SUFFIXES:
        roll = read_midi(
            path, frames_per_quarter=source.frames_per_quarter, fs=source.fs, sustain=source.sustain
        )
        pieces = PieceSet(path, {"all": [roll]}, {"all": [str(path)]})
    else:
        raise UserError(
            f"{path} is not a .mat, .npz or MIDI file nor a folder; give piano rolls or MIDI files."
        )
    for split, rolls in pieces.splits.items():
        for roll, name in zip(rolls, pieces.names[split], strict=True):
            _check_roll(roll, name)
    return pieces


def _check_roll(roll: np.ndarray, name: str) -> None:
    if not roll.any():
        raise UserError(f"{name} is a piece with no notes; remove it or give one with notes.")


def _read_mat(path: Path) -> PieceSet:
    io = require_music_package("scipy.io")
    try:
        content = io.loadmat(str(path))
    except Exception as error:  # scipy raises ValueError, TypeError, MatReadError...
        raise UserError(f"{path} is not a MATLAB file that loads ({error}).") from None
    missing = [key for key in _MAT_KEYS.values() if key not in content]
    if missing:
        raise UserError(
            f"{path} lacks the key {missing[0]!r}; a piano-roll .mat holds traindata, validdata "
            "and testdata."
        )
    splits, names = {}, {}
    for split, key in _MAT_KEYS.items():
        cells = np.asarray(content[key]).ravel()
        names[split] = [f"{path} {key}[{i}]" for i in range(len(cells))]
        splits[split] = [
            _as_roll(np.asarray(piece), name)
            for piece, name in zip(cells, names[split], strict=True)
        ]
    return PieceSet(path, splits, names)


def _read_npz(path: Path) -> PieceSet:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(f"{path} is not a NumPy .npz file that loads ({error}).") from None
    if not arrays:
        raise UserError(f"{path} holds no arrays; give one (frames, 88) array per piece.")
    by_split: dict[str, list[str]] = {}
    for name in arrays:
        split = next((s for s in SPLITS if name.startswith(s)), "all")
        by_split.setdefault(split, []).append(name)
    if "all" in by_split and len(by_split) > 1:
        raise UserError(
            f"{path} mixes pieces named after a split with others (such as {by_split['all'][0]!r});"
            " name every piece train_*, valid_* or test_*, or none."
        )
    splits = {s: [_as_roll(arrays[n], f"{path} {n}") for n in by_split[s]] for s in by_split}
    names = {s: [f"{path} {n}" for n in by_split[s]] for s in by_split}
    return PieceSet(path, splits, names)


def _as_roll(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise UserError(f"{name} is not a numeric piano roll; give a (frames, {KEYS}) array.")
    if array.ndim != 2 or array.shape[1] != KEYS:
        raise UserError(f"{name} is not a piano roll of shape (frames, {KEYS}): {array.shape}.")
    if not np.isin(array, (0, 1)).all():
        raise UserError(f"{name} holds values other than 0 and 1; give a binary piano roll.")
    return array.astype(np.uint8)


def _read_folder(path: Path, source: RollSource) -> PieceSet:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise UserError(f"{path} holds no .mid or .midi files; give a folder of MIDI files.")
    rolls, names, bad = [], [], []
    for file in files:
        try:
            rolls.append(
                read_midi(
                    file,
                    frames_per_quarter=source.frames_per_quarter,
                    fs=source.fs,
                    sustain=source.sustain,
                )
            )
            names.append(str(file))
        except UserError as error:
            if not source.skip_bad:
                message = str(error).rstrip(".")
                raise UserError(f"{message}; pass --skip-bad to leave such files out.") from None
            bad.append(str(error))
    for message in bad:
        print(f"skipped: {message}", file=sys.stderr)
    if not rolls:
        raise UserError(f"{path} holds no MIDI file that reads; all {len(files)} were skipped.")
    return PieceSet(path, {"all": rolls}, {"all": names})
