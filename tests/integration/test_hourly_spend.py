"""A runaway loop told within the hour: the current day's logs arrive hour by hour, the sensor asks for the
intraday job, and the first hour of one user's spend at 20 times its usual raises one critical alert naming them."""

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from cost_pipelines import settings
from cost_pipelines.definitions import defs
from cost_pipelines.defs.intraday import llm_logs_arrival_sensor
from cost_pipelines.resources import (
    CostExplorerResource,
    FocusExportsResource,
    LlmLogSourceResource,
    NotifierResource,
    WarehouseResource,
)
from cost_pipelines.sample_data.focus import write_shifted_sample
from cost_pipelines.sample_data.generate import _flat, generate, plan_day
from cost_pipelines.warehouse import connect

HISTORY = (date(2026, 9, 28), date(2026, 10, 11))  # two ordinary weeks, stored by the daily job
TODAY = date(2026, 10, 12)  # a Monday, as it arrives
RUNAWAY_HOUR = 14
RUNAWAY_TIMES = 20
BUDGETS = """\
budgets: []
hourly_anomalies:
  notify: [file]
  min_change_usd: 0.10
"""
HOURLY_CONFIG = {"ops": {"analytics__llm_spend_hourly": {"config": {"min_change_usd": 0.10}}}}


def _runaway_user() -> str:
    """The user with the most requests in the runaway hour of the plan: a real user of the sample."""
    counts: dict[str, int] = {}
    for r in plan_day(TODAY):
        if r.occurred_at.hour == RUNAWAY_HOUR:
            counts[r.user_id] = counts.get(r.user_id, 0) + 1
    return max(sorted(counts), key=counts.get)


def write_today(logs: Path, until_hour: int, runaway_from: int | None, user: str) -> int:
    """Today's requests of the hours before `until_hour`, one user's at 20x from `runaway_from` on."""
    lines = []
    for r in plan_day(TODAY):
        if r.occurred_at.hour >= until_hour:
            continue
        record = _flat(r)
        lines.append(record)
        if runaway_from is not None and r.user_id == user and r.occurred_at.hour >= runaway_from:
            lines += [{**record, "request_id": f"{r.request_id}-loop{k}"} for k in range(1, RUNAWAY_TIMES)]
    day_dir = logs / TODAY.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    (day_dir / "requests.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return len(lines)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hourly")
    generate(tmp / "logs", *HISTORY)
    write_shifted_sample(tmp / "focus", (HISTORY[0] - date(2024, 9, 13)).days)
    (tmp / "budgets.yaml").write_text(BUDGETS)
    resources = {
        "warehouse": WarehouseResource(path=str(tmp / "warehouse.duckdb")),
        "llm_logs": LlmLogSourceResource(root=str(tmp / "logs")),
        "cost_explorer": CostExplorerResource(source="recorded"),
        "focus_exports": FocusExportsResource(root=str(tmp / "focus")),
        "notifier": NotifierResource(notifications_dir=str(tmp / "notifications")),
    }
    with pytest.MonkeyPatch.context() as env, dg.DagsterInstance.ephemeral() as instance:
        env.setenv(settings.BUDGETS_ENV, str(tmp / "budgets.yaml"))
        env.setenv(settings.ALERTS_TODAY_ENV, TODAY.isoformat())
        tags = {"dagster/asset_partition_range_start": HISTORY[0].isoformat(),
                "dagster/asset_partition_range_end": HISTORY[1].isoformat()}  # fmt: skip
        daily = defs.resolve_job_def("daily_cost_job")
        assert daily.execute_in_process(instance=instance, tags=tags, resources=resources).success
        yield tmp, instance, resources


def _intraday(instance: dg.DagsterInstance, resources: dict) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("intraday_llm_job")
    return job.execute_in_process(instance=instance, resources=resources, run_config=HOURLY_CONFIG)


def _tick(instance: dg.DagsterInstance, resources: dict, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"llm_logs": resources["llm_logs"]})
    return llm_logs_arrival_sensor(context), context.cursor


def _hourly_alerts(tmp: Path) -> list[tuple]:
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        return con.execute(
            "SELECT severity, title, message, scope FROM alerts.cost_alerts WHERE kind = 'hourly_anomaly'"
        ).fetchall()


def test_a_runaway_user_is_alerted_in_its_first_hour_once_per_episode(stored, monkeypatch) -> None:
    tmp, instance, resources = stored
    monkeypatch.setenv(settings.BUDGETS_ENV, str(tmp / "budgets.yaml"))
    monkeypatch.setenv(settings.ALERTS_TODAY_ENV, TODAY.isoformat())
    user = _runaway_user()
    logs = tmp / "logs"

    # An ordinary morning arrives: the sensor asks for a run, which finds nothing to tell.
    write_today(logs, RUNAWAY_HOUR, None, user)
    requested, cursor = _tick(instance, resources, None)
    assert [r.tags["cost_pipelines/trigger"] for r in requested] == ["logs_arrived"]
    assert isinstance(_tick(instance, resources, cursor)[0], dg.SkipReason)  # nothing new: no second run
    assert _intraday(instance, resources).success
    assert _hourly_alerts(tmp) == []

    # The first hour of the loop arrives: one critical alert naming the user, delivered to the file channel.
    write_today(logs, RUNAWAY_HOUR + 1, RUNAWAY_HOUR, user)
    requested, cursor = _tick(instance, resources, cursor)
    assert len(requested) == 1
    result = _intraday(instance, resources)
    assert result.success
    (alert,) = _hourly_alerts(tmp)
    assert alert[0] == "critical" and alert[3] == f"user={user}"
    assert f"at {TODAY} {RUNAWAY_HOUR}:00 UTC" in alert[1] and user in alert[2]
    sent = list((tmp / "notifications").glob("*"))
    assert len(sent) == 1 and user in sent[0].read_text()
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT hour, dimension, series_key, alarm, folded_into, request_count, actual_usd, expected_usd "
            "FROM analytics.llm_spend_hourly_anomalies ORDER BY hour, dimension"
        ).fetchall()
        requests_in_hour = con.execute(
            "SELECT sum(request_count), sum(total_cost_usd) FROM marts.llm_cost_hourly WHERE user_id = ? "
            "AND usage_hour = ?",
            [user, rows[0][0]],
        ).fetchone()
    alarms = [r for r in rows if r[3] and r[4] is None]
    assert [(r[0].hour, r[1], r[2]) for r in alarms] == [(RUNAWAY_HOUR, "user", user)]
    assert {r[4] for r in rows if r[1] != "user"} <= {f"user={user}"}  # coarser series are part of the user's
    user_row = next(r for r in rows if r[1] == "user")
    assert (user_row[5], user_row[6]) == requests_in_hour  # the exact cost of the hour, not a float
    assert user_row[6] >= 5 * user_row[7]

    # The loop goes on for a second hour: the same episode, no second alert.
    write_today(logs, RUNAWAY_HOUR + 2, RUNAWAY_HOUR, user)
    assert len(_tick(instance, resources, cursor)[0]) == 1
    assert _intraday(instance, resources).success
    assert len(_hourly_alerts(tmp)) == 1
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        later = con.execute(
            "SELECT alarm FROM analytics.llm_spend_hourly_anomalies WHERE dimension = 'user' AND hour = ?",
            [rows[0][0] + timedelta(hours=1)],
        ).fetchall()
    assert later == [(False,)]
