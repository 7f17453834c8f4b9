"""Cost Explorer over real HTTP: moto's server on loopback, boto3 with endpoint_url, real response bodies."""

import copy
import json
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from cost_pipelines.aws.cost_explorer import METRICS, CostExplorerQuery, fetch_pages, parse_pages
from cost_pipelines.aws.load import replace_window
from cost_pipelines.warehouse import connect

DATA = Path(__file__).resolve().parents[1] / "data" / "aws_ce"
QUERY = CostExplorerQuery(date(2023, 12, 12), date(2024, 1, 11), group_by=("TAG:CreatedBy",))


def real_response(name: str) -> dict:
    """A recorded response with its BlendedCost amounts carried into every metric this project requests."""
    body = json.loads((DATA / name).read_text())
    for period in body["ResultsByTime"]:
        for group in period["Groups"]:
            amount = group["Metrics"].pop("BlendedCost")
            group["Metrics"] = {m: dict(amount) for m in METRICS}
    return body


def paged(body: dict, pages: int) -> list[dict]:
    """Split a response into pages chained by NextPageToken, as Cost Explorer does for long answers."""
    periods = body["ResultsByTime"]
    size = -(-len(periods) // pages)
    chunks = [periods[i : i + size] for i in range(0, len(periods), size)]
    result = []
    for n, chunk in enumerate(chunks):
        page = {"ResultsByTime": chunk, "GroupDefinitions": body["GroupDefinitions"], "DimensionValueAttributes": []}
        if n + 1 < len(chunks):
            page["NextPageToken"] = f"page-{n + 2}"
        result.append(page)
    return result


def ce_client(endpoint: str, max_attempts: int = 5) -> object:
    return boto3.client(
        "ce", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"mode": "adaptive", "max_attempts": max_attempts}),
    )  # fmt: skip


def queue(moto_url: str, pages: list[dict]) -> None:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    response = requests.post(f"{moto_url}/moto-api/static/ce/cost-and-usage-results", json={"results": pages},
                             timeout=10)  # fmt: skip
    assert response.status_code == 201


def test_pagination_assembles_every_group_once_and_keeps_zero_days(moto_url: str, tmp_path: Path) -> None:
    body = real_response("ce_daily_hms-dbmi_byUser.json")
    pages = paged(body, 3)
    assert len(pages) == 3
    queue(moto_url, pages)
    fetched = fetch_pages(ce_client(moto_url), QUERY)
    rows = parse_pages(fetched.pages, QUERY)
    assert fetched.requests == 3
    expected_groups = {(p["TimePeriod"]["Start"], g["Keys"][0].partition("$")[2])
                       for p in body["ResultsByTime"] for g in p["Groups"]}  # fmt: skip
    grouped = [(r.usage_date.isoformat(), r.value_1) for r in rows if r.value_1 is not None]
    assert sorted(grouped) == sorted(expected_groups) and len(grouped) == 14
    # 30 days asked, 30 days answered: days without groups stay as explicit zero rows.
    assert {r.usage_date for r in rows} == set(QUERY.days())
    zero_days = [r for r in rows if r.value_1 is None]
    assert len(zero_days) == 30 - len({d for d, _ in expected_groups})
    assert all(r.unblended_cost == 0 for r in zero_days)
    expected_total = sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for p in body["ResultsByTime"]
                         for g in p["Groups"])  # fmt: skip
    with connect(tmp_path / "w.duckdb") as con:
        replace_window(con, QUERY, rows)
        stored = con.execute("SELECT sum(unblended_cost), count(*) FROM raw.aws_cost_explorer_daily").fetchone()
    assert stored == (expected_total, len(rows))


