"""``rnnkit serve``: trained runs over HTTP (FastAPI) and a web UI to look at what they do.

The layer sits above ``tasks`` and below ``cli``: its endpoints call each task's Python API,
the same functions as the task's commands, with runs loaded once at start-up.

- ``app.py``: ``create_app(run_dirs)``, the application (runs, metrics, the UI at ``/``);
- ``endpoints.py``: one JSON endpoint per task under ``/v1/{run}/``;
- ``batching.py``: dynamic batching of concurrent requests;
- ``limits.py``: request size, length and concurrency bounds (413, 422, 503);
- ``registry.py``: the run directories, opened and loaded;
- ``schemas.py``: the request bodies; ``server.py``: binding the port and running uvicorn;
- ``static/``: the web UI (HTML, JS, CSS; charts drawn as SVG).

FastAPI and uvicorn are the optional extra ``rnnkit[serve]``: import ``rnnkit.serve.app`` only
once ``require_extra`` has found them.
"""
