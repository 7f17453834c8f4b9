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

.PHONY: demo test install manifest ui docs lint bench bench-forecast bench-hourly bench-alerts bench-history clean

demo: $(STAMP) manifest
	$(BIN)/cost-pipelines demo

# Two workers, one test file each at a time: files share fixtures (servers, a warehouse) within themselves.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: $(STAMP) manifest
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The manifest is built here, never lazily at import in production.
# With the warehouse path Dagster uses by default, so its runs can reuse this parse.
manifest: $(STAMP)
	cd dbt_project && COST_PIPELINES_DUCKDB_PATH=$(DATA_DIR)/warehouse.duckdb ../$(BIN)/dbt parse --profiles-dir . --quiet

ui: $(STAMP) manifest
	$(BIN)/cost-pipelines ui

# dbt docs of the demo warehouse (make demo first): generated, then served on http://127.0.0.1:8080
docs: $(STAMP) manifest
	cd dbt_project && ../$(BIN)/dbt docs generate --profiles-dir . --static && ../$(BIN)/dbt docs serve --profiles-dir . --host 127.0.0.1 --port 8080

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP) manifest
	$(BIN)/python bench/ingest_price_summarise.py

# needs the demo's warehouse (make demo)
bench-forecast: $(STAMP)
	$(BIN)/python bench/forecast.py

bench-hourly: $(STAMP)
	$(BIN)/python bench/hourly.py

bench-alerts: $(STAMP) manifest
	$(BIN)/python bench/alerts.py && $(BIN)/python bench/alert_delivery.py

bench-history: $(STAMP) manifest
	$(BIN)/python bench/history.py p2 && $(BIN)/python bench/history.py p3

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
