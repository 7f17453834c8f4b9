"""The dbt project as Dagster assets: staging → intermediate → marts, partitioned by UTC day."""

import importlib.metadata
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer
from packaging import version

from cost_pipelines import settings
from cost_pipelines.aws.cost_explorer import RESTATED_DAYS
from cost_pipelines.defs.metadata import query_markdown
from cost_pipelines.defs.owners import OWNERS_TRANSFORM
from cost_pipelines.defs.partitions import daily_partitions, single_run
from cost_pipelines.money import usd
from cost_pipelines.resources import WarehouseResource


class CostDbtCliResource(DbtCliResource):
    """dbt as a subprocess, without two start-up costs the project does not need (about 4 s a run together):
    `dbt --version` in a second subprocess (the version is the installed dbt-core package's, the same dbt that
    runs) and a dbt adapter built inside the Dagster process (only used to fetch row counts and column metadata
    through dbt; relation_metadata below measures those itself, after dbt has released the DuckDB file)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class CostDbtProjectPreparer(DagsterDbtProjectPreparer):
    """Under `dagster dev`, parse the project with the dbt beside this interpreter (the default looks for `dbt`
    on PATH, which an unactivated virtualenv does not have)."""

    def prepare(self, project: DbtProject) -> None:
        resource = CostDbtCliResource(project_dir=project, dbt_executable=settings.dbt_executable())
        resource.cli(["parse", "--quiet"], target_path=project.target_path).wait()


dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)
# Only `dagster dev` parses on the fly; everywhere else the manifest is built beforehand (`make manifest`).
CostDbtProjectPreparer().prepare_if_dev(dbt_project)


class CostDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transform"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return OWNERS_TRANSFORM

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        layer = dbt_resource_props.get("fqn", ["", ""])[1] if dbt_resource_props["resource_type"] == "model" else "seed"
        return {**super().get_tags(dbt_resource_props), "layer": layer, "domain": "llm"}


translator = CostDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    window = context.partition_time_window
    restated_from = window.start.date() - timedelta(days=RESTATED_DAYS - 1)
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": window.end.date().isoformat(),
        "aws_min_date": restated_from.isoformat(),
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    dagster_dbt_translator=translator,
)
def cost_dbt_models(
    context: dg.AssetExecutionContext, dbt: CostDbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    window = partition_vars(context)
    # dbt opens the same DuckDB file the Python assets wrote; profiles.yml reads its path from the environment.
    # The window travels in the environment too (macros/partition_window.sql): as --vars it would make dbt parse
    # the whole project on every run, while with the same vars and profile dbt reuses the last run's parse, kept in
    # a target directory of this warehouse's own.
    environment = {settings.DUCKDB_PATH_ENV: warehouse.path}
    environment |= {f"COST_PIPELINES_DBT_{name.upper()}": value for name, value in window.items()}
    warehouse.wait_until_free()
    with _environ(environment):
        invocation = dbt.cli(["build"], context=context, target_path=settings.dbt_run_target_path(warehouse.path))
        # Held back until dbt exits: only then can this process open the file to measure what dbt wrote.
        events = list(invocation.stream())
    days = list(context.partition_keys)
    with warehouse.connect(read_only=True) as con:
        for event in events:
            if not (isinstance(event, dg.Output) and "unique_id" in event.metadata):
                yield event
                continue
            node = invocation.manifest["nodes"][event.metadata["unique_id"].value]
            yield event.with_metadata({**event.metadata, **relation_metadata(con, node, window, len(days))})
            if len(days) > 1:
                # One run wrote many days: each partition gets its own day's figures, recorded after the run's.
                key = context.asset_key_for_output(event.output_name)
                for day, figures in day_metadata(con, node, days).items():
                    yield dg.AssetMaterialization(asset_key=key, partition=day, metadata=figures)


MONEY_COLUMNS = ("total_cost_usd", "billed_cost")  # a model's dollar column, the first present


def _money_column(node: Mapping[str, Any]) -> str | None:
    return next((c for c in MONEY_COLUMNS if c in node.get("columns", {})), None)


def _dollars(scope: str, total: Any) -> dict[str, Any]:
    """A dollar total as Dagster shows it, `$1,610.83`, beside the exact amount and a float the UI can plot."""
    return {f"{scope}_total_cost": usd(total), f"{scope}_total_cost_usd": dg.MetadataValue.float(float(total)),
            f"{scope}_total_cost_usd_exact": str(total)}  # fmt: skip


def relation_metadata(con: duckdb.DuckDBPyConnection, node: Mapping[str, Any], window: dict[str, str],
                      days: int = 1) -> dict:  # fmt: skip
    """Row counts, the window's dollar total and a preview of the largest rows of a table dbt just built. A run of
    many days labels its figures as the window's (`window_…`); each day's own are `day_metadata`."""
    relation = f"{node['schema']}.{node['alias']}"
    columns = set(node.get("columns", {}))
    if node.get("config", {}).get("materialized") == "view":
        return {}  # counting a view's rows would run its query over all history (the priced requests: every request)
    metadata: dict[str, Any] = {"dagster/row_count": con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]}
    if "usage_date" not in columns:
        return metadata
    scope = "partition" if days == 1 else "window"
    if days > 1:
        metadata["window"] = f"{window['min_date']} to {window['max_date']} (end exclusive): {days} days in one run"
    in_window = f"usage_date >= DATE '{window['min_date']}' AND usage_date < DATE '{window['max_date']}'"
    metadata[f"{scope}_row_count"] = con.execute(f"SELECT count(*) FROM {relation} WHERE {in_window}").fetchone()[0]
    money = _money_column(node)
    if money is None:
        return metadata
    total = con.execute(f"SELECT COALESCE(sum({money}), 0) FROM {relation} WHERE {in_window}").fetchone()[0]
    metadata |= _dollars(scope, total)
    if "request_count" in columns:
        grain = [c for c in node["columns"] if not c.endswith(("_tokens", "_count", "_usd", "_ms"))]
        metadata["preview"] = dg.MetadataValue.md(
            query_markdown(
                con,
                f"SELECT {', '.join(grain)}, request_count, total_cost_usd FROM {relation} WHERE {in_window} "
                "ORDER BY total_cost_usd DESC LIMIT 10",
            )
        )
    return metadata


def day_metadata(con: duckdb.DuckDBPyConnection, node: Mapping[str, Any], days: list[str]) -> dict[str, dict]:
    """Each day's own rows and dollars of a table dbt just built (one query), for the day's partition."""
    if node.get("config", {}).get("materialized") == "view" or "usage_date" not in node.get("columns", {}):
        return {}
    money = _money_column(node)
    total = f"COALESCE(sum({money}), 0)" if money else "NULL"
    found = {
        day.isoformat(): (rows, cost)
        for day, rows, cost in con.execute(
            f"SELECT usage_date, count(*), {total} FROM {node['schema']}.{node['alias']} "
            "WHERE usage_date BETWEEN ? AND ? GROUP BY usage_date",
            [days[0], days[-1]],
        ).fetchall()
    }
    figures = {}
    for day in days:
        rows, cost = found.get(day, (0, 0 if money else None))
        figures[day] = {"partition_row_count": rows}
        if money:
            figures[day] |= _dollars("partition", cost)
    return figures


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
