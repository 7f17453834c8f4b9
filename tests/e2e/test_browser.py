"""What people look at, in a real browser (headless Debian Chromium driven by Playwright, loopback only).

The demo runs on two weeks of the sample into a scratch data dir (its own DuckDB file and SQLite Dagster
instance), then `dagster dev` serves that instance: the asset graph is opened, a partition of daily_cost_job is
launched through the webserver's GraphQL API and watched to success, and its run page is opened. The cost report
is opened with the network switched off and its charts checked; the static dbt docs are opened at
cost_summary_daily and its lineage. Screenshots go to test-output/e2e/.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "e2e"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]  # fmt: skip
START, END = date(2026, 10, 2), date(2026, 10, 15)  # the last two weeks of the sample
LAUNCHED_PARTITION = "2026-10-15"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(
            "!!! NO CHROMIUM: the browser tests did not run. Install Debian's chromium (`apt-get install chromium`; "
            ".ci/run does) !!!"
        )
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo on two weeks of the sample, then `dagster dev` on its instance; yields what the tests need."""
    data = tmp_path_factory.mktemp("demo")
    reports_port = free_port()  # where the report link of the UI points, served by the test that opens it
    env = {**os.environ, "COST_PIPELINES_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "COST_PIPELINES_REPORTS_URL": f"http://127.0.0.1:{reports_port}"}  # fmt: skip
    for name in ("COST_PIPELINES_DUCKDB_PATH", "COST_PIPELINES_LLM_LOGS_DIR", "COST_PIPELINES_FOCUS_DIR"):
        env.pop(name, None)
    cli = Path(sys.executable).parent / "cost-pipelines"
    subprocess.run([str(cli), "demo", "--start", START.isoformat(), "--end", END.isoformat()], env=env, check=True,
                   cwd=PROJECT_ROOT, capture_output=True)  # fmt: skip
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    log = (data / "dagster_dev.log").open("w")
    server = subprocess.Popen(
        [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("dagster dev did not come up:\n" + (data / "dagster_dev.log").read_text()[-4000:])
            time.sleep(1)
        yield {"base": base, "data": data, "env": env, "reports_port": reports_port}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = json.loads(answer.read())
    assert "errors" not in payload, payload
    return payload["data"]


def dismiss_welcome(page) -> None:
    """The UI greets a new browser profile with a newsletter dialog; skip it."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:  # no dialog this time
        pass


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status endTime } } }"
ALERT_RUNS = """
query AlertRuns {
  runsOrError(filter: {pipelineName: "alerts_job"}) { ... on Runs { results { runId status startTime } } }
}"""
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def wait_for_alerts_after(base: str, finished_at: float) -> dict:
    """The alerts_job run budget_alert_sensor requests (in the daemon of `dagster dev`) once the launched run has
    materialized budget_status, followed to its end. Until it ends it holds the warehouse, which the later tests
    read."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = graphql(base, ALERT_RUNS)["runsOrError"]["results"]
        later = [r for r in runs if (r["startTime"] or 0) >= finished_at]
        if later and all(r["status"] in FINISHED for r in later):
            return later[0]
        time.sleep(2)
    raise AssertionError(f"no finished alerts_job run after the daily run: {runs}")


def test_asset_graph_and_a_partition_launched_through_the_webserver(demo: dict, browser) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{demo['base']}/asset-groups", wait_until="networkidle")
    dismiss_welcome(page)
    for group in ("ingest", "transform", "analytics", "alerts", "reports"):
        page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "01_asset_graph.png"))
    page.goto(f"{demo['base']}/locations/cost_pipelines/asset-groups/transform", wait_until="networkidle")
    page.get_by_text("cost_summary_daily", exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "01b_transform_group.png"))

    params = {
        "selector": {"repositoryLocationName": "cost_pipelines", "repositoryName": "__repository__",
                     "jobName": "daily_cost_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": LAUNCHED_PARTITION}]},
        "runConfigData": {},
    }  # fmt: skip
    launched = graphql(demo["base"], LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, run = time.monotonic() + 300, {}
    while time.monotonic() < deadline:
        run = graphql(demo["base"], STATUS, {"id": run_id})["runOrError"]
        if run["status"] in FINISHED:
            break
        time.sleep(2)
    assert run["status"] == "SUCCESS", run
    alerts = wait_for_alerts_after(demo["base"], run["endTime"])
    assert alerts["status"] == "SUCCESS", alerts
    page.goto(f"{demo['base']}/runs/{run_id}", wait_until="networkidle")
    dismiss_welcome(page)
    page.get_by_text("Success", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "02_run_succeeded.png"))
    page.goto(f"{demo['base']}/assets/reports/cost_report", wait_until="networkidle")
    page.get_by_text("cost_report", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "03_cost_report_asset.png"))
    page.close()


