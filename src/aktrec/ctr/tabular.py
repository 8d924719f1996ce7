"""The tabular peer (docs/design.md §1.1): LightGBM on the point-in-time statistics the neural models
read (user and item activity, user x item-cluster cross counts, the content affinity of the
candidate with the user's visible clicks), the attribute tokens (one
categorical column per attribute name), the user and item ids and their semantic clusters as
categoricals, trained on the same fit samples and early-stopped on the same validation split."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from aktrec import schemas
from aktrec.config import LightGBMConfig
from aktrec.ctr.inputs import ATTRIBUTE_BLOCKS, NUMERIC_BLOCKS, CtrInputs
from aktrec.ctr.modules import content_affinity
from aktrec.features import names as feature_names
from aktrec.metrics import gauc_with_support

log = logging.getLogger("aktrec")
CATEGORICAL_IDS = [schemas.USER_ID, schemas.ITEM_ID, feature_names.USER_CLUSTER_ID, feature_names.ITEM_CLUSTER_ID]
STATISTICS = [
    *NUMERIC_BLOCKS["user_activity"],
    *NUMERIC_BLOCKS["item_activity"],
    *NUMERIC_BLOCKS["cross_user_item_cluster"],
]
AFFINITY = ["content_affinity_mean", "content_affinity_nearest", "content_affinity_clicks"]


@torch.no_grad()
def affinity_columns(inputs: CtrInputs, item_vectors: torch.Tensor, batch_size: int = 8192) -> dict[str, np.ndarray]:
    """The networks' content affinity of each encoded sample (`ctr.modules.content_affinity`,
    `item_vectors` as `vocabularies.item_vectors` gives them), as LightGBM's AFFINITY columns."""
    parts = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs.batch(np.arange(start, min(start + batch_size, len(inputs))))
        parts.append(content_affinity(item_vectors, batch["user_sequence"], batch["item_content"]).numpy())
    values = np.concatenate(parts) if parts else np.zeros((0, len(AFFINITY)), np.float32)
    return {name: values[:, i].astype(np.float64) for i, name in enumerate(AFFINITY)}


RAW_IDS = (schemas.USER_ID, schemas.ITEM_ID)


class TabularFeatures:
    """Retrieved frames -> LightGBM inputs; categories (ids, attribute values) are coded by the
    fit samples' values, unseen ones read as missing."""

    def __init__(self, fit_frame: pd.DataFrame) -> None:
        self.categories = {
            column: pd.Index(pd.unique(values.dropna())) for column, values in self._categorical(fit_frame).items()
        }

    @staticmethod
    def _categorical(frame: pd.DataFrame) -> dict[str, pd.Series]:
        out = {column: frame[column] for column in CATEGORICAL_IDS}
        for block, (column, _) in ATTRIBUTE_BLOCKS.items():
            pairs = [dict(token.split("=", 1) for token in tokens) for tokens in frame[column]]
            for name, values in pd.DataFrame(pairs, index=frame.index).items():
                out[re.sub(r"\W", "_", f"{block}_{name}")] = values  # LightGBM takes plain feature names
        return out

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        numbers = [*STATISTICS, *(column for column in AFFINITY if column in frame)]
        out = frame[numbers].astype(np.float64).reset_index(drop=True)
        categorical = self._categorical(frame)
        for column, known in self.categories.items():
            values = categorical.get(column, pd.Series([None] * len(frame), index=frame.index))
            out[column] = pd.Categorical.from_codes(
                np.where(known.get_indexer(values) >= 0, known.get_indexer(values), -1), categories=range(len(known))
            )
        return out


def without_raw_ids(data: pd.DataFrame) -> pd.DataFrame:
    """LightGBM inputs without the user and item ids (their clusters stay); every other column's
    coding does not depend on them, so a grid transforms each split once."""
    return data.drop(columns=list(RAW_IDS))


def fit_and_score(
    frames: dict[str, pd.DataFrame], labels: dict[str, np.ndarray], config: LightGBMConfig, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train on frames["fit"], early-stopped on frames["valid"], once per combination of
    `config.grid()`; the click probabilities of every split from the combination with the best
    validation GAUC (AUC where GAUC is undefined), and the history of every try."""
    started = time.perf_counter()
    valid_users = frames["valid"][schemas.USER_ID].to_numpy()
    features = TabularFeatures(frames["fit"])
    encoded = {name: features.transform(frame) for name, frame in frames.items()}
    best, tries = None, []
    for settings in config.grid():
        data = encoded if settings["raw_id_categoricals"] else {n: without_raw_ids(d) for n, d in encoded.items()}
        scores, history = _fit_one(data, labels, config, settings, seed)
        history["valid_gauc"] = gauc_with_support(valid_users, labels["valid"], scores["valid"])[0]
        tries.append({**settings, **history})
        score = history["valid_gauc"] if not np.isnan(history["valid_gauc"]) else history["valid_auc"]
        if best is None or score > best[0]:
            best = (score, scores, history, settings)
    _, scores, history, settings = best
    log.info(
        "lightgbm: kept %s of %d tries (validation GAUC %.4f, AUC %.4f), %.1fs",
        settings,
        len(tries),
        history["valid_gauc"],
        history["valid_auc"],
        time.perf_counter() - started,
    )
    return scores, {**history, "settings": settings, "tries": tries, "seconds": round(time.perf_counter() - started, 2)}


def _fit_one(
    data: dict[str, pd.DataFrame],
    labels: dict[str, np.ndarray],
    config: LightGBMConfig,
    settings: dict[str, Any],
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import lightgbm

    started = time.perf_counter()
    params = {
        "objective": "binary",
        "metric": "auc",
        "num_leaves": settings["num_leaves"],
        "learning_rate": config.learning_rate,
        "min_child_samples": settings["min_child_samples"],
        "cat_smooth": settings["cat_smooth"],
        "feature_fraction": config.feature_fraction,
        "num_threads": config.threads,
        "seed": seed,
        "verbosity": -1,
    }
    train_set = lightgbm.Dataset(data["fit"], label=labels["fit"])
    valid_set = lightgbm.Dataset(data["valid"], label=labels["valid"], reference=train_set)
    booster = lightgbm.train(
        params,
        train_set,
        num_boost_round=config.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lightgbm.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    scores = {name: booster.predict(frame, num_iteration=booster.best_iteration) for name, frame in data.items()}
    history = {
        "best_iteration": booster.best_iteration,
        "valid_auc": booster.best_score["valid_0"]["auc"],
        "n_features": data["fit"].shape[1],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return scores, history
