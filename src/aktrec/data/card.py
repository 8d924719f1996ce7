"""The data card: sizes, label rate, long-tail shape and how the data was made (JSON + markdown)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.config import PrepareConfig, SplitConfig, to_dict
from aktrec.metrics import auc, gauc

if TYPE_CHECKING:
    from aktrec.data.raw import RawData


def top_share(counts: pd.Series, fraction: float = 0.2) -> float:
    """Share of all events that the top `fraction` of entities take."""
    values = np.sort(counts.to_numpy())[::-1]
    k = max(1, int(round(len(values) * fraction)))
    return float(values[:k].sum() / values.sum()) if values.sum() else 0.0


# A split's summary: counts of distinct values, and the share of its samples flagged by a column.
DISTINCT = {"n_users": schemas.USER_ID, "n_items": schemas.ITEM_ID}
SHARES = {
    "label_rate": schemas.LABEL,
    "share_tail_samples": schemas.IS_TAIL_SAMPLE,
    "share_tail_user_samples": schemas.IS_TAIL_USER,
    "share_tail_item_samples": schemas.IS_TAIL_ITEM,
}


def representation_rule(split: SplitConfig, representation_cutoff: pd.Timestamp | None) -> str:
    """The card's one line on which training events build representations (SplitConfig)."""
    if representation_cutoff is not None:
        return f"representations from training events before {representation_cutoff}, CTR training samples from then on"
    if split.method == "per-user":
        return (
            f"representations from each user's first {split.representation_share:.0%} of training events, "
            "CTR training samples: the rest of each user's"
        )
    return (
        "representations from each user's training events but the last, "
        "CTR training samples: each user's last training interaction"
    )


def _split_summary(samples: pd.DataFrame) -> dict[str, Any]:
    return {
        "n": len(samples),
        "n_positive": int(samples[schemas.LABEL].sum()),
        "n_sampled_negatives": int(samples[schemas.IS_SAMPLED].sum()),
        "n_observed": int((~samples[schemas.IS_SAMPLED]).sum()),
        **{name: int(samples[column].nunique()) for name, column in DISTINCT.items()},
        **{name: float(samples[column].mean()) for name, column in SHARES.items()},
        "ts_min": str(samples[schemas.TS].min()),
        "ts_max": str(samples[schemas.TS].max()),
    }


