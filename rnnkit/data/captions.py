"""Caption tables: ``image,caption`` rows, several rows per image (its reference captions).

``read_captions`` reads a CSV, TSV or JSON Lines table (``rnnkit.data.tables``) and groups the
rows by their ``image`` cell, keeping the order in which images first appear. The ``image`` cell
names an image file (relative to an images folder) or, for keyword -> sentence, holds a keyword
or a few attributes. ``require_images`` checks that every named file exists, listing the first
few that do not and their count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.tables import read_table, require_columns
from rnnkit.errors import UserError

IMAGE_COLUMN, CAPTION_COLUMN = "image", "caption"
#: missing images named in the message before the count
SHOWN_MISSING = 3


@dataclass
class CaptionSet:
    """Distinct inputs (image names or keyword strings) and the reference captions of each."""

    inputs: list[str]
    references: list[list[str]]

    def __len__(self) -> int:
        return len(self.inputs)

    def pairs(self) -> list[tuple[int, str]]:
        """Every (input index, caption) pair: one training example per reference."""
        return [(i, c) for i, refs in enumerate(self.references) for c in refs]


def read_captions(path: str | Path, encoding: str = "utf-8") -> CaptionSet:
    """The captions of a table, grouped by input; ``UserError`` naming the file for a missing
    file or column, an empty image cell or an empty caption (with its line)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; give an image,caption table.")
    frame = read_table(path, encoding=encoding, as_text=True)
    require_columns(frame, [IMAGE_COLUMN, CAPTION_COLUMN], path)
    grouped: dict[str, list[str]] = {}
    # line 1 is the header of a CSV/TSV file; the first row is line 2
    for line, (name, caption) in enumerate(
        zip(frame[IMAGE_COLUMN], frame[CAPTION_COLUMN], strict=True), start=2
    ):
        name, caption = name.strip(), " ".join(caption.split())
        if not name:
            raise UserError(f"{path} line {line} has an empty {IMAGE_COLUMN!r}; fill it in.")
        if not caption:
            raise UserError(
                f"{path} line {line} has an empty caption for {name}; write one or drop the row."
            )
        grouped.setdefault(name, []).append(caption)
    return CaptionSet(list(grouped), list(grouped.values()))


def image_paths(captions: CaptionSet, folder: Path, table: str | Path) -> list[Path]:
    """The file of each input in ``folder`` (an absolute name stays as it is); ``UserError``
    naming the first few missing files and how many are missing."""
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give --images the folder of the images.")
    paths = [folder / name for name in captions.inputs]
    missing = [
        name for name, path in zip(captions.inputs, paths, strict=True) if not path.is_file()
    ]
    if missing:
        shown = ", ".join(missing[:SHOWN_MISSING]) + (
            ", ..." if len(missing) > SHOWN_MISSING else ""
        )
        raise UserError(
            f"{table} names {len(missing)} image{'s' if len(missing) > 1 else ''} missing from "
            f"{folder} ({shown}); fix the names or --images."
        )
    return paths
