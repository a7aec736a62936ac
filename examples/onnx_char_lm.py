"""Sample text from a character language model exported by ``rnnkit export``: onnxruntime and
NumPy only, no torch and no rnnkit.

    rnnkit train lm --data corpus.txt --out runs/chars
    rnnkit export runs/chars --format onnx --output chars.onnx
    python examples/onnx_char_lm.py chars.onnx --prime "def " --length 200 --temperature 0.8

The graph takes ``tokens (B, T)`` and the recurrent state (``h_in``, and ``c_in`` for an LSTM,
each ``(layers, B, H)``) and returns the logits of each next token with the state after the last
one. The prime runs through it in one call; then each sampled character goes back in alone with
the returned state, so a step costs one token's work. The manifest ``chars.json`` beside the
graph names the inputs and their shapes, and ``chars.tokenizer.json`` holds the characters.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime

#: the tokenizer's special tokens come first (padding, unknown, begin, end): never sampled
SPECIAL_TOKENS = 4


class CharModel:
    """An exported character LM: its onnxruntime session, characters and state shapes."""

    def __init__(self, graph_path: str | Path) -> None:
        graph_path = Path(graph_path)
        manifest = json.loads(graph_path.with_suffix(".json").read_text(encoding="utf-8"))
        if manifest["task"] != "lm":
            raise SystemExit(f"{graph_path} is an export of a {manifest['task']} run, not lm")
        tokenizer_file = graph_path.with_name(manifest["artifacts"]["tokenizer.json"])
        tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        if tokenizer["kind"] != "char":
            raise SystemExit(f"this example reads character tokenizers, not {tokenizer['kind']}")
        self.tokens: list[str] = tokenizer["tokens"]
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        graph = manifest["graphs"][0]
        self.state_shapes = {
            entry["name"]: entry["shape"] for entry in graph["inputs"] if entry["name"] != "tokens"
        }
        self.session = onnxruntime.InferenceSession(
            str(graph_path.with_name(graph["file"])), providers=["CPUExecutionProvider"]
        )

    def start_state(self) -> dict[str, np.ndarray]:
        """Zeros for batch 1: ``(layers, 1, H)`` per state input."""
        return {
            name: np.zeros([1 if axis == "batch" else axis for axis in shape], np.float32)
            for name, shape in self.state_shapes.items()
        }

    def step(
        self, ids: list[int], state: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Feed ``ids``; return the logits after the last one ``(V,)`` and the new state."""
        feeds = {"tokens": np.array([ids], dtype=np.int64), **state}
        outputs = ["logits", *(name.replace("_in", "_out") for name in state)]
        logits, *parts = self.session.run(outputs, feeds)
        return logits[0, -1], dict(zip(state, parts, strict=True))

    def encode(self, text: str) -> list[int]:
        unknown = 1
        return [self.ids.get(character, unknown) for character in text]


def sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One id from ``softmax(logits / temperature)``, specials excluded; temperature 0: argmax."""
    logits = logits.astype(np.float64)
    logits[:SPECIAL_TOKENS] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = (logits - logits.max()) / temperature
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum()
    return int(rng.choice(len(probabilities), p=probabilities))


def generate(
    model: CharModel, prime: str, length: int, temperature: float = 1.0, seed: int = 0
) -> Iterator[str]:
    """Yield ``length`` sampled characters continuing ``prime`` (a newline when empty)."""
    rng = np.random.default_rng(seed)
    logits, state = model.step(model.encode(prime or "\n"), model.start_state())
    for produced in range(length):
        token = sample(logits, temperature, rng)
        yield model.tokens[token]
        if produced + 1 < length:
            logits, state = model.step([token], state)


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graph", help="the .onnx file `rnnkit export` wrote for an lm run")
    parser.add_argument("--prime", default="", help="text to continue")
    parser.add_argument("--length", type=int, default=200, help="characters to sample")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 takes the likeliest")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(arguments)
    model = CharModel(args.graph)
    for piece in generate(model, args.prime, args.length, args.temperature, args.seed):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    main()
