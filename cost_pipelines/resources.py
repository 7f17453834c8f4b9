"""Dagster resources: thin configuration wrappers over the pure modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import dagster as dg
import duckdb
from botocore.config import Config

from cost_pipelines import settings, warehouse
from cost_pipelines.alerts.channels import Channel, JsonWebhook, SlackWebhook, SmtpEmail
from cost_pipelines.aws.cost_explorer import CostExplorerClient
from cost_pipelines.ingest.remote_sources import PostgresTableSource, S3PrefixSource
from cost_pipelines.ingest.sources import LocalDirectorySource, LogSource


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections are opened per use and closed, so dbt can take the write lock."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Waits while another process holds the file (COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT), saying so in the
        run's log, then fails naming that process."""
        with warehouse.connect(self.path, read_only=read_only, on_wait=dg.get_dagster_logger().warning) as con:
            yield con

    def wait_until_free(self) -> None:
        """Before a subprocess (dbt) opens the file: it would fail at once on a lock another process holds."""
        warehouse.wait_until_free(self.path, on_wait=dg.get_dagster_logger().warning)


class LlmLogSourceResource(dg.ConfigurableResource):
    """Where LLM request logs are read from; `{date}` in a pattern or prefix is the partition day (YYYY-MM-DD).

    kind "local": files under `root` matching `pattern`. kind "s3": objects under `s3://s3_bucket/s3_prefix`
    (credentials from the standard AWS chain). kind "postgres": a table shaped like seed 002's llm_cost_records
    at `postgres_dsn` (set it from an environment variable: it holds a password).
    """

    kind: str = "local"
    root: str = ""
    pattern: str = "{date}/*"
    s3_bucket: str = ""
    s3_prefix: str = "{date}/"
    s3_endpoint_url: str | None = None
    postgres_dsn: str = ""
    postgres_table: str = "llm_cost_records"
    download_dir: str = ""

    def source(self) -> LogSource:
        downloads = Path(self.download_dir) if self.download_dir else settings.data_dir() / "downloads"
        if self.kind == "local":
            return LocalDirectorySource(Path(self.root), self.pattern)
        if self.kind == "s3":
            client = boto3.client("s3", endpoint_url=self.s3_endpoint_url)
            return S3PrefixSource(client, self.s3_bucket, self.s3_prefix, downloads)
        if self.kind == "postgres":
            return PostgresTableSource(self.postgres_dsn, self.postgres_table, download_dir=downloads)
        raise ValueError(f"LLM log source kind must be local, s3 or postgres, not {self.kind!r}")


class FocusExportsResource(dg.ConfigurableResource):
    """A directory of FOCUS 1.0 exports (CSV or Parquet, any depth); it may not exist yet."""

    root: str

    def path(self) -> Path:
        return Path(self.root)


