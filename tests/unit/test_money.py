from decimal import Decimal

import pytest

from cost_pipelines.money import exact, usd


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("0E-18", "0"), ("-0.000", "0"), ("101.717185390600000000", "101.7171853906"), ("1E+3", "1000"),
     ("-2.50", "-2.5"), ("0.000000000000000001", "0.000000000000000001")],
)  # fmt: skip
def test_exact_amounts_are_plain_digits_that_lose_nothing(amount: str, shown: str) -> None:
    assert exact(Decimal(amount)) == shown
    assert Decimal(shown) == Decimal(amount)


def test_dollars_for_people_round_to_the_cent() -> None:
    assert usd(Decimal("1610.834823145")) == "$1,610.83"
    assert usd(None) == "n/a"
