"""Where LLM request logs come from. A source lists the files holding one UTC day of requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol

FileFormat = Literal["jsonl", "csv", "parquet"]

_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class SourceFile:
    path: str  # a location DuckDB can read
    name: str  # recorded in the `source` column of every row read from it
    format: FileFormat


class SourceUnavailable(RuntimeError):
    """The source itself cannot be read (a missing folder, a bucket that is not there): an error, never an empty
    day."""


class LogSource(Protocol):
    def files_for(self, day: date) -> list[SourceFile]: ...

    def skipped_files_for(self, day: date) -> list[str]: ...

    def describe(self) -> str: ...


def for_day(template: str, day: date) -> str:
    """A path pattern or prefix for one day: `{date}` is YYYY-MM-DD, `{yyyy}`, `{mm}` and `{dd}` its parts (for
    folders per year, month and day, as Bedrock and CloudTrail deliver them)."""
    return template.format(date=day.isoformat(), yyyy=f"{day:%Y}", mm=f"{day:%m}", dd=f"{day:%d}")


def is_offloaded_body(path: str) -> bool:
    """A request or response body Bedrock moved out of its invocation log record into the hour's `data/` folder:
    not a log record (the record itself names it)."""
    return "/BedrockModelInvocationLogs/" in path and "/data/" in path


def uncompressed_name(path: str) -> str:
    """The file's name in lower case without the compression DuckDB reads transparently (`.gz`, `.zst`)."""
    return path.lower().removesuffix(".gz").removesuffix(".zst")


def file_format(path: str) -> FileFormat | None:
    """The format of a log file from its name; `.gz` and `.zst` compressed files are read transparently. None for
    a file that holds no log records."""
    if is_offloaded_body(path):
        return None
    name = uncompressed_name(path)
    return next((fmt for suffix, fmt in _SUFFIX_FORMATS.items() if name.endswith(suffix)), None)


@dataclass(frozen=True)
class LocalDirectorySource:
    """Files under `root` matching `pattern`, where `{date}` stands for the partition day (YYYY-MM-DD); see
    `for_day` for the other placeholders."""

    root: Path
    pattern: str = "{date}/*"

    def files_for(self, day: date) -> list[SourceFile]:
        if not self.root.is_dir():
            raise SourceUnavailable(
                f"the LLM logs folder {self.root} does not exist (or is not a folder): check "
                "COST_PIPELINES_LLM_LOGS_DIR (or the llm_logs resource's root); nothing was ingested"
            )
        matches = sorted(self.root.glob(for_day(self.pattern, day)))
        files = []
        for path in matches:
            fmt = file_format(path.as_posix())
            if path.is_file() and fmt is not None:
                files.append(SourceFile(str(path), str(path.relative_to(self.root)), fmt))
        return files

    def skipped_files_for(self, day: date) -> list[str]:
        """Files that match the pattern but are in no accepted format, so they can be reported."""
        matches = sorted(self.root.glob(for_day(self.pattern, day)))
        return [str(p.relative_to(self.root)) for p in matches if p.is_file() and file_format(p.as_posix()) is None]

    def describe(self) -> str:
        return f"{self.root}/{self.pattern}"


@dataclass(frozen=True)
class CombinedSource:
    """Several sources read as one day: the log source and the providers' saved usage pages."""

    sources: tuple[LogSource, ...]

    def files_for(self, day: date) -> list[SourceFile]:
        return [f for source in self.sources for f in source.files_for(day)]

    def skipped_files_for(self, day: date) -> list[str]:
        return [f for source in self.sources for f in source.skipped_files_for(day)]

    def describe(self) -> str:
        return " + ".join(source.describe() for source in self.sources)


@dataclass(frozen=True)
class SavedPagesSource:
    """The usage API pages saved under `root/<provider>/<YYYY-MM-DD>/` (`usage_apis`); none saved is no day of
    requests, not a fault: a provider's report may have no bucket for a day."""

    root: Path
    providers: tuple[str, ...]

    def files_for(self, day: date) -> list[SourceFile]:
        files = []
        for provider in self.providers:
            folder = self.root / provider / day.isoformat()
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                files.append(SourceFile(str(path), f"{self.root.name}/{path.relative_to(self.root)}", "jsonl"))
        return files

    def skipped_files_for(self, day: date) -> list[str]:
        return []

    def describe(self) -> str:
        return f"{self.root}/{{{','.join(self.providers)}}}/{{date}}/*.json"
