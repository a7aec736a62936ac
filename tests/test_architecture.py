"""The layering of docs/ARCHITECTURE.md holds: each package imports only the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnnkit"

#: package -> the rnnkit packages it may import (besides itself); cli may import all
ALLOWED = {
    "errors": set(),
    "openmp": set(),
    "cpu": set(),
    "native": {"cpu", "errors"},
    "cells": {"native", "cpu", "errors"},
    "layers": {"cells", "cpu", "errors"},
    "decoding": {"errors"},
    "data": {"errors"},
    "metrics": {"errors"},
    "reference": {"errors"},
    "models": {"cells", "layers", "decoding", "native", "errors"},
    "viz": {"data", "errors"},
    "training": {"layers", "viz", "cpu", "errors"},
    "tasks": {
        "cells", "layers", "models", "decoding", "data", "metrics", "training", "viz", "errors",
        "cpu",
    },
    # the HTTP layer: above tasks (whose Python API it calls), below cli (`rnnkit serve`)
    "serve": {"tasks", "errors"},
    "export": {"cells", "layers", "models", "tasks", "errors"},
}  # fmt: skip


def imported_packages(path: Path) -> set[str]:
    """The rnnkit packages a module imports (``from rnnkit import x`` counts as package x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "rnnkit":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rnnkit" and len(parts) > 1:
                    found.add(parts[1])
    return found


def modules_of(package: str) -> list[Path]:
    folder = PACKAGE / package
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{package}.py"]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    for module in modules_of(package):
        unexpected = imported_packages(module) - ALLOWED[package] - {package, "__version__"}
        assert not unexpected, f"{module.relative_to(PACKAGE.parent)} imports {sorted(unexpected)}"


def test_the_table_covers_every_package():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")}
    assert packages | modules == set(ALLOWED) | {"cli"}


def test_the_code_cites_no_file_outside_the_repository():
    for path in PACKAGE.rglob("*.py"):
        assert "DESIGN.md" not in path.read_text(encoding="utf-8"), path
