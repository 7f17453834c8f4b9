"""Dagster resources: thin configuration wrappers over the pure modules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cost_pipelines import settings, warehouse
from cost_pipelines.ingest.sources import LocalDirectorySource, LogSource


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections are opened per use and closed, so dbt can take the write lock."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path, read_only=read_only) as con:
            yield con


class LlmLogSourceResource(dg.ConfigurableResource):
    """Where LLM request logs are read from. `{date}` in `pattern` is the partition day (YYYY-MM-DD)."""

    root: str
    pattern: str = "{date}/*"

    def source(self) -> LogSource:
        return LocalDirectorySource(Path(self.root), self.pattern)


def _dbt_executable() -> str:
    # The dbt installed beside this interpreter, so an unactivated virtualenv still finds it.
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def default_resources() -> dict[str, object]:
    from dagster_dbt import DbtCliResource

    from cost_pipelines.defs.dbt import dbt_project

    duckdb_path = str(settings.duckdb_path())
    return {
        "warehouse": WarehouseResource(path=duckdb_path),
        "llm_logs": LlmLogSourceResource(root=str(settings.llm_logs_dir())),
        "dbt": DbtCliResource(
            project_dir=dbt_project, profiles_dir=str(settings.DBT_PROJECT_DIR), dbt_executable=_dbt_executable()
        ),
    }
