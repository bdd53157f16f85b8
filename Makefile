# The two commands of the README. Each works on a fresh clone with Python 3.11+, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest docs bench bench-metrics bench-service bench-report bench-desk clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@ $(STAMP)

## make demo: simulate a ~1M-order market, ingest it into demo/tiyan.duckdb, show the store
demo: $(STAMP)
	$(BIN)/tiyan demo --dir demo

## make test: format check, lint, mypy strict on src/, the whole pytest suite
test: $(DEV)
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

## make docs: regenerate docs/data-model.md and docs/metrics.md from the code
docs: $(STAMP)
	$(BIN)/python -m tiyan.docs

## make bench: simulator and ingest throughput, side by side with DuckDB's bare copy
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## make bench-metrics: the metric catalog (full and next-day runs) vs one hand-written query
bench-metrics: $(STAMP)
	$(BIN)/python benchmarks/metrics_bench.py

## make bench-service: the HTTP service (decisions, events) on DuckDB and PostgreSQL vs /healthz and a bare ingest
bench-service: $(STAMP)
	$(BIN)/python benchmarks/service_bench.py

## make bench-report: the July report of the demo market (figures, HTML, PDF) vs a day's scoring run
bench-report: $(STAMP)
	$(BIN)/python benchmarks/report_bench.py

## make bench-desk: the service desk — requests opened and answered through the API vs one-review event batches, the SLA sweep over 1M requests vs a day's scoring run
bench-desk: $(STAMP)
	$(BIN)/python benchmarks/desk_bench.py

clean:
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
