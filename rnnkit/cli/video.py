"""``rnnkit train video``, and ``rnnkit predict`` on a video run (the command itself is in
``rnnkit/cli/classify.py`` and dispatches on the run's task): predicted frames of a --data file
of clips to an .npz, or a PNG strip and GIF of its first clip; or each clip's label."""

from __future__ import annotations

import csv
import io
import json

import typer

from rnnkit.cli.classify import PREDICTORS, PredictRequest
from rnnkit.cli.train_command import register_train_command
from rnnkit.data.writers import write_output
from rnnkit.errors import UserError
from rnnkit.tasks import video

register_train_command(video.TASK_SPEC)


def _predict_video(request: PredictRequest) -> None:
    """``rnnkit predict`` on a video run: --data clips; frames to --output (predict mode), or
    clip,label,probability rows to --output or stdout (classify mode)."""
    if request.data is None:
        raise UserError("a video run predicts clips; give --data with clips, not --text.")
    if request.explain:
        raise UserError("--explain works with classify runs of text; drop it for a video run.")
    mode = video.TASK_SPEC.open(request.run_dir).options(video.VideoOptions).mode
    if mode == "predict":
        if request.output is None:
            raise UserError("a prediction run writes frames; pass --output FILE.npz or .png.")
        count = video.predict_clips(request.run_dir, request.data, request.output)
        typer.echo(f"predicted {count} clips", err=True)
        output = request.output
        written = (
            [output]
            if output.suffix == ".npz"
            else [output.with_suffix(s) for s in (".png", ".gif")]
        )
        for path in written:
            typer.echo(str(path))  # the files written, one a line, for scripts
        return
    rows = video.label_clips(request.run_dir, request.data)
    if request.as_json:
        text = "".join(
            json.dumps({"clip": n, "label": lab, "probability": p}) + "\n" for n, lab, p in rows
        )
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["clip", "label", "probability"])
        writer.writerows([n, lab, f"{p:.4f}"] for n, lab, p in rows)
        text = buffer.getvalue()
    write_output(request.output, text)


PREDICTORS["video"] = _predict_video
