"""Ranking metrics: AUC, GAUC (with its support), logloss, per slice; shared by the data card and training."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from aktrec import schemas


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN if one class is absent."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


MIN_GAUC_USERS = 30  # below this many users with both labels a GAUC is not reported (docs/design.md §1.1)


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC per user weighted by the user's number of samples; users with one class are skipped."""
    return gauc_with_support(users, labels, scores)[0]


def per_user_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """AUC and number of samples of every user with both labels (index: user)."""
    frame = pd.DataFrame({"user": users, "label": np.asarray(labels).astype(np.int64), "score": scores})
    # Ranks within each user (average for ties) give every user's AUC in one pass.
    frame["rank"] = frame.groupby("user")["score"].rank(method="average")
    frame["pos_rank"] = frame["rank"] * frame["label"]
    per_user = frame.groupby("user").agg(n=("label", "size"), n_pos=("label", "sum"), pos_rank_sum=("pos_rank", "sum"))
    n_neg = per_user["n"] - per_user["n_pos"]
    usable = (per_user["n_pos"] > 0) & (n_neg > 0)
    per_user, n_neg = per_user[usable], n_neg[usable]
    n_pos = per_user["n_pos"]
    return pd.DataFrame(
        {"auc": (per_user["pos_rank_sum"] - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), "n": per_user["n"]}
    )


def gauc_with_support(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """GAUC and its support: the number of users with both labels (NaN and 0 when none)."""
    per_user = per_user_auc(users, labels, scores)
    if per_user.empty:
        return float("nan"), 0
    return float(np.average(per_user["auc"], weights=per_user["n"])), len(per_user)


def gauc_support(users: np.ndarray, labels: np.ndarray) -> int:
    """How many users have both labels: the users a GAUC over these samples would average."""
    frame = pd.DataFrame({"user": users, "label": np.asarray(labels).astype(bool)})
    both = frame.groupby("user")["label"].agg(["any", "all"])
    return int((both["any"] & ~both["all"]).sum())


SLICES = ("total", "head", "tail")


def slice_metrics(samples: pd.DataFrame, scores: np.ndarray, probabilities: bool = True) -> dict[str, dict[str, float]]:
    """AUC, GAUC, logloss, n and n_users (users with both labels) on the total, head and tail
    samples (docs/design.md §1.7). GAUC is NaN where fewer than `MIN_GAUC_USERS` users qualify. Scores
    that are not probabilities (a popularity count) get no logloss (NaN)."""
    tail = samples[schemas.IS_TAIL_SAMPLE].to_numpy(bool)
    labels = samples[schemas.LABEL].to_numpy()
    users = samples[schemas.USER_ID].to_numpy()
    out = {}
    for name, mask in zip(SLICES, (np.ones_like(tail), ~tail, tail)):
        value, n_users = gauc_with_support(users[mask], labels[mask], scores[mask])
        out[name] = {
            "auc": auc(labels[mask], scores[mask]),
            "gauc": value if n_users >= MIN_GAUC_USERS else float("nan"),
            "logloss": logloss(labels[mask], scores[mask]) if probabilities and mask.any() else float("nan"),
            "n": int(mask.sum()),
            "n_users": n_users,
        }
    return out


def logloss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def comparison_table(
    models: Mapping[str, Any],
    value: Callable[[Any, str, str], Any] = lambda model, part, metric: model[part][metric],
    extra: Mapping[str, Callable[[Any], Any]] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The head/tail comparison: a row per model with AUC and GAUC of every slice
    (`value(model, slice, "auc" | "gauc")`), then the `extra` columns (name -> value of a model).
    The training stage, the run report and the benchmarks all lay their tables out with it."""
    extra = extra or {}
    header = ["model", *(f"{part} {metric}" for part in SLICES for metric in ("AUC", "GAUC")), *extra]
    rows = [
        [
            name,
            *(value(model, part, metric) for part in SLICES for metric in ("auc", "gauc")),
            *(column(model) for column in extra.values()),
        ]
        for name, model in models.items()
    ]
    return header, rows


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
