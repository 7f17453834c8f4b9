"""The providers' usage and cost reports pulled over real HTTP from a loopback server replaying recorded pages (two
pages a usage report, one 429 with Retry-After first), saved, ingested by the same run as usage buckets, and
reconciled with what the cost reports billed."""

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cost_pipelines import quality
from cost_pipelines.defs.ingest import llm_prices, llm_requests
from cost_pipelines.defs.provider_usage import provider_usage_pages
from cost_pipelines.ingest.usage_apis import COST_APIS, USAGE_APIS, Puller, UsageApiError
from cost_pipelines.resources import LlmLogSourceResource, ProviderUsageResource, WarehouseResource
from cost_pipelines.warehouse import connect
from tests.conftest import run_dbt_build

DAY = date(2026, 11, 2)
PAGES = Path(__file__).parents[1] / "data" / "usage_apis"
EXPECTED = json.loads((PAGES / "expected_usage.json").read_text())
KEYS = {"openai": "sk-admin-usage-test-0p3n41", "anthropic": "sk-ant-admin01-usage-test-4nthr0p1c"}
EMPTY = {"openai": {"object": "page", "data": [], "has_more": False, "next_page": None},
         "anthropic": {"data": [], "has_more": False, "next_page": None}}  # fmt: skip
RECORDED = {"openai": "usage_completions_page_", "anthropic": "usage_report_messages_page_",
            "openai_costs": "costs_page_", "anthropic_costs": "cost_report_page_"}  # fmt: skip


