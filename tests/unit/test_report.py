"""The cost report's HTML and the Prometheus metrics, from a small warehouse built by hand."""

import json
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cost_pipelines.report.data import load_report_data
from cost_pipelines.report.prometheus import collect, render
from cost_pipelines.report.render import render_report

AS_OF = date(2026, 10, 20)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in ("marts", "intermediate", "analytics"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute(
        "CREATE TABLE marts.fct_costs (usage_date DATE, provider_name VARCHAR, service_name VARCHAR, x_model VARCHAR, "
        "x_team VARCHAR, x_user_id VARCHAR, billed_cost DECIMAL(38, 18), x_source VARCHAR)"
    )
    for i in range(40):
        day = AS_OF - timedelta(days=i)
        con.execute("INSERT INTO marts.fct_costs VALUES (?, 'AWS', 'Amazon EC2', NULL, NULL, NULL, 80.25, "
                    "'cost_explorer'), (?, 'openai', 'LLM API', 'gpt-4o', 'search', 'u-1', 12.5, 'llm_logs'), "
                    "(?, 'anthropic', 'LLM API', 'claude', 'research', 'u-\"2', 7.125, 'llm_logs')",
                    [day, day, day])  # fmt: skip
    con.execute(
        "CREATE TABLE intermediate.int_llm_requests_summed (usage_date DATE, provider VARCHAR, model VARCHAR, "
        "task_type VARCHAR, user_id VARCHAR, status VARCHAR, request_count BIGINT, total_cost_usd DECIMAL(38, 18))"
    )
    con.execute("INSERT INTO intermediate.int_llm_requests_summed VALUES (?, 'openai', 'gpt-4o', 'chat', 'u-1', "
                "'success', 100, 12.5), (?, 'openai', 'gpt-4o', 'chat', 'u-1', 'error', 3, 0.000000000000000001)",
                [AS_OF, AS_OF])  # fmt: skip
    con.execute(
        "CREATE TABLE analytics.spend_forecast (as_of DATE, dimension VARCHAR, series_key VARCHAR, forecast_date DATE, "
        "method VARCHAR, forecast_usd DECIMAL(18, 6), lower_80_usd DECIMAL(18, 6), upper_80_usd DECIMAL(18, 6), "
        "lower_95_usd DECIMAL(18, 6), upper_95_usd DECIMAL(18, 6))"
    )
    for h in range(1, 41):
        con.execute("INSERT INTO analytics.spend_forecast VALUES (?, 'total', 'all', ?, 'ets', 100, 90, 110, 85, 115)",
                    [AS_OF, AS_OF + timedelta(days=h)])  # fmt: skip
    con.execute(
        "CREATE TABLE analytics.budget_status (as_of DATE, budget VARCHAR, scope VARCHAR, period VARCHAR, "
        "period_start DATE, limit_usd DECIMAL(18, 2), spent_usd DECIMAL(38, 18), percent_used DOUBLE, "
        "forecast_p80_usd DECIMAL(18, 6), days_left INTEGER)"
    )
    con.execute("INSERT INTO analytics.budget_status VALUES (?, 'all-monthly', 'total', 'monthly', '2026-10-01', "
                "3000, 1997.5, 66.58, 3100, 11)", [AS_OF])  # fmt: skip
    return con


def _figure(page: str, element_id: str) -> dict:
    """The figure the page draws into the element, as the page holds it."""
    [script] = [s for s in page.split("(function(){var f=") if f'Plotly.newPlot("{element_id}"' in s]
    return json.loads(script[: script.index(f';Plotly.newPlot("{element_id}"')])


def test_the_report_is_one_offline_file_with_every_chart(con: duckdb.DuckDBPyConnection) -> None:
    data = load_report_data(con, AS_OF)
    assert data.month_to_date == Decimal("1997.5")  # 20 days of 99.875, exact
    page = render_report(data, "2026-10-21 06:00 UTC")
    assert len(page.encode()) < 5_000_000
    # nothing is fetched: no external script, stylesheet, image or font
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "@import" not in page and "url(http" not in page
    drawn = re.findall(r'Plotly\.newPlot\("([^"]+)"', page)
    assert drawn[:4] == ["spend", "teams", "burn", "budgets"] and len(drawn) >= 7
    spend = _figure(page, "spend")
    names = [trace.get("name") for trace in spend["data"]]
    assert {"AWS", "openai", "anthropic", "80% interval", "95% interval"} <= set(names)
    assert "$1,997.50" in page  # October to date
    teams = _figure(page, "teams")
    by_team = {trace["name"]: trace for trace in teams["data"]}
    assert list(by_team) == ["research", "search", "(unallocated)"]  # unallocated spend shown, and last
    assert by_team["(unallocated)"]["y"][-1] == 80.25
    menu = [b["label"] for b in teams["layout"]["updatemenus"][0]["buttons"]]
    assert menu == ["every team", "research", "search", "(unallocated)"]


def test_the_report_of_an_empty_warehouse_still_renders(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        page = render_report(load_report_data(con, AS_OF), "now")
    assert "No recommendations" in page and "Plotly.newPlot" in page


def test_prometheus_metrics_parse_with_the_reference_parser(con: duckdb.DuckDBPyConnection) -> None:
    text = render(collect(con, AS_OF))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # counters are exposed as <name>_total in the client's model
    assert {"llm_total_cost_usd", "llm_api_calls", "llm_cost_per_hour_usd", "budget_usage_ratio",
            "cost_billed_usd"} <= set(families)  # fmt: skip
    calls = {tuple(sorted(s.labels.items())): s.value for s in families["llm_api_calls"].samples}
    assert calls[(("model", "gpt-4o"), ("provider", "openai"), ("status", "error"))] == 3
    [ratio] = families["budget_usage_ratio"].samples
    assert ratio.labels == {"budget_type": "monthly", "budget": "all-monthly", "scope": "total"}
    assert ratio.value == pytest.approx(1997.5 / 3000)
    billed = {s.labels["provider"]: s.value for s in families["cost_billed_usd"].samples}
    assert billed["anthropic"] == pytest.approx(7.125 * 40)
    # exact decimal text in the file, never a float rendering
    assert "llm_total_cost_usd{" in text and "12.500000000000000001" in text
    assert 'user_id="u-1"' in text


def test_the_report_link_in_the_ui_opens_the_report_over_loopback(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.error
    import urllib.request

    import dagster as dg

    from cost_pipelines.defs.report import cost_report
    from cost_pipelines.report.serve import serve_reports
    from cost_pipelines.resources import WarehouseResource
    from tests.net import free_port

    con.close()
    port = free_port()
    monkeypatch.setenv("COST_PIPELINES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COST_PIPELINES_REPORTS_URL", f"http://127.0.0.1:{port}")
    result = dg.materialize([cost_report], partition_key=AS_OF.isoformat(),
                            resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))})  # fmt: skip
    link = result.asset_materializations_for_node("reports__cost_report")[0].metadata["report"].value
    assert link == f"http://127.0.0.1:{port}/cost_report_{AS_OF}.html"  # http, which a browser opens from the UI
    server = serve_reports(tmp_path / "data" / "reports", port)
    try:
        with urllib.request.urlopen(link, timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read(2000).lower()
        with pytest.raises(urllib.error.HTTPError) as listing:  # the folder is not browsed
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert listing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_the_forecast_picture_is_an_svg_of_the_spend_and_its_band() -> None:
    import base64
    import xml.etree.ElementTree as ET

    from cost_pipelines.report.svg import BAR, markdown_image, spend_forecast_svg

    history = [(AS_OF - timedelta(days=i), 100.0 + i) for i in range(30, 0, -1)]
    forecast = [(AS_OF + timedelta(days=h), 110.0, 90.0, 130.0) for h in range(14)]
    svg = spend_forecast_svg("Spend & forecast <total>", history, forecast)
    root = ET.fromstring(svg)  # well-formed, the title escaped
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("fill") == BAR and float(r.get("height")) > 10]
    assert len(bars) == len(history)
    [band] = root.iter(f"{ns}polygon")
    assert len(band.get("points").split()) == 2 * len(forecast)
    labels = [t.text for t in root.iter(f"{ns}text")]
    assert "Spend & forecast <total>" in labels and "$150" in labels  # the axis reaches above the 130 band
    image = markdown_image(svg, "spend")
    assert base64.b64decode(image.split("base64,")[1][:-1]).decode() == svg
    # without intervals there is no band, and a day of nothing still draws
    plain = ET.fromstring(spend_forecast_svg("t", [(AS_OF, 0.0)], [(AS_OF + timedelta(days=1), 0.0, None, None)]))
    assert list(plain.iter(f"{ns}polygon")) == []
