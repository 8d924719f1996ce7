"""The tabular peer's grid: every combination of the list-valued settings is trained and the
best on validation GAUC is kept; the raw-id switch drops the id categoricals only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.config import LightGBMConfig, from_dict
from aktrec.ctr.inputs import ATTRIBUTE_BLOCKS
from aktrec.ctr.tabular import CATEGORICAL_IDS, RAW_IDS, STATISTICS, TabularFeatures, fit_and_score, without_raw_ids
from aktrec.errors import AktrecError


def frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Samples of 40 users whose clicks follow the first statistic."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(rng.normal(size=(n, len(STATISTICS))), columns=STATISTICS)
    for column in CATEGORICAL_IDS:
        out[column] = [f"{column}-{v}" for v in rng.integers(0, 40, n)]
    for column, _ in ATTRIBUTE_BLOCKS.values():
        out[column] = [[f"colour={c}"] for c in rng.choice(["red", "blue"], n)]
    labels = (out[STATISTICS[0]] + 0.5 * rng.normal(size=n) > 0).to_numpy(np.float64)
    return out, labels


def test_grid_is_every_combination_of_the_listed_settings():
    config = from_dict(
        LightGBMConfig, {"num_leaves": [7, 15], "cat_smooth": [1.0, 10.0, 50.0], "raw_id_categoricals": False}
    )
    grid = config.grid()
    assert len(grid) == 6
    assert {(g["num_leaves"], g["cat_smooth"]) for g in grid} == {(n, c) for n in (7, 15) for c in (1.0, 10.0, 50.0)}
    assert all(g["min_child_samples"] == 50 and g["raw_id_categoricals"] is False for g in grid)
    with pytest.raises(AktrecError, match="num_leaves is an empty list"):
        from_dict(LightGBMConfig, {"num_leaves": []})


def test_raw_ids_switch_drops_only_the_id_columns():
    fit, _ = frame(200, 0)
    with_ids = TabularFeatures(fit).transform(fit)
    without = without_raw_ids(with_ids)
    assert set(with_ids.columns) - set(without.columns) == set(RAW_IDS)
    assert list(without.columns) == [column for column in with_ids.columns if column not in RAW_IDS]
    assert {schemas.USER_ID, schemas.ITEM_ID} == set(RAW_IDS)


def test_fit_and_score_keeps_the_try_with_the_best_validation_gauc():
    splits = {name: frame(n, seed) for name, n, seed in (("fit", 1500, 0), ("valid", 400, 1), ("test", 400, 2))}
    frames = {name: f for name, (f, _) in splits.items()}
    labels = {name: y for name, (_, y) in splits.items()}
    config = from_dict(LightGBMConfig, {"num_leaves": [2, 15], "raw_id_categoricals": [True, False], "max_rounds": 60})
    scores, history = fit_and_score(frames, labels, config, seed=0)
    assert len(history["tries"]) == 4
    best = max(history["tries"], key=lambda t: t["valid_gauc"])
    assert history["settings"] == {k: best[k] for k in history["settings"]}
    assert history["valid_gauc"] == best["valid_gauc"] > 0.6
    assert set(scores) == {"fit", "valid", "test"} and scores["test"].shape == (400,)