def build_card(
    raw: RawData,
    train: pd.DataFrame,
    test: pd.DataFrame,
    user_counts: pd.Series,
    item_counts: pd.Series,
    train_clicks: pd.Series,
    config: PrepareConfig,
    cutoff: pd.Timestamp | None,
    representation_cutoff: pd.Timestamp | None,
) -> dict[str, Any]:
    interactions = raw.interactions
    users_seen = interactions[schemas.USER_ID].unique()
    items_seen = interactions[schemas.ITEM_ID].unique()
    n_users = raw.users.num_rows if raw.users is not None else len(users_seen)
    n_items = raw.items.num_rows if raw.items is not None else len(items_seen)
    n_positive = interactions.num_rows if raw.positives_only else int(np.sum(interactions[schemas.LABEL].to_numpy()))
    all_user_counts = interactions[schemas.USER_ID].value_counts().field("counts").to_numpy()
    all_item_counts = interactions[schemas.ITEM_ID].value_counts().field("counts").to_numpy()
    # The trivial scorer every model is read against (docs/design.md §1): training clicks per item.
    popularity = test[schemas.ITEM_ID].map(train_clicks).fillna(0).to_numpy(dtype=float)
    tail = config.tail
    card: dict[str, Any] = {
        "name": raw.source,
        "timestamps": raw.ts_kind,
        "timestamps_note": (
            "ordinal: the position of each interaction in its user's chronological sequence, stored as "
            "seconds after 1970-01-01 UTC; it orders events but carries no real time"
            if raw.ts_kind == "ordinal"
            else "time: real event times (UTC)"
        ),
        "labels": "implicit: positives only, negatives sampled"
        if raw.positives_only
        else "explicit: clicks and non-clicks",
        "raw": {
            "n_users": int(n_users),
            "n_items": int(n_items),
            "n_interactions": interactions.num_rows,
            "n_positive_interactions": int(n_positive),
            "n_users_with_interactions": len(users_seen),
            "n_items_with_interactions": len(items_seen),
            "label_rate": None if raw.positives_only else float(n_positive / interactions.num_rows),
            "user_attributes": [c for c in raw.users.column_names if c != schemas.USER_ID]
            if raw.users is not None
            else [],
            "items_missing_title": int(raw.items[schemas.TITLE].null_count) if raw.items is not None else None,
            "top20_item_share": top_share(pd.Series(all_item_counts)),
            "share_items_under_10_interactions": float(np.mean(all_item_counts < 10)),
            "share_users_under_10_interactions": float(np.mean(all_user_counts < 10)),
        },
        "split": {
            **to_dict(config.split),
            "cutoff": str(cutoff) if cutoff is not None else None,
            "representation_cutoff": str(representation_cutoff) if representation_cutoff is not None else None,
            "representation_rule": representation_rule(config.split, representation_cutoff),
        },
        "negatives": to_dict(config.negatives) if raw.positives_only else None,
        "tail": {
            **to_dict(tail),
            "counted_on": "observed training events (clicks for positive-only data, impressions otherwise)",
            "sampled_negatives": "a sampled negative belongs to the slice of the impression it was drawn for: "
            "its positive's user and item status",
            "share_tail_users": float(np.mean(user_counts.to_numpy() < tail.tail_user_max_interactions)),
            "share_tail_items": float(
                np.mean(item_counts.reindex(items_seen, fill_value=0).to_numpy() < tail.tail_item_max_exposures)
            ),
            "train_top20_item_share": top_share(item_counts),
        },
        "train": _split_summary(train),
        "test": {
            **_split_summary(test),
            "n_users_unseen_in_train": int(
                (~test[schemas.USER_ID].isin(user_counts.index)).groupby(test[schemas.USER_ID]).any().sum()
            ),
            "n_items_unseen_in_train": int(
                test.loc[~test[schemas.ITEM_ID].isin(item_counts.index), schemas.ITEM_ID].nunique()
            ),
        },
        "popularity_baseline": {
            "score": "training clicks of the item",
            "test_auc": auc(test[schemas.LABEL].to_numpy(), popularity),
            "test_gauc": gauc(test[schemas.USER_ID].to_numpy(), test[schemas.LABEL].to_numpy(), popularity),
        },
        "seed": config.seed,
    }
    return card


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_card_markdown(card: dict[str, Any]) -> str:
    raw, tail, train, test = card["raw"], card["tail"], card["train"], card["test"]
    lines = [
        f"# Data card: {card['name']}",
        "",
        f"- Labels: {card['labels']}",
        f"- Timestamps: {card['timestamps_note']}",
        f"- Split: {card['split']['method']}"
        + (f", test from {card['split']['cutoff']}" if card["split"]["cutoff"] else "")
        + (
            f", test: each user's latest {card['split']['test_share']:.0%} of interactions"
            if card["split"]["method"] == "per-user"
            else ""
        ),
        f"- Training: {card['split']['representation_rule']}",
    ]
    if card["negatives"]:
        neg = card["negatives"]
        lines.append(
            f"- Negatives: {neg['ratio']} per positive, {neg['strategy']} sampling"
            + (f" (exponent {neg['exponent']})" if neg["strategy"] == "popularity" else "")
            + ", never an item the user clicked; a negative is in the head/tail slice of its positive"
        )
    lines += [
        "",
        "## Sizes",
        "",
        "| | users | items | interactions | positives |",
        "|---|---|---|---|---|",
        f"| raw | {_fmt(raw['n_users'])} | {_fmt(raw['n_items'])} | {_fmt(raw['n_interactions'])} | "
        f"{_fmt(raw['n_positive_interactions'])} |",
        f"| train | {_fmt(train['n_users'])} | {_fmt(train['n_items'])} | {_fmt(train['n'])} | "
        f"{_fmt(train['n_positive'])} |",
        f"| test | {_fmt(test['n_users'])} | {_fmt(test['n_items'])} | {_fmt(test['n'])} | "
        f"{_fmt(test['n_positive'])} |",
        "",
        "## Long tail",
        "",
        f"- Top 20% of items take {raw['top20_item_share']:.1%} of interactions; "
        f"{raw['share_items_under_10_interactions']:.1%} of items and "
        f"{raw['share_users_under_10_interactions']:.1%} of users have fewer than 10.",
        f"- Tail user: < {tail['tail_user_max_interactions']} training interactions "
        f"({tail['share_tail_users']:.1%} of training users); "
        f"tail item: < {tail['tail_item_max_exposures']} training exposures ({tail['share_tail_items']:.1%} of items).",
        f"- Tail samples: {train['share_tail_samples']:.1%} of train, {test['share_tail_samples']:.1%} of test.",
        f"- Test users unseen in training: {_fmt(test['n_users_unseen_in_train'])}; test items unseen in "
        f"training: {_fmt(test['n_items_unseen_in_train'])}.",
        "",
        "## What popularity alone predicts",
        "",
        f"Scoring test samples by the item's training clicks gives AUC {_fmt(card['popularity_baseline']['test_auc'])} "
        f"and GAUC {_fmt(card['popularity_baseline']['test_gauc'])}; read model gains against these.",
        "",
    ]
    return "\n".join(lines)
