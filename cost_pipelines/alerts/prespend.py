"""The pre-spend check (asked before an expensive job): does an estimated cost fit the budgets?"""

from dataclasses import dataclass, field
from decimal import Decimal

from cost_pipelines.alerts.status import BudgetStatus

WARN_AT_PERCENT = Decimal(90)


@dataclass(frozen=True)
class Finding:
    budget: str
    scope: str
    period_start: str
    limit_usd: Decimal
    spent_usd: Decimal
    projected_usd: Decimal
    projected_percent: Decimal
    hard_limit: bool


@dataclass(frozen=True)
class SpendCheck:
    allowed: bool
    violations: list[Finding] = field(default_factory=list)  # hard limits the spend would cross: refused
    warnings: list[Finding] = field(default_factory=list)  # budgets the spend would take past 90 % (or over)


def applies(status: BudgetStatus, scope: dict[str, str]) -> bool:
    """A budget covers the spend when it is the total's or its one scope value matches the spend's."""
    return all(scope.get(key) == value for key, value in status.budget.scope)


def check_spend(
    statuses: list[BudgetStatus], scope: dict[str, str], estimated_usd: Decimal, warn_at: Decimal = WARN_AT_PERCENT
) -> SpendCheck:
    """`scope`: what the spend is attributed to, e.g. {"provider": "anthropic", "user": "u-07", "team": "research"}.

    A hard-limit budget refuses spend that would take it over its limit; any budget the spend would take to
    `warn_at` percent or more gives a warning."""
    if estimated_usd < 0:
        raise ValueError(f"the estimated cost must not be negative, got {estimated_usd}")
    violations, warnings = [], []
    for s in statuses:
        if not applies(s, scope):
            continue
        projected = s.spent + estimated_usd
        percent = projected * 100 / s.budget.limit_usd
        finding = Finding(s.budget.name, s.budget.scope_label, s.period_start.isoformat(), s.budget.limit_usd,
                          s.spent, projected, percent.quantize(Decimal("0.01")), s.budget.hard_limit)  # fmt: skip
        if s.budget.hard_limit and projected > s.budget.limit_usd:
            violations.append(finding)
        elif percent >= warn_at:
            warnings.append(finding)
    return SpendCheck(allowed=not violations, violations=violations, warnings=warnings)
