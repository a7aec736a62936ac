"""Running the application: bind the address first (a port in use is the user's to fix), then
hand the bound socket to uvicorn."""

from __future__ import annotations

import socket
from typing import Any

from rnnkit.errors import UserError, require_extra


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``UserError`` when it cannot be had."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        reason = "is in use" if error.errno in (98, 48) else f"cannot be bound ({error.strerror})"
        raise UserError(
            f"port {port} on {host} {reason}; pass another --port or stop what holds it."
        ) from None
    return sock


def serve(app: Any, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``host:port`` until interrupted."""
    uvicorn = require_extra("uvicorn", "serve", "rnnkit serve")
    sock = bind(host, port)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
