"""The whole shipped sample (2026-08-01 to mid-October) through daily_cost_job as one run, as `make demo` does,
into a temporary warehouse; then the analytics are checked against the sample's documented anomaly and against
savings recomputed independently from the raw log files, genai-prices and the recorded Cost Explorer answers, and
the alerts run as the demo runs them."""

import json
import math
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import dagster as dg
import pytest
from genai_prices import Usage, calc_price

from cost_pipelines.alerts.budgets import period_bounds
from cost_pipelines.analytics.recommendations import (
    DEFAULT_BATCH_DISCOUNTS,
    DEFAULT_COMMITMENTS,
    DEFAULT_STORAGE_TIERS,
    RecommendationSettings,
)
from cost_pipelines.definitions import defs
from cost_pipelines.resources import (
    CostExplorerResource,
    FocusExportsResource,
    LlmLogSourceResource,
    NotifierResource,
    WarehouseResource,
)
from cost_pipelines.sample_data.cost_explorer import day_groups
from cost_pipelines.sample_data.focus import write_shifted_sample
from cost_pipelines.sample_data.generate import ANOMALY_DAY, DEFAULT_END, DEFAULT_START, generate
from cost_pipelines.warehouse import connect
from tests.integration.independent_costs import GENAI_PROVIDER, ValidRequest, price, valid_requests

DEFAULTS = RecommendationSettings()
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("full_sample")
    generate(tmp / "logs", DEFAULT_START, DEFAULT_END)
    write_shifted_sample(tmp / "focus", (date(2026, 9, 1) - date(2024, 9, 1)).days)
    resources = {
        "warehouse": WarehouseResource(path=str(tmp / "warehouse.duckdb")),
        "llm_logs": LlmLogSourceResource(root=str(tmp / "logs")),
        "cost_explorer": CostExplorerResource(source="recorded"),
        "focus_exports": FocusExportsResource(root=str(tmp / "focus")),
    }
    tags = {
        "dagster/asset_partition_range_start": DEFAULT_START.isoformat(),
        "dagster/asset_partition_range_end": DEFAULT_END.isoformat(),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_cost_job").execute_in_process(
            instance=instance, tags=tags, resources=resources
        )
    assert result.success
    return tmp


