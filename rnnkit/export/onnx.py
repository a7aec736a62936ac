"""Write a ``Graph`` as an ONNX file with ``torch.onnx.export`` (the dynamo exporter).

The exporter traces the graph's module once with ``torch.export`` under the ``traced`` backend of
the recurrent layers (``rnnkit.export.graph.traced_recurrence``), so the recurrence is one ONNX
``Scan`` over a symbolic number of steps, and the batch and time axes named in ``Graph.axes`` stay
symbolic. It needs the ``export`` extra (onnx, onnxscript; onnxruntime to run the result).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import require_extra
from rnnkit.export.graph import Graph, traced_recurrence

#: the ONNX operator set the graphs are written in
OPSET = 18


def write_onnx(graph: Graph, path: str | Path) -> Path:
    """Export ``graph`` to ``path`` and check the file with ``onnx.checker``; return the path."""
    onnx = require_extra("onnx", "export", "ONNX export")
    require_extra("onnxscript", "export", "ONNX export")
    path = Path(path)
    module = graph.module.eval()
    with (
        traced_recurrence(module),
        torch.no_grad(),
        _quiet(),
    ):
        torch.onnx.export(
            module,
            tuple(graph.inputs.values()),
            str(path),
            dynamo=True,
            input_names=list(graph.inputs),
            output_names=list(graph.outputs),
            dynamic_shapes=dynamic_shapes(graph),
            opset_version=OPSET,
            external_data=False,
            verbose=False,
            optimize=True,
        )
    onnx.checker.check_model(str(path))
    return path


def dynamic_shapes(graph: Graph) -> tuple[dict[int, Any] | None, ...]:
    """``torch.export`` dimensions for each input, in order: one ``Dim`` per distinct name."""
    dims: dict[str, Any] = {}

    def dim(name: str) -> Any:
        base, _, offset = name.partition("+")
        if base not in dims:
            dims[base] = torch.export.Dim(base, min=graph.least.get(base, 0))
        return dims[base] + int(offset) if offset else dims[base]

    shapes = [
        {axis: dim(name) for axis, name in graph.axes[key].items()} if key in graph.axes else None
        for key in graph.inputs
    ]
    # a ``*state`` parameter takes the trailing inputs as one tuple, and so must their shapes;
    # where it takes none (a forecaster without covariates) torch.export sees no tuple at all
    parameters = inspect.signature(graph.module.forward).parameters.values()
    fixed = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)
    if any(p.kind is p.VAR_POSITIONAL for p in parameters) and len(shapes) > fixed:
        return (*shapes[:fixed], tuple(shapes[fixed:]))
    return tuple(shapes)


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines and warnings off stdout (results go there, not logs)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