class CostExplorerResource(dg.ConfigurableResource):
    """AWS Cost Explorer through boto3 (standard credential chain), or the recorded sample when configured so.

    `source`: "aws", "recorded", or "auto" = recorded when no AWS credentials can be found.
    """

    source: str = "auto"
    region_name: str = "us-east-1"
    endpoint_url: str | None = None
    max_attempts: int = 10

    def use_recorded(self) -> bool:
        if self.source not in ("auto", "aws", "recorded"):
            raise ValueError(f"cost explorer source must be auto, aws or recorded, not {self.source!r}")
        if self.source == "auto":
            return self.endpoint_url is None and boto3.Session().get_credentials() is None
        return self.source == "recorded"

    def client(self) -> CostExplorerClient:
        if self.use_recorded():
            from cost_pipelines.sample_data.cost_explorer import RecordedCostExplorer

            return RecordedCostExplorer()
        # Retries (throttling included) are botocore's adaptive mode, never a hand-written loop.
        config = Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts})
        return boto3.client("ce", region_name=self.region_name, endpoint_url=self.endpoint_url, config=config)


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go. Set every field from the environment (`dg.EnvVar`): the Slack webhook URL, the webhook URL
    and signing secret and the SMTP password are secrets, and the UI then shows only the variables' names.

    A channel is configured when its address is set: `slack_webhook_url`; `webhook_url` (signed with
    `webhook_secret` when set); `smtp_host` with `email_from` and `email_to` (comma-separated).
    """

    slack_webhook_url: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_ca_file: str = ""
    email_from: str = ""
    email_to: str = ""
    timeout_seconds: float = 10.0
    dashboard_url: str = ""

    def channels(self) -> dict[str, Channel]:
        link = self.dashboard_url or None
        channels: dict[str, Channel] = {}
        if self.slack_webhook_url:
            channels["slack"] = SlackWebhook(self.slack_webhook_url, link, self.timeout_seconds)
        if self.webhook_url:
            channels["webhook"] = JsonWebhook(self.webhook_url, self.webhook_secret, self.timeout_seconds)
        recipients = tuple(r.strip() for r in self.email_to.split(",") if r.strip())
        if self.smtp_host and self.email_from and recipients:
            channels["email"] = SmtpEmail(
                self.smtp_host, self.smtp_port, self.email_from, recipients, self.smtp_username, self.smtp_password,
                self.smtp_starttls, self.timeout_seconds, link, self.smtp_ca_file or None,
            )  # fmt: skip
        return channels

    def secrets(self) -> list[str]:
        """Values that must never reach a log, a stored error or metadata."""
        return [v for v in (self.slack_webhook_url, self.webhook_url, self.webhook_secret, self.smtp_password) if v]


def _from_env(name: str, default: str | None) -> str | dg.EnvVar | None:
    """A field read from the environment when the variable is set (the UI shows its name, never its value)."""
    return dg.EnvVar(name) if name in os.environ else default


def _from_env_int(name: str, default: int) -> int | dg.EnvVar:
    return dg.EnvVar.int(name) if name in os.environ else default


def default_resources() -> dict[str, object]:

    from cost_pipelines.defs.dbt import CostDbtCliResource, dbt_project

    duckdb_path = str(settings.duckdb_path())
    return {
        "warehouse": WarehouseResource(path=duckdb_path),
        "llm_logs": LlmLogSourceResource(
            kind=_from_env("COST_PIPELINES_LLM_LOGS_KIND", "local"),
            root=str(settings.llm_logs_dir()),
            s3_bucket=_from_env("COST_PIPELINES_LLM_LOGS_S3_BUCKET", ""),
            s3_prefix=_from_env("COST_PIPELINES_LLM_LOGS_S3_PREFIX", "{date}/"),
            postgres_dsn=_from_env("COST_PIPELINES_LLM_LOGS_POSTGRES_DSN", ""),
            postgres_table=_from_env("COST_PIPELINES_LLM_LOGS_POSTGRES_TABLE", "llm_cost_records"),
        ),
        "focus_exports": FocusExportsResource(root=str(settings.focus_exports_dir())),
        "cost_explorer": CostExplorerResource(
            source=_from_env("COST_PIPELINES_CE_SOURCE", "auto"),
            region_name=_from_env("AWS_REGION", "us-east-1"),
            endpoint_url=_from_env("COST_PIPELINES_CE_ENDPOINT_URL", None),
        ),
        "notifier": NotifierResource(
            slack_webhook_url=_from_env("COST_PIPELINES_SLACK_WEBHOOK_URL", ""),
            webhook_url=_from_env("COST_PIPELINES_WEBHOOK_URL", ""),
            webhook_secret=_from_env("COST_PIPELINES_WEBHOOK_SECRET", ""),
            smtp_host=_from_env("COST_PIPELINES_SMTP_HOST", ""),
            smtp_port=_from_env_int("COST_PIPELINES_SMTP_PORT", 587),
            smtp_username=_from_env("COST_PIPELINES_SMTP_USERNAME", ""),
            smtp_password=_from_env("COST_PIPELINES_SMTP_PASSWORD", ""),
            smtp_starttls=os.environ.get("COST_PIPELINES_SMTP_STARTTLS", "true").lower() not in ("0", "false", "no"),
            smtp_ca_file=_from_env("COST_PIPELINES_SMTP_CA_FILE", ""),
            email_from=_from_env("COST_PIPELINES_EMAIL_FROM", ""),
            email_to=_from_env("COST_PIPELINES_EMAIL_TO", ""),
            dashboard_url=_from_env("COST_PIPELINES_DASHBOARD_URL", ""),
        ),
        "dbt": CostDbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(settings.DBT_PROJECT_DIR),
            dbt_executable=settings.dbt_executable(),
        ),
    }
