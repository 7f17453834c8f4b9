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
from cost_pipelines.alerts.channels import (
    Channel,
    FileChannel,
    JsonWebhook,
    SlackWebhook,
    SmtpEmail,
    secret_forms,
    smtp_problems,
    url_problem,
)
from cost_pipelines.aws.cost_explorer import CostExplorerClient
from cost_pipelines.ingest.remote_sources import LiteLlmSpendLogsSource, PostgresTableSource, S3PrefixSource
from cost_pipelines.ingest.sources import LocalDirectorySource, LogSource, SavedPagesSource


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
    """Where LLM request logs are read from; `{date}` in a pattern or prefix is the partition day (YYYY-MM-DD),
    `{yyyy}`, `{mm}` and `{dd}` its parts.

    kind "local": files under `root` matching `pattern`. kind "s3": objects under `s3://s3_bucket/s3_prefix`
    (credentials from the standard AWS chain). kind "postgres": a table shaped like the common
    llm_cost_records log table at `postgres_dsn` (set it from an environment variable: it holds a password).
    kind "litellm": LiteLLM proxy's `LiteLLM_SpendLogs` table at `postgres_dsn` (`postgres_table` names it when
    it is not the default).
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
        if self.kind == "litellm":
            table = "LiteLLM_SpendLogs" if self.postgres_table == "llm_cost_records" else self.postgres_table
            return LiteLlmSpendLogsSource(self.postgres_dsn, table, download_dir=downloads)
        raise ValueError(f"LLM log source kind must be local, s3, postgres or litellm, not {self.kind!r}")


class ProviderUsageResource(dg.ConfigurableResource):
    """The providers' own usage reports (OpenAI's organization Usage API, Anthropic's Admin API usage report),
    pulled with an admin key each (set them from the environment: `dg.EnvVar`), saved under `pages_root`. A
    provider without a key is not pulled. `*_base_url` is for a proxy or a test server."""

    openai_admin_key: str = ""
    anthropic_admin_key: str = ""
    openai_base_url: str = ""
    anthropic_base_url: str = ""
    pages_root: str = ""
    trailing_days: int = 2  # the days before the partition pulled again: a provider's report fills in late
    timeout_seconds: float = 30.0

    def configured(self) -> list[str]:
        keys = {"openai": self.openai_admin_key, "anthropic": self.anthropic_admin_key}
        return [name for name, key in keys.items() if key]

    def key(self, provider: str) -> str:
        return {"openai": self.openai_admin_key, "anthropic": self.anthropic_admin_key}[provider]

    def base_url(self, provider: str) -> str | None:
        return {"openai": self.openai_base_url, "anthropic": self.anthropic_base_url}[provider] or None

    def root(self) -> Path:
        return Path(self.pages_root) if self.pages_root else settings.data_dir() / "provider_usage"

    def pages_source(self) -> SavedPagesSource:
        return SavedPagesSource(self.root(), tuple(self.configured()))

    def secrets(self) -> list[str]:
        return [k for k in (self.openai_admin_key, self.anthropic_admin_key) if k]


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


# The environment variable each notifier setting is read from; errors name these, never the values.
NOTIFIER_VARIABLES = {
    "slack_webhook_url": "COST_PIPELINES_SLACK_WEBHOOK_URL",
    "webhook_url": "COST_PIPELINES_WEBHOOK_URL",
    "webhook_secret": "COST_PIPELINES_WEBHOOK_SECRET",
    "smtp_host": "COST_PIPELINES_SMTP_HOST",
    "smtp_port": "COST_PIPELINES_SMTP_PORT",
    "smtp_username": "COST_PIPELINES_SMTP_USERNAME",
    "smtp_password": "COST_PIPELINES_SMTP_PASSWORD",
    "smtp_ca_file": "COST_PIPELINES_SMTP_CA_FILE",
    "email_from": "COST_PIPELINES_EMAIL_FROM",
    "email_to": "COST_PIPELINES_EMAIL_TO",
    "dashboard_url": "COST_PIPELINES_DASHBOARD_URL",
    "timeout_seconds": "COST_PIPELINES_NOTIFY_TIMEOUT_SECONDS",
    "notifications_dir": settings.NOTIFICATIONS_DIR_ENV,
}
SMTP_VARIABLES = {"host": NOTIFIER_VARIABLES["smtp_host"], "port": NOTIFIER_VARIABLES["smtp_port"],
                  "sender": NOTIFIER_VARIABLES["email_from"], "recipients": NOTIFIER_VARIABLES["email_to"],
                  "ca_file": NOTIFIER_VARIABLES["smtp_ca_file"]}  # fmt: skip


# The variables that give each channel its address: a channel is configured when any of them is set.
CHANNEL_ADDRESS_VARIABLES = {
    "slack": (NOTIFIER_VARIABLES["slack_webhook_url"],),
    "webhook": (NOTIFIER_VARIABLES["webhook_url"],),
    "email": (NOTIFIER_VARIABLES["smtp_host"], NOTIFIER_VARIABLES["email_from"], NOTIFIER_VARIABLES["email_to"]),
}


def channels_set_in_environment() -> set[str]:
    """The channels whose address this process's environment sets (what a sensor can see without the resource);
    the file channel needs nothing set."""
    return {"file"} | {c for c, names in CHANNEL_ADDRESS_VARIABLES.items() if any(os.environ.get(n) for n in names)}


def not_configured_reason(channel: str) -> str:
    """Why a notification of an unconfigured channel waits, naming what to set (never a value)."""
    names = CHANNEL_ADDRESS_VARIABLES[channel]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{channel} is not configured: set {what}; it is delivered by the next alerts run after that"


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go. Set every field from the environment (`dg.EnvVar`): the Slack webhook URL, the webhook URL
    and signing secret and the SMTP password are secrets, and the UI then shows only the variables' names.

    A channel is configured when its address is set: `slack_webhook_url`; `webhook_url` (signed with
    `webhook_secret` when set); `smtp_host`, `email_from` or `email_to` (comma-separated). The file channel always
    is: a text file per notification in `notifications_dir` (default `<data dir>/notifications`). A channel whose
    settings are unusable (a URL without https://, email without recipients, ...) is left out of `channels()` and
    named in `problems()`, so the other channels still deliver.
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
    notifications_dir: str = ""

    def _recipients(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.email_to.split(",") if r.strip())

    def problems(self) -> dict[str, str]:
        """Channel -> why it cannot be used, naming the environment variables and never their values."""
        problems = {}
        for channel, name in (("slack", "slack_webhook_url"), ("webhook", "webhook_url")):
            value = getattr(self, name)
            if value and (problem := url_problem(value, NOTIFIER_VARIABLES[name])):
                problems[channel] = problem
        if self.smtp_host or self.email_from or self.email_to:
            email = smtp_problems(self.smtp_host, self.smtp_port, self.email_from, self._recipients(),
                                  self.smtp_ca_file, SMTP_VARIABLES)  # fmt: skip
            if email:
                problems["email"] = "; ".join(email)
        return problems

    def channels(self) -> dict[str, Channel]:
        """The configured channels whose settings are usable."""
        link = self.dashboard_url or None
        problems = self.problems()
        timeout = self.timeout_seconds if self.timeout_seconds > 0 else 10.0
        channels: dict[str, Channel] = {
            "file": FileChannel(
                Path(self.notifications_dir).resolve() if self.notifications_dir else settings.notifications_dir(), link
            )
        }
        if self.slack_webhook_url and "slack" not in problems:
            channels["slack"] = SlackWebhook(self.slack_webhook_url.strip(), link, timeout)
        if self.webhook_url and "webhook" not in problems:
            channels["webhook"] = JsonWebhook(self.webhook_url.strip(), self.webhook_secret, timeout)
        if self.smtp_host and "email" not in problems:
            channels["email"] = SmtpEmail(
                self.smtp_host, self.smtp_port, self.email_from, self._recipients(), self.smtp_username,
                self.smtp_password, self.smtp_starttls, timeout, link, self.smtp_ca_file or None,
            )  # fmt: skip
        return channels

    def secrets(self) -> list[str]:
        """Values that must never reach a log, a stored error or metadata."""
        urls = [form for url in (self.slack_webhook_url, self.webhook_url) if url for form in secret_forms(url)]
        return urls + [v for v in (self.webhook_secret, self.smtp_password) if v]


def _from_env(name: str, default: str | None) -> str | dg.EnvVar | None:
    """A field read from the environment when the variable is set (the UI shows its name, never its value)."""
    return dg.EnvVar(name) if name in os.environ else default


def _from_env_int(name: str, default: int) -> int | dg.EnvVar:
    """A number read from the environment; one that is not a number becomes 0, which the setting's own check names
    (a run that could not even start would keep every channel from delivering)."""
    if name not in os.environ:
        return default
    return dg.EnvVar.int(name) if os.environ[name].strip().isdigit() else 0


def _from_env_seconds(name: str, default: float) -> float:
    try:
        seconds = float(os.environ.get(name, default))
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def notifier_from_env() -> NotifierResource:
    text = ("slack_webhook_url", "webhook_url", "webhook_secret", "smtp_host", "smtp_username", "smtp_password",
            "smtp_ca_file", "email_from", "email_to", "dashboard_url", "notifications_dir")  # fmt: skip
    return NotifierResource(
        **{field: _from_env(NOTIFIER_VARIABLES[field], "") for field in text},
        smtp_port=_from_env_int(NOTIFIER_VARIABLES["smtp_port"], 587),
        smtp_starttls=os.environ.get("COST_PIPELINES_SMTP_STARTTLS", "true").lower() not in ("0", "false", "no"),
        timeout_seconds=_from_env_seconds(NOTIFIER_VARIABLES["timeout_seconds"], 10.0),
    )


def default_resources() -> dict[str, object]:

    from cost_pipelines.defs.dbt import CostDbtCliResource, dbt_project

    duckdb_path = str(settings.duckdb_path())
    return {
        "warehouse": WarehouseResource(path=duckdb_path),
        "llm_logs": LlmLogSourceResource(
            kind=_from_env("COST_PIPELINES_LLM_LOGS_KIND", "local"),
            root=str(settings.llm_logs_dir()),
            pattern=_from_env("COST_PIPELINES_LLM_LOGS_PATTERN", "{date}/*"),
            s3_bucket=_from_env("COST_PIPELINES_LLM_LOGS_S3_BUCKET", ""),
            s3_prefix=_from_env("COST_PIPELINES_LLM_LOGS_S3_PREFIX", "{date}/"),
            postgres_dsn=_from_env("COST_PIPELINES_LLM_LOGS_POSTGRES_DSN", ""),
            postgres_table=_from_env("COST_PIPELINES_LLM_LOGS_POSTGRES_TABLE", "llm_cost_records"),
        ),
        "provider_usage": ProviderUsageResource(
            openai_admin_key=_from_env("OPENAI_ADMIN_KEY", ""),
            anthropic_admin_key=_from_env("ANTHROPIC_ADMIN_KEY", ""),
            openai_base_url=_from_env("COST_PIPELINES_OPENAI_BASE_URL", ""),
            anthropic_base_url=_from_env("COST_PIPELINES_ANTHROPIC_BASE_URL", ""),
            pages_root=_from_env("COST_PIPELINES_PROVIDER_USAGE_DIR", ""),
        ),
        "focus_exports": FocusExportsResource(root=str(settings.focus_exports_dir())),
        "cost_explorer": CostExplorerResource(
            source=_from_env("COST_PIPELINES_CE_SOURCE", "auto"),
            region_name=_from_env("AWS_REGION", "us-east-1"),
            endpoint_url=_from_env("COST_PIPELINES_CE_ENDPOINT_URL", None),
        ),
        "notifier": notifier_from_env(),
        "dbt": CostDbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(settings.DBT_PROJECT_DIR),
            dbt_executable=settings.dbt_executable(),
        ),
    }
