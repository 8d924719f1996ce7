"""The activity statistics, declared once.

Each statistic is a formula over an entity's running totals as of a snapshot (exposures and
clicks so far and in the recent window, the global CTR prior). Both engines aggregate the
totals their own way and then apply these formulas (pandas directly, Spark per partition), and
everything else derives from this list: the Feast schemas of the activity and cluster-average
views (`definitions`), their cluster averages (eq. 9), the columns of the model's numeric blocks
and so the model's input widths (`ctr.inputs`, `ctr.modules`). Adding a statistic is one entry
in `ACTIVITY`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

# The running totals the engines aggregate; `prior` is the global CTR as of the snapshot.
TOTALS = ("exposures", "clicks", "recent_exposures", "recent_clicks")


@dataclass(frozen=True)
class Totals:
    """One entity's (or cluster's average) totals per row, and the settings the formulas read."""

    exposures: np.ndarray
    clicks: np.ndarray
    recent_exposures: np.ndarray
    recent_clicks: np.ndarray
    prior: np.ndarray
    prior_strength: float
    tail_threshold: int

    @classmethod
    def of(cls, columns: Mapping[str, np.ndarray], prior_strength: float, tail_threshold: int) -> Totals:
        """From columns holding TOTALS and `prior`; a table without the recent window (the
        cross views) reads zeros there."""
        rows = len(columns["prior"])
        window = {name: np.asarray(columns.get(name, np.zeros(rows)), dtype=float) for name in TOTALS}
        return cls(
            **window,
            prior=np.asarray(columns["prior"], dtype=float),
            prior_strength=prior_strength,
            tail_threshold=tail_threshold,
        )

    def smoothed_ctr(self, clicks: np.ndarray, exposures: np.ndarray) -> np.ndarray:
        """A rate shrunk towards the prior: (clicks + s·prior) / (exposures + s)."""
        return (clicks + self.prior_strength * self.prior) / (exposures + self.prior_strength)


@dataclass(frozen=True)
class Statistic:
    """One activity feature. `of_cluster` says how eq. 9 averages it over a cluster: "members"
    averages the members' values (a member with no visible event counts with its value at zero
    totals), "totals" applies the formula to the members' averaged totals (a rate of averages)."""

    name: str
    formula: Callable[[Totals], np.ndarray]
    description: str
    of_cluster: str = "members"


ACTIVITY: tuple[Statistic, ...] = (
    Statistic("exposures", lambda t: t.exposures, "Exposures so far."),
    Statistic("clicks", lambda t: t.clicks, "Clicks so far."),
    Statistic("ctr", lambda t: t.smoothed_ctr(t.clicks, t.exposures), "Smoothed CTR so far.", "totals"),
    Statistic("recent_exposures", lambda t: t.recent_exposures, "Exposures in the recent window."),
    Statistic("recent_clicks", lambda t: t.recent_clicks, "Clicks in the recent window."),
    Statistic(
        "recent_ctr",
        lambda t: t.smoothed_ctr(t.recent_clicks, t.recent_exposures),
        "Smoothed CTR in the recent window.",
        "totals",
    ),
    Statistic(
        "activity_level",
        lambda t: np.minimum(np.floor(np.log2(1 + t.exposures)), 10),
        "floor(log2(1 + exposures)), at most 10.",
    ),
    Statistic("is_tail", lambda t: (t.exposures < t.tail_threshold).astype(float), "1 while below the tail threshold."),
)
# The user x cluster and cluster x cluster crosses keep cumulative counts only.
CROSS: tuple[Statistic, ...] = tuple(s for s in ACTIVITY if s.name in ("exposures", "clicks", "ctr"))


def apply(statistics: tuple[Statistic, ...], totals: Totals) -> dict[str, np.ndarray]:
    """Name -> values of each statistic, float64."""
    return {s.name: np.asarray(s.formula(totals), dtype=float) for s in statistics}


def unseen(tail_threshold: int) -> dict[str, float]:
    """What an entity reads before any of its events is visible, for the statistics its cluster
    averages member by member."""
    zero = Totals.of({"prior": np.zeros(1)}, 1.0, tail_threshold)
    return {s.name: float(s.formula(zero)[0]) for s in ACTIVITY if s.of_cluster == "members"}


if not set(TOTALS) <= set(unseen(1)):  # a rate of averages needs the averaged totals
    raise ValueError(f"statistics: ACTIVITY must average {TOTALS} member by member")
