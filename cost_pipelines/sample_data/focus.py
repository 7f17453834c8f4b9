"""The shipped FOCUS 1.0 sample (September 2024), moved in time so it lands inside the demo period."""

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "focus" / "focus_sample.csv"
DATE_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def write_shifted_sample(out_dir: Path, days: int) -> Path:
    """Copy the sample with every period timestamp moved by `days`; values and everything else untouched."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"focus_sample_shifted_{days}d.csv"
    with SAMPLE.open(newline="") as source, target.open("w", newline="") as sink:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(sink, fieldnames=reader.fieldnames or [], quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for row in reader:
            for column in DATE_COLUMNS:
                if _TIMESTAMP.fullmatch(row[column]):
                    moved = datetime.fromisoformat(row[column]) + timedelta(days=days)
                    row[column] = moved.strftime("%Y-%m-%d %H:%M:%S")
            writer.writerow(row)
    return target
