# Two commands do everything on a fresh machine:
#   make demo   builds the dbt manifest, generates the sample logs and runs the whole daily pipeline
#               over every sample day as one run, on DuckDB + a SQLite Dagster instance.
#   make test   runs the full test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(DATA_DIR)/dagster_home
STAMP := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json

.PHONY: demo test install manifest ui lint bench bench-forecast bench-alerts clean

demo: $(STAMP) manifest
	$(BIN)/cost-pipelines demo

test: $(STAMP) manifest
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The manifest is built here, never lazily at import in production.
manifest: $(STAMP)
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet

ui: $(STAMP) manifest
	$(BIN)/cost-pipelines ui

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP) manifest
	$(BIN)/python bench/ingest_price_summarise.py

# needs the demo's warehouse (make demo)
bench-forecast: $(STAMP)
	$(BIN)/python bench/forecast.py

bench-alerts: $(STAMP) manifest
	$(BIN)/python bench/alerts.py

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
