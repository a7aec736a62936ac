"""Export a trained run for use without rnnkit: ``rnnkit export RUN --format onnx --output F``.

One module per model kind wraps that model's own forward or step functions in ``Graph``s
(``rnnkit.export.graph``): tensors in, tensors out, the recurrent state as explicit inputs and
outputs where the model can stream, batch and time axes symbolic. ``rnnkit.export.onnx`` writes a
graph with ``torch.onnx.export``; ``export_run`` writes every graph of a run, the run's JSON
artifacts (tokenizer, vocabulary, scaler, features) and a manifest, ``<stem>.json``, that names
each graph's inputs and outputs and holds the run's config::

    model.onnx                   the first graph (translate, caption: the encoder)
    model.<graph>.onnx           further graphs (translate, caption: decoder_step; forecast:
                                 one_step; speech: stream; video predict: step)
    model.json                   the manifest
    model.<artifact>.json        the run's artifacts, as the run holds them

Every cell exports: the recurrence runs as one ONNX ``Scan`` of the cell's own ``step`` in plain
torch (a cell's C kernel or torch's fused kernel is a speed-up of the same function, not needed).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.errors import UserError
from rnnkit.export.caption import captioner_graphs
from rnnkit.export.classifier import classifier_graphs
from rnnkit.export.graph import Graph
from rnnkit.export.image_classifier import image_classifier_graphs
from rnnkit.export.language_model import language_model_graphs
from rnnkit.export.music import piano_roll_graphs
from rnnkit.export.onnx import write_onnx
from rnnkit.export.seq2seq import seq2seq_graphs
from rnnkit.export.series import autoencoder_graphs, forecaster_graphs
from rnnkit.export.speech import recognizer_graphs
from rnnkit.export.tagger import tagger_graphs
from rnnkit.export.video import clip_classifier_graphs, predictor_graphs
from rnnkit.models import (
    Captioner,
    CTCRecognizer,
    Forecaster,
    ImageClassifier,
    LanguageModel,
    PianoRollModel,
    Seq2Seq,
    SequenceAutoencoder,
    SequenceClassifier,
    SequenceTagger,
)
from rnnkit.models.classifier_ensemble import ClassifierEnsemble
from rnnkit.models.video import ClipClassifier, FramePredictor
from rnnkit.tasks import open_run

FORMATS = ("onnx",)
MANIFEST_FORMAT = "rnnkit-onnx"
MANIFEST_VERSION = 1

#: model class -> the function that wraps it in its graphs
GRAPHS: dict[type[nn.Module], Callable[[Any], list[Graph]]] = {
    LanguageModel: language_model_graphs,
    SequenceClassifier: classifier_graphs,
    ClassifierEnsemble: classifier_graphs,
    ImageClassifier: image_classifier_graphs,
    SequenceTagger: tagger_graphs,
    Seq2Seq: seq2seq_graphs,
    Forecaster: forecaster_graphs,
    SequenceAutoencoder: autoencoder_graphs,
    CTCRecognizer: recognizer_graphs,
    PianoRollModel: piano_roll_graphs,
    Captioner: captioner_graphs,
    FramePredictor: predictor_graphs,
    ClipClassifier: clip_classifier_graphs,
}


def model_graphs(model: nn.Module, **hints: Any) -> list[Graph]:
    """The graphs of a model (eval mode); ``UserError`` for a model no exporter knows.

    ``hints`` are what a run knows and its model does not (``frame_shape``: a video run's
    ``(C, H, W)``); a builder gets those its signature names.
    """
    build = GRAPHS.get(type(model))
    if build is None:
        raise UserError(f"a {type(model).__name__} model cannot be exported; no exporter knows it.")
    wanted = inspect.signature(build).parameters
    return build(model.eval(), **{k: v for k, v in hints.items() if k in wanted})


def graph_paths(output: Path, graphs: list[Graph]) -> dict[str, Path]:
    """Where each graph goes: the first at ``output``, the others at ``<stem>.<name>.onnx``."""
    paths = {graphs[0].name: output}
    for graph in graphs[1:]:
        paths[graph.name] = output.with_name(f"{output.stem}.{graph.name}.onnx")
    return paths


def export_run(run_dir: str | Path, output: str | Path, format: str = "onnx") -> list[Path]:
    """Export the run in ``run_dir`` to ``output`` and beside it; return the files written.

    ``UserError`` for an unknown format, a directory that is not a run, a model that cannot be
    exported, an output that is not an .onnx file or in a folder that does not exist. The files
    appear only once all are written.
    """
    if format not in FORMATS:
        raise UserError(f"format {format!r} is not one rnnkit exports; use {', '.join(FORMATS)}.")
    output = Path(output)
    if output.suffix != ".onnx":
        raise UserError(f"--output {output} must name an .onnx file, such as model.onnx.")
    if not output.parent.is_dir():
        raise UserError(f"the folder of --output {output} does not exist; create it first.")
    task, run = open_run(run_dir)
    model = task.load_model(run)
    data = run.config.get("data")
    shape = data.get("frame_shape") if isinstance(data, dict) else None
    graphs = model_graphs(model, frame_shape=tuple(shape) if shape else None)
    targets = graph_paths(output, graphs)
    artifacts = {
        name: output.with_name(f"{output.stem}.{name}")
        for name in task.artifact_files
        if name.endswith(".json") and run.file(name).is_file()
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "task": task.name,
        "graphs": [describe_graph(graph, targets[graph.name].name) for graph in graphs],
        "artifacts": {name: path.name for name, path in artifacts.items()},
        "config": run.config,
    }
    manifest_path = output.with_name(f"{output.stem}.json")
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".rnnkit-export-") as scratch:
        staged: dict[Path, Path] = {}
        for graph in graphs:
            staged[targets[graph.name]] = write_onnx(graph, Path(scratch) / f"{graph.name}.onnx")
        for name, target in artifacts.items():
            staged[target] = Path(shutil.copy(run.file(name), Path(scratch) / name))
        staged[manifest_path] = Path(scratch) / "manifest.json"
        staged[manifest_path].write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        for target, source in staged.items():
            os.replace(source, target)
    return list(staged)


def describe_graph(graph: Graph, file: str) -> dict[str, Any]:
    """A graph's entry in the manifest: file, summary, inputs with dtype and shape (symbolic
    axes by name), output names."""
    inputs = []
    for name, example in graph.inputs.items():
        axes = graph.axes.get(name, {})
        shape = [axes.get(axis, size) for axis, size in enumerate(example.shape)]
        inputs.append(
            {"name": name, "dtype": str(example.dtype).removeprefix("torch."), "shape": shape}
        )
    return {
        "name": graph.name,
        "file": file,
        "summary": graph.summary,
        "inputs": inputs,
        "outputs": list(graph.outputs),
    }
