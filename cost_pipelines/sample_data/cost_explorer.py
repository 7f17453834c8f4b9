"""Recorded Cost Explorer answers for the sample period, so the pipeline runs without AWS credentials.

Built from a real `GetCostAndUsage` response (six months of spend by SERVICE, sample_data/aws_ce): each
service's mean monthly amount, scaled eight times to a mid-size account, spread over days with weekday seasonality,
a mild trend (a steeper one for S3, whose stored data grows) and noise, and split over two linked accounts.
Deterministic per day, paginated a week per page like the real API, with the last two days of the period still
`Estimated`.
"""

import json
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cost_pipelines.sample_data.generate import DEFAULT_END, DEFAULT_START

RECORDING = Path(__file__).resolve().parents[2] / "sample_data" / "aws_ce" / "ce_monthly_by_service_cloudscape.json"
ACCOUNTS = {"111111111111": 0.7, "222222222222": 0.3}  # production, staging
SCALE = 8
PAGE_DAYS = 7
SUPPORTED_GROUPS = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]
# Daily growth of a service's spend (0.2 % for the others): stored data keeps growing, as in most accounts.
GROWTH_PER_DAY = {"Amazon Simple Storage Service": 0.005}
# Services whose amortized cost is below unblended because part of the usage is covered by commitments.
COMMITMENT_COVERED = {"Amazon Elastic Container Service": Decimal("0.85"), "EC2 - Other": Decimal("0.9")}


@cache
def daily_base() -> dict[str, float]:
    months = json.loads(RECORDING.read_text())["ResultsByTime"]
    totals: dict[str, float] = {}
    for month in months:
        for group in month["Groups"]:
            totals[group["Keys"][0]] = totals.get(group["Keys"][0], 0.0) + float(
                group["Metrics"]["UnblendedCost"]["Amount"]
            )
    return {service: SCALE * total / len(months) / 30.4 for service, total in sorted(totals.items()) if total > 0}


def _money(value: float) -> Decimal:
    return Decimal(repr(round(value, 10))).normalize()


def day_groups(day: date, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, day.toordinal(), 99])
    weekday = 0.8 if day.weekday() >= 5 else 1.0
    groups = []
    for service, base in daily_base().items():
        trend = 1 + GROWTH_PER_DAY.get(service, 0.002) * (day - DEFAULT_START).days
        for account, share in ACCOUNTS.items():
            unblended = _money(base * share * weekday * trend * max(0.0, rng.normal(1, 0.06)))
            amortized = (unblended * COMMITMENT_COVERED.get(service, Decimal(1))).quantize(Decimal("1e-10"))
            metrics = {
                "UnblendedCost": unblended,
                "AmortizedCost": amortized,
                "NetUnblendedCost": (unblended * Decimal("0.97")).quantize(Decimal("1e-10")),
                "UsageQuantity": _money(base * share * 40 * rng.uniform(0.9, 1.1)),
            }
            groups.append({"Keys": [service, account],
                           "Metrics": {name: {"Amount": str(v), "Unit": "N/A" if name == "UsageQuantity" else "USD"}
                                       for name, v in metrics.items()}})  # fmt: skip
    return groups


class RecordedCostExplorer:
    """Answers `get_cost_and_usage` for DAILY requests grouped by SERVICE and LINKED_ACCOUNT."""

    def __init__(self, last_day: date = DEFAULT_END, estimated_days: int = 2) -> None:
        self.last_day = last_day
        self.estimated_from = last_day - timedelta(days=estimated_days - 1)
        self.requests = 0

    def get_cost_and_usage(self, **request: Any) -> dict[str, Any]:
        if request.get("Granularity") != "DAILY" or request.get("GroupBy") != SUPPORTED_GROUPS:
            raise ValueError("the recorded sample answers DAILY requests grouped by SERVICE and LINKED_ACCOUNT only")
        self.requests += 1
        start = date.fromisoformat(request.get("NextPageToken") or request["TimePeriod"]["Start"])
        end = date.fromisoformat(request["TimePeriod"]["End"])
        page_end = min(end, start + timedelta(days=PAGE_DAYS))
        periods = []
        day = start
        while day < page_end:
            periods.append({
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": day_groups(day) if day <= self.last_day else [],
                "Estimated": day >= self.estimated_from,
            })  # fmt: skip
            day += timedelta(days=1)
        page: dict[str, Any] = {"GroupDefinitions": SUPPORTED_GROUPS, "ResultsByTime": periods,
                                "DimensionValueAttributes": [], "ResponseMetadata": {"RetryAttempts": 0}}  # fmt: skip
        if page_end < end:
            page["NextPageToken"] = page_end.isoformat()
        return page
