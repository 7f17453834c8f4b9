"""`cost-pipelines check-spend` and `cost-pipelines alerts list|ack` on a temporary warehouse."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cost_pipelines.alerts.budgets import load_budgets
from cost_pipelines.alerts.evaluate import budget_alerts
from cost_pipelines.alerts.outbox import record_alerts
from cost_pipelines.alerts.status import budget_status
from cost_pipelines.cli import REFUSED_EXIT_CODE, main
from tests.budget_facts import create_budget_facts

BUDGETS = """
budgets:
  - {name: team-hard, scope: {team: research}, period: monthly, limit_usd: 100, hard_limit: true, notify: [slack]}
  - {name: everything, period: monthly, limit_usd: 10000}
"""


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_budget_facts(con)
        # the documented case: $90 of a $100 hard-limit monthly budget already spent (and $40 in September)
        con.execute("INSERT INTO marts.fct_costs VALUES ('2026-09-30', 'openai', NULL, 'gpt-4o', 'u-7', 'research', "
                    "NULL, 40), ('2026-10-02', 'openai', NULL, 'gpt-4o', 'u-7', 'research', NULL, 50), "
                    "('2026-10-09', 'anthropic', NULL, 'claude', 'u-7', 'research', NULL, 40)")  # fmt: skip
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    monkeypatch.setenv("COST_PIPELINES_DUCKDB_PATH", str(path))
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    return path


def run_check(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    try:
        main(["check-spend", *args, "--as-of", "2026-10-15"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    code, out, _ = run_check(capsys, *args)
    return code, json.loads(out)


def test_a_hard_limit_refuses_15_and_allows_5_with_a_warning(warehouse: Path, capsys) -> None:
    code, refused = check(capsys, "15", "--team", "research")
    assert code == REFUSED_EXIT_CODE and refused["allowed"] is False
    [violation] = refused["violations"]
    assert violation["budget"] == "team-hard"
    assert (Decimal(violation["spent_usd"]), Decimal(violation["projected_usd"])) == (90, 105)
    code, allowed = check(capsys, "5", "--team", "research", "--user", "u-7")
    assert code == 0 and allowed["allowed"] is True and allowed["violations"] == []
    [warning] = allowed["warnings"]
    assert (warning["budget"], warning["projected_percent"]) == ("team-hard", "95.00")
    # spend outside the hard-limit budget's scope is only measured against the total
    code, other = check(capsys, "15", "--provider", "anthropic")
    assert code == 0 and (other["allowed"], other["violations"], other["warnings"]) == (True, [], [])
    # what was checked, as of when, against data through which day
    assert (other["as_of"], other["last_day_with_data"], other["currency"]) == ("2026-10-15", "2026-10-09", "USD")
    everything = {"budget": "everything", "scope": "total", "period_start": "2026-10-01", "limit_usd": "10000.00",
                  "spent_usd": "90.00", "hard_limit": False}  # fmt: skip
    assert other["budgets_checked"] == [everything]
    _, _, err = run_check(capsys, "15")
    assert "warning: the cost data ends on 2026-10-09, 6 days before 2026-10-15: spend since then is not counted" in err
    assert "check-spend: $15.00 allowed; 1 budget(s) checked as of 2026-10-15" in err


def test_a_missing_budgets_file_exits_2_naming_the_path_and_the_variable(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "budget.yaml"  # a typo of budgets.yaml
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(missing))
    code, out, err = run_check(capsys, "1000000", "--team", "research")
    assert code == 2 and out == ""  # the documented exit code of a configuration error
    assert str(missing) in err and "COST_PIPELINES_BUDGETS" in err and "does not exist" in err


def test_scope_values_never_seen_are_warned_about_with_the_closest_known(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    budgets = tmp_path / "typo.yaml"
    budgets.write_text(BUDGETS.replace("{team: research}", "{team: reserach}"))
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    code, out, err = run_check(capsys, "15", "--team", "research")
    assert code == 0  # the hard limit never applies to a team that has no spend: this is what the warning is for
    assert json.loads(out)["unknown_scope_values"] == [
        {"subject": "budget 'team-hard'", "dimension": "team", "value": "reserach", "closest": ["research"]}
    ]
    assert "warning: budget 'team-hard': team 'reserach' never appears in the cost data (closest: 'research')" in err
    code, out, err = run_check(capsys, "15", "--team", "reserach")  # the spend's own scope, mistyped
    assert [u["subject"] for u in json.loads(out)["unknown_scope_values"]] == ["budget 'team-hard'", "--team"]


def test_alerts_list_and_ack(warehouse: Path, capsys: pytest.CaptureFixture) -> None:
    budgets = load_budgets(Path(str(warehouse.parent / "budgets.yaml")))
    with duckdb.connect(str(warehouse)) as con:
        statuses = budget_status(con, budgets, date(2026, 10, 9))
        [new] = [a for a in record_alerts(con, budget_alerts(statuses), {}, datetime.now(UTC)) if a.threshold == 80]
    main(["alerts", "list"])
    listed = capsys.readouterr().out
    assert new.alert_id in listed and "team-hard has reached 80%" in listed and "slack: pending\n" in listed
    # the period, the spend against the limit, and where it stands with each channel
    assert "budget team-hard (team=research), monthly from 2026-10-01: $90.00 of $100.00 (90.0%)" in listed
    assert listed.index("warning") < listed.index("info")  # most severe first: 80 % before 50 %
    main(["alerts", "show", new.alert_id])
    shown = capsys.readouterr().out
    assert "key budget|team-hard|2026-10-01|80|actual" in shown and "$90.00 spent of $100.00" in shown
    assert "slack: pending to (not configured)" in shown
    main(["alerts", "resend", new.alert_id, "--no-run"])
    assert capsys.readouterr().out == "nothing to resend: its notifications are pending or waiting for their channel\n"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE alerts.notification_log SET status = 'failed', attempts = 5, error = 'HTTP 404' "
                    "WHERE alert_id = ?", [new.alert_id])  # fmt: skip
    main(["alerts", "list"])
    assert "slack: failed, 5 attempts (HTTP 404)" in capsys.readouterr().out
    main(["alerts", "resend", "--failed", "--no-run"])
    assert capsys.readouterr().out == f"{new.alert_id}-slack: failed -> pending\nthe next alerts run sends them\n"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT status, attempts, attempt_base, error FROM alerts.notification_log "
                           "WHERE alert_id = ?", [new.alert_id]).fetchall() == [("pending", 5, 5, None)]  # fmt: skip
    main(["alerts", "ack", new.alert_id, "--by", "oncall"])
    assert f"alert {new.alert_id} acknowledged by oncall" in capsys.readouterr().out
    main(["alerts", "ack", new.alert_id, "--by", "someone-else"])
    assert "acknowledged by oncall" in capsys.readouterr().out  # the first acknowledgement stands
    main(["alerts", "list"])
    assert not any(line.startswith(new.alert_id) for line in capsys.readouterr().out.splitlines())
    main(["alerts", "list", "--all"])
    assert new.alert_id in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["alerts", "ack", "nope"])
    assert exit_.value.code == 2
    assert (
        capsys.readouterr().err == "cost-pipelines alerts ack: no alert nope (see: cost-pipelines alerts list --all)\n"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT spent_usd FROM alerts.cost_alerts WHERE alert_id = ?", [new.alert_id]
        ).fetchall() == [(Decimal("90"),)]
