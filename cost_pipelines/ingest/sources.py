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


def file_format(path: str) -> FileFormat | None:
    """The format of a log file from its name; `.gz` and `.zst` compressed files are read transparently."""
    name = path.lower().removesuffix(".gz").removesuffix(".zst")
    return next((fmt for suffix, fmt in _SUFFIX_FORMATS.items() if name.endswith(suffix)), None)


@dataclass(frozen=True)
class LocalDirectorySource:
    """Files under `root` matching `pattern`, where `{date}` stands for the partition day (YYYY-MM-DD)."""

    root: Path
    pattern: str = "{date}/*"

    def files_for(self, day: date) -> list[SourceFile]:
        if not self.root.is_dir():
            raise SourceUnavailable(
                f"the LLM logs folder {self.root} does not exist (or is not a folder): check "
                "COST_PIPELINES_LLM_LOGS_DIR (or the llm_logs resource's root); nothing was ingested"
            )
        matches = sorted(self.root.glob(self.pattern.format(date=day.isoformat())))
        files = []
        for path in matches:
            fmt = file_format(path.name)
            if path.is_file() and fmt is not None:
                files.append(SourceFile(str(path), str(path.relative_to(self.root)), fmt))
        return files

    def skipped_files_for(self, day: date) -> list[str]:
        """Files that match the pattern but are in no accepted format, so they can be reported."""
        matches = sorted(self.root.glob(self.pattern.format(date=day.isoformat())))
        return [str(p.relative_to(self.root)) for p in matches if p.is_file() and file_format(p.name) is None]

    def describe(self) -> str:
        return f"{self.root}/{self.pattern}"
