"""Ranking metrics: AUC, GAUC and logloss, vectorized with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN if one class is absent."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC per user weighted by the user's number of samples; users with one class are skipped."""
    frame = pd.DataFrame({"user": users, "label": np.asarray(labels).astype(np.int64), "score": scores})
    # Ranks within each user (average for ties) give every user's AUC in one pass.
    frame["rank"] = frame.groupby("user")["score"].rank(method="average")
    frame["pos_rank"] = frame["rank"] * frame["label"]
    per_user = frame.groupby("user").agg(n=("label", "size"), n_pos=("label", "sum"), pos_rank_sum=("pos_rank", "sum"))
    n_neg = per_user["n"] - per_user["n_pos"]
    usable = (per_user["n_pos"] > 0) & (n_neg > 0)
    per_user = per_user[usable]
    if per_user.empty:
        return float("nan")
    n_pos, n_neg = per_user["n_pos"], n_neg[usable]
    user_auc = (per_user["pos_rank_sum"] - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.average(user_auc, weights=per_user["n"]))


def logloss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
