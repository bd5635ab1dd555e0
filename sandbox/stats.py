"""The one way the sandbox's measurements read a percentile, so a p99 in the bench, the
fleet run and the flood run means the same thing."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The sample nearest the ``q`` quantile (0 to 1) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
