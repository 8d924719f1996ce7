"""Prompts: items (content + activity statistics as words) and users (profile + history).

Activity statistics are quantized into levels on the training window and written as words
(docs/design.md §1.1), so the encoder reads "popularity: high" rather than a raw count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aktrec import schemas

LEVEL_WORDS = {
    3: ["low", "medium", "high"],
    5: ["very low", "low", "medium", "high", "very high"],
}
INTEREST_TOKEN = "[INTEREST]"


def level_words(n_levels: int) -> list[str]:
    return LEVEL_WORDS.get(n_levels) or [f"level {k + 1} of {n_levels}" for k in range(n_levels)]


@dataclass
class ActivityLevels:
    """Quantile edges per statistic, fitted on the training window; reused for cold start."""

    edges: dict[str, list[float]]
    n_levels: int

    @classmethod
    def fit(cls, stats: pd.DataFrame, n_levels: int) -> ActivityLevels:
        quantiles = np.linspace(0, 1, n_levels + 1)[1:-1]
        return cls({c: np.quantile(stats[c].to_numpy(), quantiles).tolist() for c in stats.columns}, n_levels)

    def words(self, stats: pd.DataFrame) -> pd.DataFrame:
        names = np.array(level_words(self.n_levels))
        return pd.DataFrame(
            {c: names[np.searchsorted(self.edges[c], stats[c].to_numpy(), side="left")] for c in self.edges},
            index=stats.index,
        )


def item_activity(train: pd.DataFrame, item_ids: Sequence[str], positives_only: bool) -> pd.DataFrame:
    """Training-window statistics per item: clicks, and for real impressions exposures and CTR.

    Counted on observed events only (sampled negatives are not exposures).
    """
    observed = train[~train[schemas.IS_SAMPLED]]
    grouped = observed.groupby(schemas.ITEM_ID)[schemas.LABEL]
    stats = pd.DataFrame({"clicks": grouped.sum()}).reindex(item_ids, fill_value=0)
    if not positives_only:
        stats["exposures"] = grouped.size().reindex(item_ids, fill_value=0)
        # Smoothed CTR, so one lucky click does not read as "very high".
        prior = observed[schemas.LABEL].mean()
        stats["ctr"] = (stats["clicks"] + 10 * prior) / (stats["exposures"] + 10)
    return stats.astype(float)


STAT_PHRASES = {"clicks": "popularity", "exposures": "exposure", "ctr": "click-through rate"}


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value).strip() or None


def item_prompt(item: dict[str, Any], activity_words: dict[str, str]) -> str:
    """One item's prompt: title, category path, brand, price, description, activity levels."""
    parts = [f"Product: {_text(item.get(schemas.TITLE)) or 'untitled'}."]
    category = item.get(schemas.CATEGORY)
    if category is not None and len(category):
        parts.append(f"Category: {' > '.join(str(c) for c in category)}.")
    if _text(item.get(schemas.BRAND)):
        parts.append(f"Brand: {_text(item[schemas.BRAND])}.")
    if _text(item.get(schemas.PRICE)):
        parts.append(f"Price: ${float(item[schemas.PRICE]):.2f}.")
    parts += [f"{STAT_PHRASES[name].capitalize()}: {word}." for name, word in activity_words.items()]
    if _text(item.get(schemas.DESCRIPTION)):
        parts.append(_text(item[schemas.DESCRIPTION]))
    return " ".join(parts)


def item_prompts(items: pd.DataFrame, activity: pd.DataFrame, levels: ActivityLevels) -> list[str]:
    """(N,) item rows and their activity -> (N,) prompts, in the order of `items`."""
    words = levels.words(activity.reindex(items[schemas.ITEM_ID]).fillna(0.0))
    return [item_prompt(item, word) for item, word in zip(items.to_dict("records"), words.to_dict("records"))]


def leaf_category(category: Any) -> str | None:
    """The finest level of a category path (coarse to fine), or None."""
    return category[-1] if category is not None and len(category) else None


def short_title(title: Any, n_words: int) -> str:
    words = (_text(title) or "untitled item").split()
    return " ".join(words[:n_words])


def user_prompt(profile: dict[str, Any], history_titles: Sequence[str]) -> str:
    """Chronological clicks + profile attributes + the interest token (its state is the user).

    The history comes first so that left truncation drops the oldest clicks, never the
    profile or the interest token.
    """
    attributes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in profile.items() if _text(v) is not None)
    parts = [f"Recent clicks, oldest first: {'; '.join(history_titles)}." if len(history_titles) else "No clicks yet."]
    parts.append(f"User profile: {attributes}." if attributes else "User profile: unknown.")
    parts.append(f"Next interest: {INTEREST_TOKEN}")
    return " ".join(parts)
