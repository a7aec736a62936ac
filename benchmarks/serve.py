"""``rnnkit serve`` under load: latency and throughput with and without dynamic batching.

Two servers are started in turn as ``rnnkit serve`` subprocesses on 127.0.0.1 (never another
address): one with batching on (``--window-ms``, ``--max-batch``), one with ``--no-batching``,
where each request runs alone on a worker thread. ``--clients`` concurrent clients each send
``--requests`` requests, one after the other, to ``/v1/{run}/generate`` (``--length`` tokens,
sampled) and then to ``/v1/{run}/classify``; every client stops at ``--deadline`` seconds. For
each endpoint and server the table gives p50 and p99 latency, requests per second, and the ratio
of the batched server's throughput to the unbatched one's, measured in the same run.

The runs are made here (1 training step: speed does not depend on what the weights learnt): a
character LSTM of ``--hidden`` units x 2 layers and a text classifier of the same width, unless
``--lm RUN`` / ``--classify RUN`` are given.

Run: ``python benchmarks/serve.py`` (about a minute), ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from rnnkit.serve.server import bind

HOST = "127.0.0.1"
TEXT = "".join(f'line {i}: "quoted (words) here" and more text.\n' for i in range(400))


def make_runs(folder: Path, hidden: int) -> tuple[Path, Path]:
    """A character lm run and a text classify run, one training step each."""
    from typer.testing import CliRunner

    from rnnkit.cli import app

    text = folder / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    reviews = folder / "reviews.csv"
    rows = [("a fine good film indeed", "pos"), ("a bad dull film sadly", "neg")] * 50
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(reviews, index=False)
    common = ["--max-steps", "1", "--progress", "off", "--device", "cpu", "--precision", "fp32"]
    runs = []
    for task, flags in [
        ("lm", ["--data", text, "--hidden", hidden, "--layers", "2", "--bptt", "32"]),
        ("classify", ["--data", reviews, "--hidden", hidden, "--embedding-size", "64"]),
    ]:
        out = folder / task
        args = ["train", task, *map(str, flags), *common, "--out", str(out)]
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            raise SystemExit(f"training the {task} run failed: {result.output}")
        runs.append(out)
    return runs[0], runs[1]


class Server:
    """``rnnkit serve`` in a subprocess on a free local port, until ``stop``."""

    def __init__(self, runs: list[Path], flags: list[str], threads: int) -> None:
        sock = bind(HOST, 0)
        self.port = sock.getsockname()[1]
        sock.close()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        command = [sys.executable, "-m", "rnnkit", "serve", *map(str, runs), "--host", HOST]
        command += ["--port", str(self.port), *flags]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.url = f"http://{HOST}:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped: {self.process.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/health", trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Load:
    """What one endpoint under load gave: latencies (s), failures, and the wall time."""

    latencies: list[float]
    failures: int
    seconds: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def load(url: str, path: str, body_of, clients: int, requests: int, deadline: float) -> Load:
    """``clients`` threads each sending ``requests`` requests one after the other."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = time.monotonic()

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=120.0, trust_env=False) as http:
            for k in range(requests):
                if time.monotonic() - start > deadline:
                    return
                began = time.perf_counter()
                response = http.post(path, json=body_of(number, k))
                took = time.perf_counter() - began
                with lock:
                    if response.status_code == 200:
                        latencies.append(took)
                    else:
                        failures[0] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=deadline + 120)
    return Load(latencies, failures[0], time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=6, help="Requests per client.")
    parser.add_argument("--length", type=int, default=100, help="Tokens per generate request.")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--window-ms", type=float, default=5.0)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="The server's torch threads.")
    parser.add_argument("--deadline", type=float, default=120.0, help="Seconds per load.")
    parser.add_argument("--lm", type=Path, help="An lm run to serve (default: made here).")
    parser.add_argument("--classify", type=Path, help="A classify run (default: made here).")
    parser.add_argument("--quick", action="store_true", help="A smoke run: little load.")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.requests, args.length, args.hidden = 4, 2, 20, 32

    with tempfile.TemporaryDirectory() as folder:
        lm_run, classify_run = (
            (args.lm, args.classify)
            if args.lm and args.classify
            else make_runs(Path(folder), args.hidden)
        )
        lm_name, classify_name = lm_run.resolve().name, classify_run.resolve().name
        endpoints = {
            "generate": (
                f"/v1/{lm_name}/generate",
                lambda n, k: {"prime": "line", "length": args.length, "seed": 1000 * n + k},
            ),
            "classify": (
                f"/v1/{classify_name}/classify",
                lambda n, k: {"texts": [f"a fine good film number {n} {k}"]},
            ),
        }
        servers = {
            "batched": ["--window-ms", str(args.window_ms), "--max-batch", str(args.max_batch)],
            "unbatched": ["--no-batching"],
        }
        results: dict[tuple[str, str], Load] = {}
        for label, flags in servers.items():
            server = Server([lm_run, classify_run], flags, args.threads)
            try:
                for endpoint, (path, body_of) in endpoints.items():
                    results[endpoint, label] = load(
                        server.url, path, body_of, args.clients, args.requests, args.deadline
                    )
            finally:
                server.stop()

    print(
        f"{args.clients} clients x {args.requests} requests on {HOST}; generate: {args.length} "
        f"tokens, 2 x {args.hidden} LSTM; batching window {args.window_ms} ms, max batch "
        f"{args.max_batch}; server torch threads {args.threads}"
    )
    header = f"{'endpoint':<10}{'server':<11}{'ok':>5}{'fail':>5}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'req/s':>9}{'vs unbatched':>14}")
    for endpoint in endpoints:
        base = results[endpoint, "unbatched"].per_second
        for label in servers:
            r = results[endpoint, label]
            print(
                f"{endpoint:<10}{label:<11}{len(r.latencies):>5}{r.failures:>5}"
                f"{1000 * r.percentile(0.5):>9.1f}{1000 * r.percentile(0.99):>9.1f}"
                f"{r.per_second:>9.1f}{r.per_second / base:>13.2f}x"
            )
    if any(r.failures for r in results.values()):
        print("some requests failed", file=sys.stderr)


if __name__ == "__main__":
    main()