MATERIALIZATIONS = """
query Partition($path: [String!]!, $partition: String!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { partition metadataEntries {
      label
      ... on TextMetadataEntry { text }
      ... on IntMetadataEntry { intValue }
      ... on UrlMetadataEntry { url }
    } } }
  }
}"""


def _entries(base: str, path: list[str], partition: str) -> dict:
    [event] = graphql(base, MATERIALIZATIONS, {"path": path, "partition": partition})["assetOrError"][
        "assetMaterializations"]  # fmt: skip
    return {e["label"]: e.get("text") or e.get("intValue") or e.get("url") for e in event["metadataEntries"]}


def test_a_partition_shows_its_own_day_and_the_report_link_opens(demo: dict, browser) -> None:
    from cost_pipelines.report.serve import serve_reports

    day = START + (END - START) // 2  # a day of the demo's one-run backfill
    shown = _entries(demo["base"], ["marts", "cost_summary_daily"], day.isoformat())
    with duckdb.connect(str(demo["data"] / "warehouse.duckdb"), read_only=True) as con:
        rows, total = con.execute(
            "SELECT count(*), sum(total_cost_usd) FROM marts.cost_summary_daily WHERE usage_date = ?", [day]
        ).fetchone()
    assert (shown["partition_row_count"], shown["partition_total_cost_usd_exact"]) == (rows, str(total))
    assert shown["partition_total_cost"] == f"${total.quantize(Decimal('0.01')):,}"

    link = _entries(demo["base"], ["reports", "cost_report"], END.isoformat())["report"]
    assert link.startswith(f"http://127.0.0.1:{demo['reports_port']}/")
    server = serve_reports(demo["data"] / "reports", demo["reports_port"])
    try:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{demo['base']}/assets/reports/cost_report", wait_until="networkidle")
        dismiss_welcome(page)
        opener = page.get_by_role("link", name="Open the report").first
        opener.wait_for(timeout=60_000)
        assert opener.get_attribute("href") == link  # the link the asset page shows is the one that is served
        page.goto(link)
        page.wait_for_selector(".js-plotly-plot .main-svg")
        assert page.locator(".js-plotly-plot").count() >= 6
        page.screenshot(path=str(SCREENSHOTS / "03b_report_from_the_ui.png"))
        page.close()
    finally:
        server.shutdown()
        server.server_close()


def test_the_forecast_asset_shows_its_picture(demo: dict, browser) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{demo['base']}/assets/analytics/spend_forecast", wait_until="networkidle")
    dismiss_welcome(page)
    # markdown metadata opens in a dialog from its row of the metadata table
    page.locator("tr", has_text="total_spend_and_forecast").get_by_text("Show Markdown").click()
    picture = page.locator("img[src^='data:image/svg+xml']").first
    picture.wait_for(timeout=60_000)
    picture.scroll_into_view_if_needed()
    assert page.evaluate("(img) => img.complete && img.naturalWidth", picture.element_handle()) > 0
    box = picture.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80, box
    page.screenshot(path=str(SCREENSHOTS / "03d_spend_forecast_picture.png"))
    page.close()


CHECK_STATUSES = """
query CheckStatuses($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
      ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
    } } } } }
  }
}"""


def test_checks_of_the_one_run_backfill_show_their_outcome_per_partition(demo: dict, browser) -> None:
    checks = graphql(demo["base"], CHECK_STATUSES, {"path": ["marts", "fct_costs"]})["assetNodeOrError"][
        "assetChecksOrError"]["checks"]  # fmt: skip
    [reconcile] = [c for c in checks if c["name"] == "fct_costs_reconcile"]
    ranges = reconcile["partitionStatuses"]["ranges"]
    assert [(r["startKey"], r["endKey"], r["status"]) for r in ranges] == [
        (START.isoformat(), END.isoformat(), "SUCCEEDED")
    ], ranges
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{demo['base']}/assets/marts/fct_costs?view=checks", wait_until="networkidle")
    dismiss_welcome(page)
    listed = page.locator("[class*='checkRow']", has_text="fct_costs_reconcile").first
    listed.wait_for(timeout=60_000)
    assert "Succeeded" in listed.inner_text(), listed.inner_text()
    listed.click()
    page.get_by_text("Evaluation result", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "03c_fct_costs_checks.png"))
    detail = page.locator("body").inner_text()
    assert "fct_costs equals its sources exactly" in detail and "Passed" in detail and "Skipped" not in detail
    page.close()


