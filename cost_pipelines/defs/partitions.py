import dagster as dg

from cost_pipelines import settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.partitions_start_date().isoformat(), timezone="UTC")

# A backfill of many days runs as one run: each asset handles the whole date range at once.
single_run = dg.BackfillPolicy.single_run()
