"""Cost Explorer `GetCostAndUsage`, DAILY, as one paginated request sequence per run.

Every request costs money, so a run asks once for its whole date window (not per day or per service) and
follows NextPageToken until done. `End` is exclusive in the API and here.
"""

import os
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

METRICS = ("UnblendedCost", "AmortizedCost", "NetUnblendedCost", "UsageQuantity")
DEFAULT_GROUP_BY = ("SERVICE", "LINKED_ACCOUNT")
GROUP_BY_ENV = "COST_PIPELINES_CE_GROUP_BY"  # comma-separated, for every run without a grouping of its own


def group_by(configured: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """What a run groups Cost Explorer by: its own config, else GROUP_BY_ENV, else by service and account."""
    if configured:
        return tuple(configured)
    from_env = [k.strip() for k in os.environ.get(GROUP_BY_ENV, "").split(",") if k.strip()]
    return tuple(from_env) or DEFAULT_GROUP_BY


RESTATED_DAYS = 3  # Cost Explorer restates recent days: a run re-pulls its partition and the days before it
MAX_PAGES = 10_000  # a bound on the pagination loop; real responses need a handful


class CostExplorerClient(Protocol):
    def get_cost_and_usage(self, **request: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CostExplorerQuery:
    start: date
    end: date  # exclusive
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty Cost Explorer window {self.start}..{self.end} (End is exclusive)")
        if len(self.group_by) > 2:
            raise ValueError(f"Cost Explorer groups by at most two keys, got {list(self.group_by)}")

    def request(self) -> dict[str, Any]:
        return {
            "TimePeriod": {"Start": self.start.isoformat(), "End": self.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": list(METRICS),
            "GroupBy": [group_definition(key) for key in self.group_by],
        }

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def group_definition(key: str) -> dict[str, str]:
    """'SERVICE' → a dimension; 'TAG:team' → a cost allocation tag; 'COST_CATEGORY:x' → a cost category."""
    kind, _, name = key.partition(":")
    if kind in ("TAG", "COST_CATEGORY") and name:
        return {"Type": kind, "Key": name}
    if name:
        raise ValueError(f"unknown Cost Explorer group type in {key!r}")
    return {"Type": "DIMENSION", "Key": key}


@dataclass
class FetchResult:
    pages: list[dict[str, Any]]
    requests: int
    retries: int


def fetch_pages(client: CostExplorerClient, query: CostExplorerQuery) -> FetchResult:
    """Every page of the window, following NextPageToken; retries are botocore's (adaptive mode)."""
    request, pages, retries = query.request(), [], 0
    for _ in range(MAX_PAGES):
        page = client.get_cost_and_usage(**request)
        pages.append(page)
        retries += int(page.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        token = page.get("NextPageToken")
        if not token:
            return FetchResult(pages, len(pages), retries)
        request = {**query.request(), "NextPageToken": token}
    raise RuntimeError(f"Cost Explorer kept returning NextPageToken after {MAX_PAGES} pages")


@dataclass(frozen=True)
class CostRow:
    usage_date: date
    dimension_1: str | None
    value_1: str | None
    dimension_2: str | None
    value_2: str | None
    unblended_cost: Decimal
    amortized_cost: Decimal
    net_unblended_cost: Decimal
    usage_quantity: Decimal
    currency: str
    is_estimated: bool


def _value(key: str, group_type: str) -> str:
    # Tag and cost-category keys come back as "team$search"; an empty value means untagged.
    return key.partition("$")[2] if group_type in ("TAG", "COST_CATEGORY") else key


def _amount(metrics: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(metrics.get(name, {}).get("Amount", "0")))


def _currency(metrics: dict[str, Any]) -> str:
    return next((metrics[m]["Unit"] for m in METRICS[:3] if m in metrics and "Unit" in metrics[m]), "USD")


def parse_pages(pages: list[dict[str, Any]], query: CostExplorerQuery) -> list[CostRow]:
    """One row per day and group. A day without groups is kept as a zero row, so a zero day is not a missing day."""
    definitions = [group_definition(k) for k in query.group_by]
    names = [d["Key"] if d["Type"] == "DIMENSION" else f"{d['Type']}:{d['Key']}" for d in definitions]
    names += [None] * (2 - len(names))
    rows: dict[tuple, CostRow] = {}
    seen_days: dict[date, bool] = {}
    for page in pages:
        for period in page.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"])
            estimated = bool(period.get("Estimated", False))
            seen_days[day] = seen_days.get(day, False) or estimated
            groups = period.get("Groups") or []
            if not groups and not definitions:
                groups = [{"Keys": [], "Metrics": period.get("Total", {})}]
            for group in groups:
                values = [_value(k, d["Type"]) for k, d in zip(group["Keys"], definitions, strict=False)]
                values += [None] * (2 - len(values))
                metrics = group.get("Metrics", {})
                row = CostRow(day, names[0], values[0], names[1], values[1], _amount(metrics, "UnblendedCost"),
                              _amount(metrics, "AmortizedCost"), _amount(metrics, "NetUnblendedCost"),
                              _amount(metrics, "UsageQuantity"), _currency(metrics), estimated)  # fmt: skip
                # A day split over two pages repeats no group; should it ever, the later page wins.
                rows[(day, values[0], values[1])] = row
    for day in query.days():
        if not any(key[0] == day for key in rows):
            zero = Decimal(0)
            rows[(day, None, None)] = CostRow(day, names[0], None, names[1], None, zero, zero, zero, zero, "USD",
                                              seen_days.get(day, False))  # fmt: skip
    return sorted(rows.values(), key=lambda r: (r.usage_date, r.value_1 or "", r.value_2 or ""))
