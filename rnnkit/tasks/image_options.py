"""The CNN's option shared by the tasks that train the image encoder (caption, classify
``--images cnn``): ``--encoder-widths``, the channels of each CNN stage."""

from __future__ import annotations

from rnnkit.errors import UserError

ENCODER_WIDTHS_HELP = "CNN channels per stage."
DEFAULT_ENCODER_WIDTHS = "16,32,64"


def parse_encoder_widths(text: str) -> list[int]:
    """``--encoder-widths`` as numbers; ``UserError`` unless a comma-separated list of them."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise UserError(
            f"--encoder-widths must be channel counts separated by commas, such as 16,32,64, "
            f"got {text!r}."
        )
    return widths
