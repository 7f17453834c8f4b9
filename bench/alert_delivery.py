"""Benchmark: delivering notifications with the warehouse closed during every send.

    python bench/alert_delivery.py [--notifications 200]

N alerts, each with a pending Slack notification, in a temporary DuckDB file, delivered by `deliver` to a loopback
HTTP receiver that answers at once, then to one that accepts connections and never answers (1 s timeout, 5
notifications). The warehouse connections `deliver` opens are timed. Measured in the same run:

- baseline: the sends alone (the same requests, no warehouse), the floor of any delivery;
- delivery: total time, time the warehouse was open for writing, the longest it stayed open at once.

Before, one write connection stayed open for the whole delivery (a hung endpoint held it for its timeout).
"""

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cost_pipelines import warehouse  # noqa: E402
from cost_pipelines.alerts.channels import DeliveryError, SlackWebhook  # noqa: E402
from cost_pipelines.alerts.delivery import deliver, lease_for  # noqa: E402
from cost_pipelines.alerts.evaluate import Alert  # noqa: E402
from cost_pipelines.alerts.outbox import RetryPolicy, due_notifications, record_alerts  # noqa: E402


class Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T/B/token"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hung() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/services/T/B/token"
    finally:
        listener.close()


class TimedConnections:
    """`warehouse.connect` for writing, with the time each connection stayed open."""

    def __init__(self, path: Path):
        self.path, self.open_seconds = path, []

    @contextmanager
    def __call__(self) -> Iterator[object]:
        started = time.perf_counter()
        with warehouse.connect(self.path) as con:
            yield con
        self.open_seconds.append(time.perf_counter() - started)


def alerts(count: int, tag: str) -> list[Alert]:
    return [Alert(key=f"bench|{tag}|{i}", kind="budget_actual", severity="info", title=f"Budget b{i} reached 50%",
                  message="$60.00 spent of $100.00", as_of=date(2026, 10, 31), channels=("slack",))
            for i in range(count)]  # fmt: skip


def run(path: Path, url: str, count: int, tag: str, timeout: float) -> tuple[float, TimedConnections, int]:
    with warehouse.connect(path) as con:
        record_alerts(con, alerts(count, tag), {"slack": "bench"}, datetime.now(UTC))
        due = due_notifications(con, datetime.now(UTC), limit=count)
    connections = TimedConnections(path)
    channel = SlackWebhook(url, None, timeout)
    started = time.perf_counter()
    report = deliver(connections, due, {}, {"slack": channel}, {}, RetryPolicy(), [url], "bench", lease_for(timeout),
                     lambda: datetime.now(UTC))  # fmt: skip
    return time.perf_counter() - started, connections, report.sent


def sends_alone(url: str, count: int, timeout: float) -> float:
    channel = SlackWebhook(url, None, timeout)
    alert = alerts(1, "floor")[0]
    started = time.perf_counter()
    for i in range(count):
        with suppress(DeliveryError):  # the hung endpoint times out; only the time counts here
            channel.send(alert, f"floor-{i}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=200)
    args = parser.parse_args()
    n = args.notifications
    print(f"{'what':<58} {'seconds':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        for name, endpoint, count, timeout in (
            ("answering receiver", receiver, n, 10.0),
            ("hung endpoint", hung, 5, 1.0),
        ):
            with endpoint() as url:
                floor = sends_alone(url, count, timeout)
                total, connections, sent = run(path, url, count, name, timeout)
            held = sum(connections.open_seconds)
            print(f"{name}: {count} sends alone (baseline){'':<20} {floor:>9.3f}")
            print(f"{name}: delivery, {sent} sent{'':<30} {total:>9.3f}")
            print(f"  warehouse open for writing, in {len(connections.open_seconds)} connections{'':<10} {held:>9.3f}")
            print(f"  longest single connection{'':<31} {max(connections.open_seconds):>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