def query(sample: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(sample / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# --- anomalies -------------------------------------------------------------------------------------------------


def test_the_documented_anomaly_is_found_on_its_day_with_its_contributor(sample: Path) -> None:
    found = {
        (dimension, key): json.loads(contributors)
        for dimension, key, contributors in query(
            sample,
            "SELECT dimension, series_key, contributors FROM analytics.cost_anomalies WHERE usage_date = ?",
            [ANOMALY_DAY],
        )
    }
    assert ("total", "all") in found
    # sample_data/README.md: u-07 (team research) ran 150 long claude-opus-4-1 summarizations that day
    assert ["model", "claude-opus-4-1-20250805"] in [c[:2] for c in found[("total", "all")]]
    assert found[("team", "research")][0][:2] in (["user_id", "u-07"], ["model", "claude-opus-4-1-20250805"],
                                                  ["provider", "anthropic"])  # fmt: skip
    assert ["user_id", "u-07"] in [c[:2] for c in found[("team", "research")]]
    assert found[("model", "claude-opus-4-1-20250805")][0][:2] == ["user_id", "u-07"]


def test_no_series_has_more_than_two_other_anomalies_in_the_sample(sample: Path) -> None:
    days = (DEFAULT_END - DEFAULT_START).days + 1
    per_series = query(
        sample,
        "SELECT dimension, series_key, count(*) FROM analytics.cost_anomalies WHERE usage_date <> ? GROUP BY ALL",
        [ANOMALY_DAY],
    )
    assert days >= 75  # two and a half months: enough for each series to show what is normal
    assert max(n for *_, n in per_series) <= 2, per_series


# --- recommendations, recomputed from the raw logs and genai-prices --------------------------------------------


def monthly(amount: Decimal, days: int) -> Decimal:
    return (amount * 365 / (12 * days)).quantize(CENT, rounding=ROUND_HALF_EVEN)


@pytest.fixture(scope="module")
def window_requests(sample: Path) -> dict[tuple[str, str, str], list[ValidRequest]]:
    days = [DEFAULT_END - timedelta(days=i) for i in range(DEFAULTS.lookback_days)]
    grouped: dict[tuple[str, str, str], list[ValidRequest]] = defaultdict(list)
    for day in days:
        for r in valid_requests(sample / "logs", day):
            grouped[(r.task_type or "(none)", r.provider, r.model)].append(r)
    return grouped


def stored_recommendations(sample: Path) -> list[dict]:
    rows = query(
        sample,
        "SELECT kind, provider, service, model, task_type, monthly_savings_usd, window_cost_usd, observed_days, "
        "evidence FROM analytics.recommendations WHERE as_of = ? ORDER BY rank",
        [DEFAULT_END],
    )
    names = ["kind", "provider", "service", "model", "task_type", "monthly", "window_cost", "days", "evidence"]
    return [dict(zip(names, row, strict=True)) | {"evidence": json.loads(row[-1])} for row in rows]


def genai_price(model: str, provider: str, r: ValidRequest, tokens: dict | None = None) -> Decimal:
    usage = Usage(**(tokens or r.tokens))
    return calc_price(usage, model, provider_id=GENAI_PROVIDER.get(provider, provider),
                      genai_request_timestamp=r.at).total_price  # fmt: skip


def independent_llm_saving(rec: dict, requests: list[ValidRequest]) -> tuple[Decimal, Decimal]:
    """(current cost, saving) of a recommendation over its requests, from genai-prices alone."""
    current = sum((price(r.provider, r.model, r.at, r.tokens) for r in requests), Decimal(0))
    if rec["kind"] == "model_switch":
        alternative = rec["evidence"]["alternative_model"]
        return current, current - sum((genai_price(alternative, r.provider, r) for r in requests), Decimal(0))
    if rec["kind"] == "batch_api":
        return current, current * DEFAULT_BATCH_DISCOUNTS[rec["provider"]]
    assert rec["kind"] == "prompt_caching"
    long = [r for r in requests if r.tokens["input_tokens"] >= DEFAULTS.min_cacheable_input_tokens]
    share, written = DEFAULTS.cacheable_share, DEFAULTS.cache_write_share
    assert Decimal(sum(r.tokens["cache_read_tokens"] for r in long)) / sum(r.tokens["input_tokens"] for r in long) < (
        DEFAULTS.max_cache_read_share
    )
    saving = Decimal(0)
    for r in long:
        t = r.tokens
        cacheable = (t["input_tokens"] - t["cache_read_tokens"] - t["cache_write_tokens"]) * share
        cached = t | {
            "cache_read_tokens": t["cache_read_tokens"] + cacheable * (1 - written),
            "cache_write_tokens": t["cache_write_tokens"] + cacheable * written,
        }
        saving += genai_price(r.model, r.provider, r) - genai_price(r.model, r.provider, r, cached)
    return sum((price(r.provider, r.model, r.at, r.tokens) for r in long), Decimal(0)), saving


def test_llm_savings_match_genai_prices_to_the_cent(sample: Path, window_requests: dict) -> None:
    recs = [r for r in stored_recommendations(sample) if r["kind"] in ("model_switch", "batch_api", "prompt_caching")]
    assert {r["kind"] for r in recs} == {"model_switch", "batch_api", "prompt_caching"}
    for rec in recs:
        assert rec["days"] == DEFAULTS.lookback_days
        requests = window_requests[(rec["task_type"], rec["provider"], rec["model"])]
        current, saving = independent_llm_saving(rec, requests)
        assert monthly(saving, rec["days"]) == rec["monthly"], rec
        assert abs(current - rec["window_cost"]) <= Decimal("1e-9") * len(requests), rec


def aws_effective_by_service(days: list[date]) -> dict[str, list[Decimal]]:
    daily: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(days))
    for i, day in enumerate(days):
        for group in day_groups(day):
            daily[group["Keys"][0]][i] += Decimal(group["Metrics"]["AmortizedCost"]["Amount"])
    return daily


def test_aws_savings_match_the_recorded_cost_explorer_answers_to_the_cent(sample: Path) -> None:
    n = DEFAULTS.lookback_days
    window = [DEFAULT_END - timedelta(days=n - 1 - i) for i in range(n)]
    before = [day - timedelta(days=n) for day in window]
    now, then = aws_effective_by_service(window), aws_effective_by_service(before)
    expected = {}
    for service, costs in now.items():
        mean = sum(costs) / n
        cv = math.sqrt(sum((float(c - mean)) ** 2 for c in costs) / n) / float(mean) if mean else math.inf
        if service in DEFAULT_COMMITMENTS and min(costs) > 0 and cv <= DEFAULTS.max_commitment_variation:
            low_day = sorted(costs)[math.ceil(DEFAULTS.commitment_quantile * n) - 1]
            expected[("commitment", service)] = monthly(low_day * DEFAULT_COMMITMENTS[service][1] * n, n)
        growth = (sum(costs) - sum(then[service])) / sum(then[service]) if sum(then[service]) else 0
        if service in DEFAULT_STORAGE_TIERS and growth >= DEFAULTS.min_storage_growth:
            saving = sum(costs) * DEFAULTS.cold_storage_share * DEFAULT_STORAGE_TIERS[service][1]
            expected[("storage_tiering", service)] = monthly(saving, n)
    expected = {k: v for k, v in expected.items() if v >= DEFAULTS.min_monthly_savings}
    stored = {
        (r["kind"], r["service"]): r["monthly"]
        for r in stored_recommendations(sample)
        if r["kind"] in ("commitment", "storage_tiering")
    }
    assert ("storage_tiering", "Amazon Simple Storage Service") in expected
    assert stored == expected


def test_recommendations_are_ranked_by_savings_with_evidence(sample: Path) -> None:
    recs = stored_recommendations(sample)
    savings = [r["monthly"] for r in recs]
    assert savings == sorted(savings, reverse=True) and savings[-1] >= DEFAULTS.min_monthly_savings
    switch = next(r for r in recs if r["kind"] == "model_switch")
    assert {"alternative_model", "requests", "input_tokens", "current_cost_usd", "first_day"} <= set(switch["evidence"])


# --- the daily report ------------------------------------------------------------------------------------------


def test_the_daily_report_of_the_anomaly_day(sample: Path) -> None:
    (total, day_before, week_before, anomalies, markdown), = query(
        sample,
        "SELECT total_usd, day_before_usd, week_before_usd, anomaly_count, markdown FROM analytics.daily_report "
        "WHERE report_date = ?",
        [ANOMALY_DAY],
    )  # fmt: skip
    facts = dict(query(
        sample, "SELECT usage_date, sum(billed_cost) FROM marts.fct_costs WHERE usage_date IN (?, ?, ?) GROUP BY 1",
        [ANOMALY_DAY, ANOMALY_DAY - timedelta(days=1), ANOMALY_DAY - timedelta(days=7)],
    ))  # fmt: skip
    assert (total, day_before, week_before) == (
        facts[ANOMALY_DAY],
        facts[ANOMALY_DAY - timedelta(days=1)],
        facts[ANOMALY_DAY - timedelta(days=7)],
    )
    assert anomalies >= 1 and "u-07" in markdown and "claude-opus-4-1" in markdown
    reports = query(sample, "SELECT count(*), count(*) FILTER (WHERE recommendation_count > 0) FROM "
                            "analytics.daily_report")  # fmt: skip
    assert reports == [((DEFAULT_END - DEFAULT_START).days + 1, 1)]


# --- the alerts, as the demo runs them -------------------------------------------------------------------------


def test_the_demo_alerts_tell_current_periods_through_the_file_channel(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = DEFAULT_END + timedelta(days=1)  # what `cost-pipelines demo` takes as today
    monkeypatch.setenv("COST_PIPELINES_ALERTS_TODAY", today.isoformat())
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(Path(__file__).parents[2] / "budgets.yaml"))
    notifications = tmp_path / "notifications"
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("alerts_job").execute_in_process(
            instance=instance,
            resources={"warehouse": WarehouseResource(path=str(sample / "warehouse.duckdb")),
                       "notifier": NotifierResource(notifications_dir=str(notifications))},
        )  # fmt: skip
    assert result.success
    delivered = query(
        sample,
        """SELECT a.alert_id, a.kind, a.period, a.period_start, n.notification_id FROM alerts.notification_log n
        JOIN alerts.cost_alerts a USING (alert_id) WHERE n.channel = 'file' AND n.status = 'sent'""",
    )
    assert delivered, "the demo delivers at least one message through the channel that needs no setting up"
    for alert_id, kind, period, period_start, notification_id in delivered:
        text = (notifications / f"{notification_id}.txt").read_text()
        assert f"cost-pipelines alerts ack {alert_id}" in text
        if period:  # no alert about a period that ended before today
            assert period_bounds(period, period_start)[1] > today, (kind, period, period_start)
    assert {kind for _, kind, *_ in delivered} >= {"anomaly"}  # the sample's planted anomaly of mid-October
    # Slack, email and webhook are not set up here: their notifications wait, using no attempt
    waiting = query(
        sample, "SELECT DISTINCT channel, status, attempts FROM alerts.notification_log WHERE channel <> 'file'"
    )
    assert waiting and all(status == "not_configured" and attempts == 0 for _, status, attempts in waiting)
