from datetime import date, timedelta

import dagster as dg

from cost_pipelines import settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.partitions_start_date().isoformat(), timezone="UTC")

# A backfill of many days runs as one run: each asset handles the whole date range at once.
single_run = dg.BackfillPolicy.single_run()


def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[date]:
    """Every UTC day of the run's partition window (one for a daily run, all of them for a backfill range)."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + timedelta(days=i) for i in range((end - start).days)]


def last_day(context: dg.AssetExecutionContext) -> date:
    """The window's last day: what a forecast, a report or the metrics are as of."""
    return context.partition_time_window.end.date() - timedelta(days=1)
