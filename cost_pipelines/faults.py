"""Named crash points, for proving that a process killed at a given moment leaves a state the next run repairs.

`COST_PIPELINES_CRASH_AT=<point>` (or `<point>@<YYYY-MM-DD>` for one day) makes the process kill itself with
SIGKILL when it reaches that point: no exception handler, `finally` block or atexit hook runs, exactly as when the
machine or an operator kills it. Unset (always, outside fault-injection tests), a crash point does nothing.
"""

from __future__ import annotations

import os
import signal
from datetime import date

CRASH_AT_ENV = "COST_PIPELINES_CRASH_AT"

POINTS = (
    "ingest.before_write",  # the day's previous version is in force, nothing new written yet
    "ingest.after_write",  # the new version's files are complete, not yet listed
    "ingest.before_commit",  # inside the transaction that lists them, before COMMIT
    "ingest.after_commit",  # the new version is in force, the old one not yet deleted
)


def crash_point(point: str, day: date | None = None) -> None:
    wanted = os.environ.get(CRASH_AT_ENV)
    if not wanted:
        return
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}")
    if wanted == point or (day is not None and wanted == f"{point}@{day.isoformat()}"):
        os.kill(os.getpid(), signal.SIGKILL)
