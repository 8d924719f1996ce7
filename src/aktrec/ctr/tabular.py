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


def fit_and_score(
    frames: dict[str, pd.DataFrame], labels: dict[str, np.ndarray], config: LightGBMConfig, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train on frames["fit"], early-stop on frames["valid"]; click probabilities of every split."""
    import lightgbm

    started = time.perf_counter()
    features = TabularFeatures(frames["fit"])
    data = {name: features.transform(frame) for name, frame in frames.items()}
    params = {
        "objective": "binary",
        "metric": "auc",
        "num_leaves": config.num_leaves,
        "learning_rate": config.learning_rate,
        "min_child_samples": config.min_child_samples,
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
    log.info(
        "lightgbm: %d rounds, validation AUC %.4f, %.1fs",
        history["best_iteration"],
        history["valid_auc"],
        history["seconds"],
    )
    return scores, history
