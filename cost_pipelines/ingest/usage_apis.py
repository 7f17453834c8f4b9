"""Providers' own usage and cost reports, pulled over HTTP one UTC day at a time and saved as the pages the API
returned.

OpenAI's organization Usage API (completions) and Anthropic's Admin API usage report return hourly buckets of
summed usage, a page at a time (`next_page`); their Costs API and cost report return what the day was billed. The
pages are saved as they came, one folder per report and day. Usage pages are read by the same reader as every log
file: each bucket's results are usage-bucket records (`record_shapes`); cost pages are loaded beside them
(`cost_reports`) to reconcile with. Saving the pages rather than rows keeps what the provider said, byte for byte,
for the day's re-ingest and for anyone checking a figure.

An admin key is sent in a header, never in the URL, and no error names it. 429 and 5xx answers are retried,
waiting what `Retry-After` asks (bounded), then at most `max_attempts` times in all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from cost_pipelines.http import retry_after_seconds

MAX_PAGES = 500  # a day of hourly buckets is a few pages; more means the cursor does not advance


class UsageApiError(RuntimeError):
    """The report could not be pulled: the reason names the API and the HTTP status, never the key."""


@dataclass(frozen=True)
class UsageApi:
    name: str  # the folder its pages are saved in
    provider: str
    base_url: str
    path: str
    key_env: str  # the environment variable holding the admin key
    docs: str
    bucket_width: str  # '1h' for usage; the cost reports give whole days
    groups: tuple[str, ...]  # what the report is grouped by: everything pricing, allocation and reconciling use

    def headers(self, key: str) -> dict[str, str]:
        if self.provider == "anthropic":
            return {"x-api-key": key, "anthropic-version": "2023-06-01"}
        return {"Authorization": f"Bearer {key}"}

    def params(self, day: date) -> list[tuple[str, str]]:
        """The query for one UTC day of buckets."""
        start = datetime.combine(day, clock(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        limit = "24" if self.bucket_width == "1h" else "1"
        if self.provider == "anthropic":
            return [
                ("starting_at", start.isoformat().replace("+00:00", "Z")),
                ("ending_at", end.isoformat().replace("+00:00", "Z")),
                ("bucket_width", self.bucket_width),
                ("limit", limit),
                *(("group_by[]", g) for g in self.groups),
            ]
        return [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", self.bucket_width),
            ("limit", limit),
            *(("group_by", g) for g in self.groups),
        ]


_OPENAI, _ANTHROPIC = "https://api.openai.com", "https://api.anthropic.com"
USAGE_APIS: dict[str, UsageApi] = {
    "openai": UsageApi(
        "openai", "openai", _OPENAI, "/v1/organization/usage/completions", "OPENAI_ADMIN_KEY",
        "platform.openai.com/docs/api-reference/usage/completions", "1h",
        ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier"),
    ),
    "anthropic": UsageApi(
        "anthropic", "anthropic", _ANTHROPIC, "/v1/organizations/usage_report/messages", "ANTHROPIC_ADMIN_KEY",
        "platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages", "1h",
        ("model", "workspace_id", "api_key_id", "service_tier", "context_window"),
    ),
}  # fmt: skip
COST_APIS: dict[str, UsageApi] = {
    "openai": UsageApi(
        "openai_costs", "openai", _OPENAI, "/v1/organization/costs", "OPENAI_ADMIN_KEY",
        "platform.openai.com/docs/api-reference/usage/costs", "1d", ("project_id", "line_item"),
    ),
    "anthropic": UsageApi(
        "anthropic_costs", "anthropic", _ANTHROPIC, "/v1/organizations/cost_report", "ANTHROPIC_ADMIN_KEY",
        "platform.claude.com/docs/en/api/admin/cost_report/retrieve", "1d", ("workspace_id", "description"),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Puller:
    """How pages are fetched: timeouts and retries explicit, the sleep replaceable so a test need not wait."""

    timeout: float = 30.0
    max_attempts: int = 6
    max_wait: float = 120.0  # the longest a Retry-After is honoured; a longer one fails the pull, visibly
    sleep: Callable[[float], None] = time.sleep

    def pull_day(self, api: UsageApi, key: str, day: date, base_url: str | None = None) -> list[bytes]:
        """Every page of one day's report, as the API returned it."""
        if not key:
            raise UsageApiError(f"{api.name} report: no admin key (set {api.key_env})")
        pages: list[bytes] = []
        cursor: str | None = None
        while True:
            query = api.params(day) + ([("page", cursor)] if cursor else [])
            url = (base_url or api.base_url).rstrip("/") + api.path + "?" + urllib.parse.urlencode(query)
            body = self._get(api, url, api.headers(key))
            try:
                page = json.loads(body)
            except json.JSONDecodeError:
                raise UsageApiError(f"{api.name} report: page {len(pages) + 1} is not JSON") from None
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise UsageApiError(f"{api.name} report: page {len(pages) + 1} holds no `data` list")
            pages.append(body)
            following = page.get("next_page") if page.get("has_more") else None
            if not following:
                return pages
            if following == cursor or len(pages) >= MAX_PAGES:
                raise UsageApiError(f"{api.name} report: the page cursor does not advance")
            cursor = str(following)

    def _get(self, api: UsageApi, url: str, headers: dict[str, str]) -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
        for attempt in range(1, self.max_attempts + 1):
            wait: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                if error.code != 429 and error.code < 500:
                    hint = " (is the admin key valid?)" if error.code in (401, 403) else ""
                    raise UsageApiError(f"{api.name} report: HTTP {error.code}{hint}") from None
                reason = f"HTTP {error.code}"
                wait = retry_after_seconds(error.headers.get("Retry-After"), datetime.now(UTC))
                if wait is not None and wait > self.max_wait:
                    raise UsageApiError(f"{api.name} report: {reason}, Retry-After {wait:g} s is too long") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                cause = error.reason if isinstance(error, urllib.error.URLError) else error
                reason = "timed out" if isinstance(cause, TimeoutError | socket.timeout) else type(cause).__name__
            if attempt == self.max_attempts:
                raise UsageApiError(f"{api.name} report: {reason}, {attempt} attempts") from None
            self.sleep(wait if wait is not None else min(2.0 ** (attempt - 1), self.max_wait))
        raise AssertionError("unreachable")


def pages_dir(root: Path, api: UsageApi, day: date) -> Path:
    return root / api.name / day.isoformat()


def save_pages(root: Path, api: UsageApi, day: date, pages: list[bytes]) -> bool:
    """Replace the day's saved pages with these; False when they are the pages already saved (nothing changed)."""
    target = pages_dir(root, api, day)
    if target.is_dir() and _digest(sorted(target.glob("*.json"))) == _digest_bytes(pages):
        return False
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for number, page in enumerate(pages, start=1):
        (partial / f"{api.name}_usage_page_{number:03d}.json").write_bytes(page)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _digest(files: list[Path]) -> str:
    return _digest_bytes([f.read_bytes() for f in files])


def _digest_bytes(pages: list[bytes]) -> str:
    h = hashlib.sha256()
    for page in pages:
        h.update(hashlib.sha256(page).digest())
    return h.hexdigest()
