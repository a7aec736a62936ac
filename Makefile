# Two commands work on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/rnnkit demo

test: setup
	$(BIN)/ruff check rnnkit tests benchmarks examples
	$(BIN)/python -m pytest -q -x --durations=15

lint: setup
	$(BIN)/ruff check rnnkit tests benchmarks examples
	$(BIN)/ruff format --check rnnkit tests benchmarks examples

bench: setup
	$(BIN)/python benchmarks/layers.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
