"""Budget and spend scopes whose value the cost facts have never seen: most likely a typo (`team: reserach`), and
then a budget that never counts a cent. Reported with the closest values that do appear."""

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from cost_pipelines.alerts.budgets import Budget
from cost_pipelines.alerts.status import SCOPE_COLUMNS
from cost_pipelines.warehouse import scalar, table_exists


@dataclass(frozen=True)
class UnknownScopeValue:
    """A scope value that never appears in the cost facts: most likely a typo, and then a budget that never
    counts a cent."""

    subject: str  # what names the value: "budget 'research-weekly'", "--team"
    dimension: str
    value: str
    closest: tuple[str, ...]  # the most similar values seen, best first

    @property
    def message(self) -> str:
        seen = ", ".join(repr(c) for c in self.closest) or "none similar"
        return f"{self.subject}: {self.dimension} {self.value!r} never appears in the cost data (closest: {seen})"


def _scope_values_seen(con: duckdb.DuckDBPyConnection, dimensions: Iterable[str]) -> dict[str, list[str]]:
    """Every value each scope dimension takes in marts.fct_costs, over all days; {} while there are no facts."""
    if not table_exists(con, "marts", "fct_costs") or scalar(con, "SELECT count(*) FROM marts.fct_costs") == 0:
        return {}
    seen = {}
    for key in dict.fromkeys(dimensions):
        column = SCOPE_COLUMNS[key]
        rows = con.execute(f"SELECT DISTINCT {column} FROM marts.fct_costs WHERE {column} IS NOT NULL ORDER BY 1")
        seen[key] = [value for (value,) in rows.fetchall()]
    return seen


def _unknown_scope_value(
    subject: str, dimension: str, value: str, seen: dict[str, list[str]]
) -> UnknownScopeValue | None:
    """None when `value` is among the values seen, or when there are no facts to judge by."""
    if dimension not in seen or value in seen[dimension]:
        return None
    by_lower = {k.lower(): k for k in reversed(seen[dimension])}  # compared ignoring case: `aws` is close to `AWS`
    closest = difflib.get_close_matches(value.lower(), list(by_lower), n=3, cutoff=0.6)
    return UnknownScopeValue(subject, dimension, value, tuple(by_lower[c] for c in closest))


def budget_scopes(budgets: list[Budget]) -> list[tuple[str, str, str]]:
    """(subject, dimension, value) of every scoped budget, for unknown_scope_values."""
    return [(f"budget {b.name!r}", key, value) for b in budgets for key, value in b.scope]


def unknown_scope_values(con: duckdb.DuckDBPyConnection, scopes: list[tuple[str, str, str]]) -> list[UnknownScopeValue]:
    """Each (subject, dimension, value) whose value the cost facts have never seen, with the closest they have."""
    seen = _scope_values_seen(con, [key for _, key, _ in scopes])
    found = (_unknown_scope_value(subject, key, value, seen) for subject, key, value in scopes)
    return [u for u in found if u is not None]
