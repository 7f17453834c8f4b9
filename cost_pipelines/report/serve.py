"""The reports folder over HTTP on loopback, so the link in the Dagster UI opens the report (a browser refuses to
follow a `file://` link from an `http://` page). Read-only: only files already in the folder are served."""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPORTS_URL_ENV = "COST_PIPELINES_REPORTS_URL"
DEFAULT_PORT = 8090


def reports_url() -> str:
    """Where the reports folder is served: `COST_PIPELINES_REPORTS_URL`, else the loopback port `cost-pipelines
    reports` (and `cost-pipelines ui`) serve it on."""
    return os.environ.get(REPORTS_URL_ENV, "").rstrip("/") or f"http://127.0.0.1:{DEFAULT_PORT}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def list_directory(self, path: str) -> None:  # type: ignore[override]
        self.send_error(404, "no listing")  # a report is opened by its link, the folder is not browsed


def serve_reports(folder: Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving `folder` on a daemon thread; stop it with `.shutdown()` and `.server_close()`."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="reports", daemon=True).start()
    return server
