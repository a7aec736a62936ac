"""The FastAPI application of ``rnnkit serve``: the task endpoints, the runs, the web UI.

Routes:

- ``GET /`` the web UI (``rnnkit/serve/static``: HTML, JS and CSS, no external resources);
- ``GET /health``; ``GET /openapi.json`` (FastAPI's) and ``GET /docs``, a page in the package
  that lists its endpoints and their bodies (FastAPI's own docs page would fetch Swagger UI from
  a CDN);
- ``GET /v1/runs``: each run's name, task, endpoints and description (``rnnkit info``);
- ``GET /v1/{run}/metrics``: the columns of its ``metrics.csv``, for the loss curves;
- ``GET /v1/{run}/example``: an input to try (from the run's training data, when still there);
- ``POST /v1/{run}/<endpoint>``: the task endpoints (``rnnkit/serve/endpoints.py``).

A ``UserError`` raised by a task becomes a 422 answer with its sentence.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from rnnkit.errors import UserError
from rnnkit.serve.endpoints import ServerState, build_router, jsonable
from rnnkit.serve.limits import BodyLimit, ConcurrencyLimit, Limits
from rnnkit.serve.registry import ServedRun, load_runs

STATIC = Path(__file__).parent / "static"
#: rows of a training file offered as an example series
EXAMPLE_ROWS = 200


def create_app(
    runs: Sequence[str | Path] | dict[str, ServedRun],
    *,
    limits: Limits | None = None,
    batching: bool = True,
    max_batch: int = 16,
    window_ms: float = 5.0,
) -> FastAPI:
    """The application serving ``runs`` (run directories, loaded here, or already loaded);
    ``UserError`` for a directory that is not a usable run."""
    served = runs if isinstance(runs, dict) else load_runs(runs)
    limits = limits or Limits()
    state = ServerState(
        served, limits, batching=batching, max_batch=max_batch, window_s=window_ms / 1000
    )
    app = FastAPI(
        title="rnnkit",
        summary="Trained rnnkit runs over HTTP: one JSON endpoint per task.",
        version=_version(),
        docs_url=None,  # FastAPI's docs page loads Swagger UI from a CDN: ours is in the package
        redoc_url=None,
    )
    app.state.serving = state

    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.get("/health", tags=["server"])
    def health() -> dict[str, Any]:
        """``{"status": "ok", "runs": [names]}``."""
        return {"status": "ok", "runs": list(served)}

    @app.get("/v1/runs", tags=["server"])
    def list_runs() -> list[dict[str, Any]]:
        """Each run: name, task, directory, endpoints, and its description (as `rnnkit info`)."""
        return [
            {
                "name": run.name,
                "task": run.task.name,
                "path": str(run.path),
                "endpoints": list(run.endpoints),
                "description": jsonable(run.description),
                "units": run.loaded.num_units if run.task.name == "lm" else None,
            }
            for run in served.values()
        ]

    @app.get("/v1/{run}/metrics", tags=["server"])
    def metrics(run: str) -> dict[str, Any]:
        """The columns of the run's metrics.csv (``step``, ``train_loss``, ``val_*``...), empty
        values as null."""
        return {"columns": read_metrics(_run(served, run).path / "metrics.csv")}

    @app.get("/v1/{run}/example", tags=["server"])
    def example(run: str) -> dict[str, Any]:
        """An input to try the run on, taken from its training data when that file is still
        there: ``prime`` (lm), ``csv`` (forecast, detect) or ``text`` (the others)."""
        return example_input(_run(served, run))

    app.include_router(build_router(state))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    app.add_middleware(ConcurrencyLimit, max_requests=limits.max_concurrency)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app


def _run(served: dict[str, ServedRun], name: str) -> ServedRun:
    if name not in served:
        raise HTTPException(404, f"no run is named {name!r}; runs: {', '.join(served)}.")
    return served[name]


def _version() -> str:
    from rnnkit import __version__

    return __version__


def read_metrics(path: Path) -> dict[str, list[float | None]]:
    """``metrics.csv`` as columns of numbers (an empty cell: None); {} when there is none."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    columns: dict[str, list[float | None]] = {}
    for name in rows[0].keys() if rows else []:
        columns[name] = [_number(row.get(name)) for row in rows]
    return columns


def _number(text: str | None) -> float | None:
    try:
        return jsonable(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def example_input(run: ServedRun) -> dict[str, Any]:
    """An input to try ``run`` on (see ``GET /v1/{run}/example``); {} when none is at hand."""
    data = run.run.config.get("data", {})
    if run.task.name == "lm":
        return {"prime": data.get("default_prime", "")}
    train = Path(str(data.get("train_file") or run.run.config["options"].get("data") or ""))
    if not train.is_file():
        return {}
    if run.task.name in ("forecast", "detect"):
        lines = train.read_text(encoding="utf-8").splitlines()
        return {"csv": "\n".join([lines[0], *lines[1:][-EXAMPLE_ROWS:]]) + "\n"}
    if run.task.name == "translate":
        first = train.read_text(encoding="utf-8").splitlines()[0]
        return {"text": first.split("\t")[0]}
    return {}
