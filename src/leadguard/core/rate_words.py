"""Rates in the words people read: a percentage from 1 % up, "1 in N" below (used by the
evidence statements and by the documents, which sit below the evidence package)."""

from __future__ import annotations


def rate_words(rate: float) -> str:
    """A rate as people read it: a percentage from 1 % up, "1 in N" below; a chance short of
    certain never reads "100.0%"."""
    if 0.995 <= rate < 1.0:
        return "over 99.5%"
    if 0.99 <= rate < 0.995:  # 0.99488 is not "99.5%" (beside "up to over 99.5%")
        return f"{rate:.2%}"
    if rate >= 0.01:
        return f"{rate:.1%}"
    if rate < 1e-9:
        return "below 1 in a billion"
    return f"1 in {float(f'{1 / rate:.3g}'):,.0f}"  # 3 figures: not "1 in 11,001,948"


def interval_words(lo: float, hi: float) -> str:
    """An interval in one format: both ends as percentages where the upper one is (never
    "1 in 122 to 1.3%"), else both as "1 in N"."""
    if lo == 0.0:  # none reached it: "0 to", not "below 1 in a billion to"
        return f"0 to {rate_words(hi)}"
    if hi >= 0.01 and 1e-9 <= lo < 0.01:
        return f"{lo:.2%} to {rate_words(hi)}"
    return f"{rate_words(lo)} to {rate_words(hi)}"