class RecordedReports:
    """Answers each provider's report path with its recorded pages for DAY (empty pages for other days), after one
    429; keeps every request's query and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.throttled: set[str] = set()

    def handler(self, report: str, provider: str):
        def answer(request: Request) -> Response:
            query = parse_qs(request.query_string.decode())
            self.requests.append((report, query, dict(request.headers)))
            if report == provider and report not in self.throttled:  # the usage reports: once
                self.throttled.add(report)
                return Response("slow down", status=429, headers={"Retry-After": "1"})
            start = (query.get("start_time") or query.get("starting_at"))[0]
            if start not in ("1793577600", "2026-11-02T00:00:00Z"):
                return Response(json.dumps(EMPTY[provider]), content_type="application/json")
            number = 2 if "page" in query else 1
            page = PAGES / report / f"{RECORDED[report]}{number}.json"
            return Response(page.read_bytes(), content_type="application/json")

        return answer


@pytest.fixture
def reports(httpserver: HTTPServer) -> Iterator[RecordedReports]:
    recorded = RecordedReports()
    for api in [*USAGE_APIS.values(), *COST_APIS.values()]:
        httpserver.expect_request(api.path, method="GET").respond_with_handler(recorded.handler(api.name, api.provider))
    yield recorded
    httpserver.clear()


def _resources(tmp_path: Path, httpserver: HTTPServer, **keys: str) -> dict:
    (tmp_path / "logs").mkdir(exist_ok=True)
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "llm_logs": LlmLogSourceResource(root=str(tmp_path / "logs")),
        "provider_usage": ProviderUsageResource(
            openai_admin_key=keys.get("openai", ""), anthropic_admin_key=keys.get("anthropic", ""),
            openai_base_url=httpserver.url_for(""), anthropic_base_url=httpserver.url_for(""),
            pages_root=str(tmp_path / "provider_usage"), trailing_days=1,
        ),
    }  # fmt: skip


def test_the_day_is_pulled_in_pages_through_a_429_and_ingested_as_buckets(
    tmp_path: Path, httpserver: HTTPServer, reports: RecordedReports
) -> None:
    result = dg.materialize(
        [provider_usage_pages, llm_requests, llm_prices], resources=_resources(tmp_path, httpserver, **KEYS),
        partition_key=DAY.isoformat(),
    )  # fmt: skip
    assert result.success
    for provider, key in KEYS.items():
        sent = [(q, h) for p, q, h in reports.requests if p == provider]
        # 429, the trailing day (one empty page), then the day's two pages; the cost report: one page a day
        assert len(sent) == 4 and len([r for r in reports.requests if r[0] == f"{provider}_costs"]) == 2
        starts = [(q.get("start_time") or q.get("starting_at"))[0] for q, _ in sent]
        assert starts[1] < starts[2] == starts[3]
        assert [q.get("page") for q, _ in sent[2:]] == [None, [_cursor(provider)]]
        auth = {"openai": ("Authorization", f"Bearer {key}"), "anthropic": ("X-Api-Key", key)}[provider]
        assert all(h.get(auth[0]) == auth[1] for _, h in sent)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT request_id FROM raw.llm_requests WHERE record_kind = 'usage_bucket'")
               .fetchall()}  # fmt: skip
        quarantined = con.execute("SELECT count(*) FROM raw.llm_requests_quarantine").fetchone()[0]
    assert ids == {e["request_id"] for rows in EXPECTED.values() for e in rows} and quarantined == 0
    # what the cost reports billed against what the price table computed: exact, but for the planted 5 %
    built = run_dbt_build(tmp_path / "warehouse.duckdb", "--select", "+llm_cost_reconciliation")
    assert built.returncode == 0, built.stdout[-3000:]
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        billed = {
            (p, m): (share, unpriced)
            for p, m, share, unpriced in con.execute(
                "SELECT provider, model, drift_share, unpriced_reported_cost_usd FROM marts.llm_cost_reconciliation "
                "WHERE reported_by = 'provider_cost_report'"
            ).fetchall()
        }
        drifts = quality.reported_cost_drift(con, DAY, date(2026, 11, 3))
    # billed 5 % above the list price of the usage: computed / billed - 1 = 1 / 1.05 - 1
    assert billed.pop(("openai", "gpt-4o-mini")) == ((Decimal(1) / Decimal("1.05") - 1).quantize(Decimal("1e-12")), 0)
    assert billed.pop(("openai", "(no model)")) == (None, Decimal("0.02"))  # a tool's calls: listed, not compared
    assert set(billed) == {("openai", "gpt-4o"), ("openai", "gpt-5"), ("openai", "gpt-4.1"), ("openai", "gpt-audio"),
                           ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5")}  # fmt: skip
    assert all(abs(share) < Decimal("1e-9") for share, _ in billed.values()), billed
    assert [d.name for d in quality.drifting(drifts, 0.01)] == ["openai/gpt-4o-mini (provider's bill)"]
    # the key is in no event, no metadata, no saved page
    events = json.dumps([str(e) for e in result.all_events])
    saved = b"".join(p.read_bytes() for p in (tmp_path / "provider_usage").rglob("*") if p.is_file())
    for key in KEYS.values():
        assert key not in events and key.encode() not in saved


def _cursor(provider: str) -> str:
    prefix = "usage_completions_page_" if provider == "openai" else "usage_report_messages_page_"
    return json.loads((PAGES / provider / f"{prefix}1.json").read_text())["next_page"]


def test_a_refused_key_fails_the_pull_naming_the_status_and_never_the_key(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    api = USAGE_APIS["openai"]
    httpserver.expect_request(api.path).respond_with_data("no", status=401)
    with pytest.raises(UsageApiError) as raised:
        Puller(sleep=lambda _: None).pull_day(api, KEYS["openai"], DAY, httpserver.url_for(""))
    assert "HTTP 401" in str(raised.value) and KEYS["openai"] not in str(raised.value)


def test_a_server_that_keeps_failing_is_given_up_on_visibly(tmp_path: Path, httpserver: HTTPServer) -> None:
    api = USAGE_APIS["anthropic"]
    httpserver.expect_request(api.path).respond_with_data("down", status=503)
    waits: list[float] = []
    with pytest.raises(UsageApiError, match="HTTP 503, 4 attempts"):
        Puller(max_attempts=4, sleep=waits.append).pull_day(api, KEYS["anthropic"], DAY, httpserver.url_for(""))
    assert waits == [1.0, 2.0, 4.0]
