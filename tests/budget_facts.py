"""The columns of marts.fct_costs that budgets read, for tests that build a small warehouse by hand."""

import duckdb

BUDGET_FACT_COLUMNS = (
    "usage_date DATE, provider_name VARCHAR, service_name VARCHAR, x_model VARCHAR, x_user_id VARCHAR, "
    "x_team VARCHAR, x_project VARCHAR, billed_cost DECIMAL(38, 18)"
)


def create_budget_facts(con: duckdb.DuckDBPyConnection) -> None:
    """An empty marts.fct_costs with the columns budget status filters and sums on."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(f"CREATE TABLE marts.fct_costs ({BUDGET_FACT_COLUMNS})")


# One monthly $100 budget on OpenAI spend, told on every channel: the budgets file of the alert tests.
OPENAI_MONTHLY_BUDGET = """
budgets:
  - name: openai-monthly
    scope: {provider: openai}
    period: monthly
    limit_usd: 100
    thresholds: [50, 80, 95, 100]
    notify: [slack, email, webhook]
"""
