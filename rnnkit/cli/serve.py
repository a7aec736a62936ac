"""``rnnkit serve``: the runs given over HTTP and the web UI (``rnnkit.serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.errors import require_extra


@app.command()
def serve(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories to serve.", show_default=False)
    ],
    host: Annotated[str, typer.Option(help="Address to listen on (local only by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    batching: Annotated[
        bool, typer.Option(help="Batch concurrent generate/classify/tag requests together.")
    ] = True,
    max_batch: Annotated[int, typer.Option(help="Most requests in one batch.")] = 16,
    window_ms: Annotated[
        float, typer.Option(help="How long a batch waits for more requests (ms).")
    ] = 5.0,
    max_length: Annotated[
        int, typer.Option(help="Most tokens (music: frames) one request generates.")
    ] = 2000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 2_000_000,
    max_concurrency: Annotated[int, typer.Option(help="Most requests in flight at once.")] = 64,
) -> None:
    """Serve runs over HTTP: JSON endpoints per task under /v1/RUN/, docs at /docs, a web UI
    at /."""
    require_extra("fastapi", "serve", "rnnkit serve")
    require_extra("uvicorn", "serve", "rnnkit serve")
    from rnnkit.serve.app import create_app
    from rnnkit.serve.limits import Limits
    from rnnkit.serve.server import bind
    from rnnkit.serve.server import serve as run_server

    bind(host, port).close()  # a port in use fails before the runs are loaded
    limits = Limits(
        max_length=max_length, max_body_bytes=max_body_bytes, max_concurrency=max_concurrency
    )
    application = create_app(
        runs, limits=limits, batching=batching, max_batch=max_batch, window_ms=window_ms
    )
    typer.echo(f"serving {len(runs)} run(s) on http://{host}:{port}/ (API docs at /docs)", err=True)
    run_server(application, host, port)