def test_a_restated_day_replaces_the_estimated_one(moto_url: str, tmp_path: Path) -> None:
    body = real_response("ce_daily_hms-dbmi_byUser.json")
    estimated = copy.deepcopy(body)
    estimated["ResultsByTime"][0]["Estimated"] = True
    restated = copy.deepcopy(body)
    restated["ResultsByTime"][0]["Groups"][0]["Metrics"]["UnblendedCost"]["Amount"] = "5.000000001"
    db = tmp_path / "w.duckdb"
    for version in (estimated, restated):
        queue(moto_url, [version])
        rows = parse_pages(fetch_pages(ce_client(moto_url), QUERY).pages, QUERY)
        with connect(db) as con:
            replace_window(con, QUERY, rows)
    with connect(db, read_only=True) as con:
        first_day = con.execute(
            "SELECT value_1, unblended_cost, is_estimated FROM raw.aws_cost_explorer_daily "
            "WHERE usage_date = DATE '2023-12-12' ORDER BY value_1"
        ).fetchall()
        count = con.execute("SELECT count(*) FROM raw.aws_cost_explorer_daily").fetchone()[0]
    assert first_day[0] == ("user-1", Decimal("5.000000001"), False)
    assert len(first_day) == 3 and count == len(parse_pages([restated], QUERY))


def test_an_answer_with_no_groups_at_all_is_thirty_zero_days(moto_url: str) -> None:
    queue(moto_url, [json.loads((DATA / "ce_daily_hms-dbmi_none.json").read_text())])
    rows = parse_pages(fetch_pages(ce_client(moto_url), QUERY).pages, QUERY)
    assert len(rows) == 30 and all(r.unblended_cost == 0 and r.value_1 is None for r in rows)


class _ThrottleTwice(BaseHTTPRequestHandler):
    """Answers ThrottlingException twice, then a real response page."""

    calls = 0
    body: bytes = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        if type(self).calls <= 2:
            payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            self.send_response(400)
        else:
            payload = self.body
            self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_throttling_is_retried_by_botocore_and_reported() -> None:
    _ThrottleTwice.body = json.dumps(real_response("ce_daily_hms-dbmi_byUser.json")).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ThrottleTwice)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fetched = fetch_pages(ce_client(f"http://127.0.0.1:{server.server_port}"), QUERY)
    finally:
        server.shutdown()
        server.server_close()
    assert _ThrottleTwice.calls == 3
    assert fetched.requests == 1 and fetched.retries == 2
    assert len([r for r in parse_pages(fetched.pages, QUERY) if r.value_1]) == 14


def test_the_asset_succeeds_through_throttling_and_reports_the_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from cost_pipelines.defs.aws import aws_cost_explorer_daily
    from cost_pipelines.resources import CostExplorerResource, WarehouseResource

    days = ["2026-08-01", "2026-08-02", "2026-08-03"]
    periods = [
        {"TimePeriod": {"Start": d, "End": e}, "Total": {}, "Estimated": d == days[-1],
         "Groups": [{"Keys": ["Amazon Simple Storage Service", "111111111111"],
                     "Metrics": {m: {"Amount": "1.25", "Unit": "USD"} for m in METRICS}}]}
        for d, e in zip(days, [*days[1:], "2026-08-04"], strict=True)
    ]  # fmt: skip
    _ThrottleTwice.calls = 0
    _ThrottleTwice.body = json.dumps({"ResultsByTime": periods, "GroupDefinitions": [],
                                      "DimensionValueAttributes": []}).encode()  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ThrottleTwice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    try:
        result = dg.materialize(
            [aws_cost_explorer_daily],
            partition_key="2026-08-03",
            resources={
                "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
                "cost_explorer": CostExplorerResource(
                    source="aws", endpoint_url=f"http://127.0.0.1:{server.server_port}", max_attempts=5
                ),
            },
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.success
    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()]
    metadata = materialization.metadata
    assert metadata["retries"].value == 2 and metadata["requests"].value == 1
    # the partition's own day, and the three days pulled with it (Cost Explorer restates recent days)
    assert metadata["unblended_cost_usd_exact"].value == "1.25" and metadata["unblended_cost"].value == "$1.25"
    assert metadata["pulled_unblended_cost_usd_exact"].value == "3.75"
    assert metadata["pulled"].value == "2026-08-01 .. 2026-08-04 (end exclusive)"
    assert metadata["estimated_days"].value == ["2026-08-03"]
    assert metadata["source"].value == "AWS Cost Explorer"
