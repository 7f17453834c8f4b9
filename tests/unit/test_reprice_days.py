"""The days a price change has not reached become runs of consecutive days, one reprice_job run each."""

from datetime import date

from cost_pipelines.pricing.history import day_ranges


def test_days_to_reprice_run_as_ranges_of_consecutive_days() -> None:
    days = [date(2026, 8, d) for d in (14, 2, 3, 4, 9, 3, 31)] + [date(2026, 9, 1)]
    assert day_ranges(days) == [
        (date(2026, 8, 2), date(2026, 8, 4)), (date(2026, 8, 9), date(2026, 8, 9)),
        (date(2026, 8, 14), date(2026, 8, 14)), (date(2026, 8, 31), date(2026, 9, 1)),
    ]  # fmt: skip
    assert day_ranges([]) == []
