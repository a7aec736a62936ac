# Two commands work on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/rnnkit demo

# Headless Chromium for the web UI's tests (tests/serve/test_browser.py), from Debian's packages
# when running as root where apt-get exists; if it cannot be installed those tests skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed; the browser tests will skip"; \
	fi

test: setup browser
	$(BIN)/ruff check rnnkit tests benchmarks examples
	$(BIN)/python -m pytest -q -x --durations=15

lint: setup
	$(BIN)/ruff check rnnkit tests benchmarks examples
	$(BIN)/ruff format --check rnnkit tests benchmarks examples

# The speed benchmarks' quick modes on one thread (a few minutes); README "Benchmarks" has the full
# runs and the figures.
bench: setup
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/generation.py --quick
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/generation.py --cells --quick
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/streams.py --quick
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/layers.py --quick --threads 1
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/serve.py --quick
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/decoding.py --quick

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
