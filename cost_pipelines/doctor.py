"""`cost-pipelines doctor`: is this installation set up to run, and what would its next daily run pull?

Every check reads the configuration the pipeline itself reads (settings, the resources built from the
environment) and names variables, never their values: a webhook URL or a key is reported as set or not set.
A source is reached the way a run reaches it (a directory listed, an S3 prefix listed, a database connected),
with a short timeout, and nothing is written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cost_pipelines import settings

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass(frozen=True)
class Finding:
    area: str
    level: str  # ok | warning | problem
    text: str


def _check(area: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """A check that fails unexpectedly is a problem of its area, told by the exception's type only (its text
    could quote a setting)."""
    try:
        return check()
    except Exception as error:
        return [Finding(area, PROBLEM, f"the check could not run ({type(error).__name__})")]


def _warehouse() -> list[Finding]:
    from cost_pipelines import warehouse

    path = settings.duckdb_path()
    if not path.exists():
        return [Finding("warehouse", WARNING, f"{path} does not exist yet: the first daily run creates it")]
    try:
        with warehouse.connect(path, read_only=True, lock_timeout=0) as con:
            tables = warehouse.existing_tables(con)
            if "marts.fct_costs" not in tables:
                return [Finding("warehouse", WARNING, f"{path}: no costs yet (marts.fct_costs is not built)")]
            first, last, days = con.execute(
                "SELECT min(usage_date), max(usage_date), count(DISTINCT usage_date) FROM marts.fct_costs"
            ).fetchone()
    except warehouse.WarehouseBusy:
        return [Finding("warehouse", WARNING, f"{path} is being written by a run: its contents were not read")]
    if last is None:
        return [Finding("warehouse", WARNING, f"{path}: fct_costs holds no day yet")]
    return [Finding("warehouse", OK, f"{path}: {days} days of costs, {first} to {last}")]


def _start_date(today: date) -> list[Finding]:
    start = settings.partitions_start_date()
    explicit = settings.START_DATE_ENV in os.environ
    findings = [Finding("start date", OK, f"daily partitions start on {start} ({settings.START_DATE_ENV}"
                        + (")" if explicit else ", not set: the sample's first day)"))]  # fmt: skip
    if start > today:
        findings.append(Finding("start date", PROBLEM, f"{start} is after today ({today}): no partition exists yet"))
    elif not explicit and settings.LLM_LOGS_DIR_ENV in os.environ:
        findings.append(Finding("start date", WARNING, f"your own logs are configured but {settings.START_DATE_ENV} "
                                "is not: set it to your first day of data"))  # fmt: skip
    return findings


def _budgets() -> list[Finding]:
    from cost_pipelines.alerts.budgets import BudgetConfigError, load_config

    path = settings.budgets_path()
    try:
        config = load_config(path)
    except BudgetConfigError as error:
        return [Finding("budgets", PROBLEM, str(error))]
    return [Finding("budgets", OK, f"{path}: {len(config.budgets)} budget(s); anomalies to "
                    f"{', '.join(config.anomalies.notify) or 'no channel'}; failed runs to "
                    f"{', '.join(config.run_failures) or 'no channel'}")]  # fmt: skip


def _channels() -> list[Finding]:
    from cost_pipelines.alerts.budgets import CHANNELS
    from cost_pipelines.resources import not_configured_reason, notifier_from_env

    notifier = notifier_from_env().process_config_and_initialize()  # the variables' values, as a run has them
    channels, problems = notifier.channels(), notifier.problems()
    findings = []
    for name in CHANNELS:
        if name in problems:
            findings.append(Finding("channels", PROBLEM, f"{name}: {problems[name]}"))
        elif name in channels:
            findings.append(Finding("channels", OK, f"{name}: configured, to {channels[name].recipient}"))
        else:
            findings.append(Finding("channels", WARNING, not_configured_reason(name).split(";")[0]))
    return findings


def _llm_logs(day: date) -> list[Finding]:
    from cost_pipelines.ingest.sources import LocalDirectorySource

    kind = os.environ.get("COST_PIPELINES_LLM_LOGS_KIND", "local")
    if kind == "local":
        root = settings.llm_logs_dir()
        if not root.is_dir():
            return [Finding("LLM logs", PROBLEM, f"{root} does not exist (COST_PIPELINES_LLM_LOGS_DIR)")]
        source = LocalDirectorySource(root, os.environ.get("COST_PIPELINES_LLM_LOGS_PATTERN", "{date}/*"))
        files = source.files_for(day)
        return [Finding("LLM logs", OK if files else WARNING, f"{source.describe()}: {len(files)} file(s) for {day}")]
    if kind == "s3":
        import boto3

        from cost_pipelines.ingest.sources import for_day

        bucket = os.environ.get("COST_PIPELINES_LLM_LOGS_S3_BUCKET", "")
        prefix = for_day(os.environ.get("COST_PIPELINES_LLM_LOGS_S3_PREFIX", "{date}/"), day)
        if not bucket:
            return [Finding("LLM logs", PROBLEM, "kind s3 but COST_PIPELINES_LLM_LOGS_S3_BUCKET is not set")]
        client = boto3.client("s3", config=_short_timeouts())
        found = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000).get("KeyCount", 0)
        return [Finding("LLM logs", OK if found else WARNING, f"s3://{bucket}/{prefix}: {found} object(s) for {day}")]
    if kind in ("postgres", "litellm"):
        import psycopg2

        if not os.environ.get("COST_PIPELINES_LLM_LOGS_POSTGRES_DSN"):
            return [Finding("LLM logs", PROBLEM, f"kind {kind} but COST_PIPELINES_LLM_LOGS_POSTGRES_DSN is not set")]
        try:
            with psycopg2.connect(os.environ["COST_PIPELINES_LLM_LOGS_POSTGRES_DSN"], connect_timeout=5):
                pass
        except psycopg2.Error as error:
            return [Finding("LLM logs", PROBLEM, f"the {kind} database cannot be reached ({type(error).__name__}; "
                            "check COST_PIPELINES_LLM_LOGS_POSTGRES_DSN)")]  # fmt: skip
        return [Finding("LLM logs", OK, f"{kind}: the database answers (COST_PIPELINES_LLM_LOGS_POSTGRES_DSN)")]
    return [Finding("LLM logs", PROBLEM, f"COST_PIPELINES_LLM_LOGS_KIND is {kind!r}: local, s3, postgres or litellm")]


def _short_timeouts() -> object:
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})


def _cost_explorer() -> list[Finding]:
    import boto3

    from cost_pipelines.aws.cost_explorer import GROUP_BY_ENV, RESTATED_DAYS, group_by

    source = os.environ.get("COST_PIPELINES_CE_SOURCE", "auto")
    credentials = boto3.Session().get_credentials() is not None  # found or not; never printed
    grouping = ", ".join(group_by())
    by = f"grouped by {grouping} ({GROUP_BY_ENV} {'set' if os.environ.get(GROUP_BY_ENV) else 'not set'})"
    if source == "recorded" or (source == "auto" and not credentials):
        why = "COST_PIPELINES_CE_SOURCE=recorded" if source == "recorded" else "no AWS credentials were found"
        return [Finding("Cost Explorer", WARNING if source == "auto" else OK,
                        f"the recorded sample answers ({why}); real AWS spend needs credentials with "
                        "ce:GetCostAndUsage")]  # fmt: skip
    if source not in ("auto", "aws"):
        return [Finding("Cost Explorer", PROBLEM, f"COST_PIPELINES_CE_SOURCE is {source!r}: auto, aws or recorded")]
    if not credentials:
        return [Finding("Cost Explorer", PROBLEM, "COST_PIPELINES_CE_SOURCE=aws but no AWS credentials were found")]
    return [Finding("Cost Explorer", OK, f"AWS credentials found; each daily run asks for {RESTATED_DAYS} days "
                    f"{by}: about one billed request ($0.01) a day, one more per extra page")]  # fmt: skip


def _provider_usage() -> list[Finding]:
    keys = {"OpenAI usage API": "OPENAI_ADMIN_KEY", "Anthropic usage report": "ANTHROPIC_ADMIN_KEY"}
    return [Finding("provider usage", OK if os.environ.get(v) else WARNING,
                    f"{name}: {v} {'set' if os.environ.get(v) else 'not set (not pulled)'}")
            for name, v in keys.items()]  # fmt: skip


def _focus() -> list[Finding]:
    folder = settings.focus_exports_dir()
    if not folder.is_dir():
        return [Finding("FOCUS exports", WARNING, f"{folder} does not exist (COST_PIPELINES_FOCUS_DIR): none read")]
    from cost_pipelines.focus.load import export_files

    files = export_files(folder)  # what the FOCUS ingest itself reads
    return [Finding("FOCUS exports", OK if files else WARNING, f"{folder}: {len(files)} file(s)")]


def diagnose(now: datetime | None = None) -> tuple[date, list[Finding]]:
    """(the day the next scheduled run processes, every finding)."""
    today = (now or datetime.now(UTC)).date()
    day = today - timedelta(days=1)  # the schedule runs each morning for the day that just ended
    findings = []
    for area, check in (
        ("warehouse", _warehouse), ("start date", lambda: _start_date(today)), ("budgets", _budgets),
        ("channels", _channels), ("LLM logs", lambda: _llm_logs(day)), ("Cost Explorer", _cost_explorer),
        ("provider usage", _provider_usage), ("FOCUS exports", _focus),
    ):  # fmt: skip
        findings += _check(area, check)
    return day, findings
