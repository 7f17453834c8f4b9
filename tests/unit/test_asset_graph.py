"""Pins the asset graph (keys, groups, partitioning, checks, jobs) so accidental changes show in review.

Regenerate after an intended change: UPDATE_SNAPSHOTS=1 python -m pytest tests/unit/test_asset_graph.py
"""

import json
import os
from pathlib import Path

import pytest

from cost_pipelines.definitions import defs

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "asset_graph.json"


def describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitioned": type(node.partitions_def).__name__ if node.partitions_def else None,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "has_description": bool(node.description),
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    generic = ("not_null", "unique", "non_negative", "columns_", "accepted_values")
    python_checks = [c for c in checks if not c.split(":")[1].startswith(generic)]
    return {
        "assets": assets,
        "python_and_custom_checks": python_checks,
        "check_count": len(checks),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted(
            f"{s.name} {s.cron_schedule}" for s in (defs.resolve_schedule_def(x.name) for x in defs.schedules or [])
        ),
        "sensors": sorted(
            f"{s.name} -> {', '.join(sorted(j.name for j in s.jobs))}"
            for s in (defs.resolve_sensor_def(x.name) for x in defs.sensors or [])
        ),
    }


def test_asset_graph_matches_snapshot() -> None:
    current = describe_graph()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_is_described_and_grouped() -> None:
    for key, asset in describe_graph()["assets"].items():
        assert asset["has_description"], key
        assert asset["group"] in {"ingest", "transform", "analytics", "alerts", "reports"}, key


def test_no_description_holds_what_the_ui_would_take_for_html() -> None:
    import re

    from cost_pipelines.definitions import defs

    # The UI renders descriptions as Markdown: a bare `<data dir>` would vanish as an unknown tag.
    for spec in defs.resolve_all_asset_specs():
        outside_code = re.sub(r"`[^`]*`", "", spec.description or "")
        assert not re.search(r"<[A-Za-z!/]", outside_code), (spec.key, spec.description)


def test_log_source_kinds_are_selectable_by_configuration(tmp_path: Path) -> None:
    from cost_pipelines.ingest.remote_sources import LiteLlmSpendLogsSource, PostgresTableSource, S3PrefixSource
    from cost_pipelines.ingest.sources import LocalDirectorySource
    from cost_pipelines.resources import LlmLogSourceResource

    assert isinstance(LlmLogSourceResource(root=str(tmp_path)).source(), LocalDirectorySource)
    s3 = LlmLogSourceResource(
        kind="s3", s3_bucket="b", s3_endpoint_url="http://127.0.0.1:9", download_dir=str(tmp_path)
    )
    assert isinstance(s3.source(), S3PrefixSource)
    pg = LlmLogSourceResource(
        kind="postgres", postgres_dsn="host=127.0.0.1 password=s3cret", download_dir=str(tmp_path)
    )
    assert isinstance(pg.source(), PostgresTableSource) and "s3cret" not in pg.source().describe()
    litellm = LlmLogSourceResource(kind="litellm", postgres_dsn="host=127.0.0.1 password=s3cret")
    assert isinstance(litellm.source(), LiteLlmSpendLogsSource) and litellm.source().table == "LiteLLM_SpendLogs"
    assert "s3cret" not in litellm.source().describe()
    with pytest.raises(ValueError, match="local, s3, postgres or litellm"):
        LlmLogSourceResource(kind="ftp").source()


def test_the_daily_schedule_runs_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import dagster as dg

    from cost_pipelines.defs import jobs

    try:
        monkeypatch.delenv(jobs.SCHEDULE_SWITCH, raising=False)
        assert importlib.reload(jobs).daily_cost_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        monkeypatch.setenv(jobs.SCHEDULE_SWITCH, "off")
        assert importlib.reload(jobs).daily_cost_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    finally:
        monkeypatch.undo()
        importlib.reload(jobs)


def test_cost_explorer_groups_as_the_run_says_else_as_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from cost_pipelines.aws.cost_explorer import GROUP_BY_ENV
    from cost_pipelines.defs.aws import CostExplorerConfig, group_by_of

    monkeypatch.delenv(GROUP_BY_ENV, raising=False)
    assert group_by_of(CostExplorerConfig()) == ("SERVICE", "LINKED_ACCOUNT")
    monkeypatch.setenv(GROUP_BY_ENV, "SERVICE, TAG:team")  # what a scheduled run, which has no run config, uses
    assert group_by_of(CostExplorerConfig()) == ("SERVICE", "TAG:team")
    assert group_by_of(CostExplorerConfig(group_by=["COST_CATEGORY:team"])) == ("COST_CATEGORY:team",)