def test_the_cost_report_renders_offline_with_a_legend_entry_per_provider(demo: dict, browser) -> None:
    report = demo["data"] / "reports" / "cost_report.html"
    assert report.exists() and report.stat().st_size < 5_000_000
    with duckdb.connect(str(demo["data"] / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT provider_name FROM marts.fct_costs WHERE usage_date >= ? - INTERVAL 89 DAY", [END]
        ).fetchall()
    providers = {p for (p,) in rows}
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(report.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg")
    charts = page.locator(".js-plotly-plot")
    assert charts.count() >= 6
    for i in range(charts.count()):
        assert charts.nth(i).locator("g.trace path, g.trace .point").count() > 0, f"chart {i} drew nothing"
    legend = set(page.locator("#spend .legendtext").all_text_contents())
    assert providers <= legend, (providers, legend)
    assert {"80% interval", "95% interval", "anomaly"} & legend
    # a filter inside the file changes what its chart shows: one provider (one team), then all of them again
    with duckdb.connect(str(demo["data"] / "warehouse.duckdb"), read_only=True) as con:
        teams = {t for (t,) in con.execute(
            "SELECT DISTINCT coalesce(x_team, '(unallocated)') FROM marts.fct_costs "
            "WHERE usage_date >= ? - INTERVAL 89 DAY",
            [END]).fetchall()}  # fmt: skip
    assert len(teams) >= 2
    for chart, keys, every in (("spend", providers, "every provider"), ("teams", teams, "every team")):
        shown = (f"() => document.getElementById('{chart}').data"
                 ".filter(t => t.visible === undefined || t.visible === true).length")  # fmt: skip
        everything = page.evaluate(shown)
        one = sorted(keys)[0]
        page.locator(f"#{chart} .updatemenu-header-group").click()
        page.locator(f"#{chart} .updatemenu-item-text", has_text=one).first.click()
        page.wait_for_timeout(300)
        assert page.evaluate(shown) == 1 < everything, chart
        names = f"() => document.getElementById('{chart}').data.filter(t => t.visible !== false).map(t => t.name)"
        assert page.evaluate(names) == [one]
        page.locator(f"#{chart} .updatemenu-header-group").click()
        page.locator(f"#{chart} .updatemenu-item-text", has_text=every).first.click()
        page.wait_for_timeout(300)
        assert page.evaluate(shown) == everything
    # every budget's figures can be read: each label lies inside the page and inside its chart, none clipped
    chart = page.locator("#budgets").bounding_box()
    labels = page.locator("#budgets .ytick text")
    assert labels.count() >= 1 and all("projected" in t for t in labels.all_text_contents())
    for i in range(labels.count()):
        box = labels.nth(i).bounding_box()
        assert box is not None and box["width"] > 0, i
        assert chart["x"] <= box["x"] and box["x"] + box["width"] <= chart["x"] + chart["width"], (i, box, chart)
        assert chart["y"] <= box["y"] and box["y"] + box["height"] <= chart["y"] + chart["height"], (i, box, chart)
    assert "Every amount is in US dollars (USD)" in page.locator("header").inner_text()
    # the anomaly card counts what the anomaly table lists
    card = page.locator(".kpi", has_text="Anomalies (90 days)").locator(".value").inner_text()
    assert int(card) == page.locator("#anomalies tbody tr").count()
    assert failed == []
    page.screenshot(path=str(SCREENSHOTS / "04_cost_report.png"), full_page=True)
    context.close()


def test_dbt_docs_show_cost_summary_daily_and_its_lineage(demo: dict, browser) -> None:
    target = demo["data"] / "dbt_docs"
    env = {**demo["env"], "COST_PIPELINES_DUCKDB_PATH": str(demo["data"] / "warehouse.duckdb")}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "docs", "generate", "--static", "--profiles-dir", ".", "--target-path", str(target)],
                   cwd=PROJECT_ROOT / "dbt_project", env=env, check=True, capture_output=True)  # fmt: skip
    context = browser.new_context(offline=True, viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto((target / "static_index.html").as_uri() + "#!/model/model.cost_pipelines.cost_summary_daily")
    page.get_by_text("One row per UTC day", exact=False).first.wait_for(timeout=60_000)
    assert page.get_by_text("cost_summary_daily", exact=False).count() >= 1
    # lineage: the model's parents are listed and the lineage graph opens
    page.get_by_text("Depends On", exact=False).first.wait_for(timeout=30_000)
    assert page.get_by_text("int_llm_requests_summed", exact=False).count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "05_dbt_docs_cost_summary_daily.png"))
    page.locator("[title='View Lineage Graph']").first.click()
    # the lineage graph is drawn by cytoscape on canvases that get a size once it is shown
    page.wait_for_function("Array.from(document.querySelectorAll('canvas')).some(c => c.width > 0 && c.height > 0)",
                           timeout=30_000)  # fmt: skip
    page.wait_for_timeout(1_000)  # let the layout settle before the picture
    page.screenshot(path=str(SCREENSHOTS / "06_dbt_docs_lineage.png"))
    context.close()
