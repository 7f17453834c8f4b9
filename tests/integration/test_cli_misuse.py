"""A mistake in a `cost-pipelines` command is one line on stderr and exit 2, never a traceback.

Each command runs as a real process of the installed console script, as a person's shell runs it.
"""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cost_pipelines.alerts.outbox import ensure_tables

CLI = str(Path(sys.executable).parent / "cost-pipelines")

MISUSES = {
    "an amount that is no number": (["check-spend", "abc"], "'abc' is not an amount of USD"),
    "a negative amount": (["check-spend", "-5"], "'-5' is not an amount of USD"),
    "NaN": (["check-spend", "NaN"], "'NaN' is not an amount of USD"),
    "infinity": (["check-spend", "Infinity"], "'Infinity' is not an amount of USD"),
    "a day written the European way": (
        ["check-spend", "5", "--as-of", "31/10/2026"],
        "'31/10/2026' is not a day: write it as YYYY-MM-DD",
    ),
    "summary without a warehouse": (["summary"], "no warehouse at"),
    "a summary range of no day": (["summary", "--start", "2026-13-01"], "'2026-13-01' is not a day"),
    "a demo ending before it starts": (["demo", "--start", "2026-10-02", "--end", "2026-10-01"], "is before --start"),
    "a list of no alert": (["alerts", "list", "--limit", "0"], "'0' is not a whole number of 1 or more"),
    "a port that is none": (["ui", "--port", "99999"], "'99999' is not a port"),
    "an unknown command": (["sumary"], "invalid choice: 'sumary'"),
    "an alert that does not exist": (["alerts", "ack", "nope"], "no alert nope"),
    "an alert to show that does not exist": (["alerts", "show", "nope"], "no alert nope"),
    "a resend of nothing named": (["alerts", "resend"], "name one alert id, or --failed"),
}


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """A data directory of its own: no warehouse, unless a test makes one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COST_PIPELINES_")}
    return env | {"COST_PIPELINES_DATA_DIR": str(tmp_path), "COST_PIPELINES_DUCKDB_PATH": str(tmp_path / "w.duckdb")}


@pytest.mark.parametrize("misuse", list(MISUSES))
def test_a_misuse_is_one_line_and_exit_2(environment: dict[str, str], tmp_path: Path, misuse: str) -> None:
    args, says = MISUSES[misuse]
    if args[:2] in (["alerts", "ack"], ["alerts", "show"]):
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            ensure_tables(con)
    done = subprocess.run([CLI, *args], env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and says in done.stderr, done.stderr


def test_a_reader_that_stops_early_ends_the_listing_quietly(environment: dict[str, str], tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_tables(con)
        con.execute(
            """INSERT INTO alerts.cost_alerts (alert_id, alert_key, kind, severity, title, message, channels, details,
                                               created_at)
            SELECT 'a' || i, 'k' || i, 'budget', 'warning', 'budget ' || i || ' has reached 80%', '', '[]', '{}',
                   TIMESTAMPTZ '2026-10-01 00:00:00+00' + i * INTERVAL 1 MINUTE
            FROM range(3000) t(i)"""
        )
    # as `cost-pipelines alerts list --limit 3000 | head -1` does: the reader closes after one line
    with subprocess.Popen(
        [CLI, "alerts", "list", "--limit", "3000"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as listing:
        assert listing.stdout is not None and listing.stderr is not None
        first = listing.stdout.readline()
        listing.stdout.close()
        err = listing.stderr.read().decode()
        code = listing.wait(timeout=120)
    assert b"budget 2999 has reached 80%" in first
    assert code == 0 and err == ""
