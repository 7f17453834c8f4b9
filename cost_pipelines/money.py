"""Money as people read it: dollars rounded to the cent for display (the stored amounts stay exact)."""

from decimal import Decimal

CENT = Decimal("0.01")


def usd(value: Decimal | float | int | None) -> str:
    """`$1,234.57`; `n/a` for a missing amount."""
    return "n/a" if value is None else f"${Decimal(value).quantize(CENT):,}"


def exact(value: Decimal) -> str:
    """The exact amount as plain digits without trailing zeros: `101.7171853906`, `0`, never `0E-18`."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text
