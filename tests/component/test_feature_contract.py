"""The FeatureService is the contract: a feature view declared in `definitions` and computed in
`compute` reaches training's point-in-time frames and the predictor's online reads, with no
list to extend anywhere else (the model's use of it is the third file, `ctr/inputs.py`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.features import names as feature_names

NEW_VIEW = "item_title_length"


def test_a_new_feature_view_reaches_training_and_serving(planted_emb, planted_model, tmp_path, monkeypatch):
    from feast import Field
    from feast.types import Float64

    from aktrec.config import ServingConfig
    from aktrec.ctr.bundle import load_bundle
    from aktrec.data.prepare import read_prepared
    from aktrec.features import definitions
    from aktrec.features import stage as feature_stage
    from aktrec.features.retrieval import historical_features
    from aktrec.serving.features import OnlineFeatureReader
    from aktrec.serving.requests import ScoringRequest

    data = read_prepared(planted_emb / "data")
    title_chars = data.items.to_pandas().set_index(schemas.ITEM_ID)[schemas.TITLE].str.len().astype(float)
    view = definitions._view(
        NEW_VIEW, [definitions.item], [Field(name="title_chars", dtype=Float64)], "Length of the item's title."
    )
    monkeypatch.setattr(definitions, "FEATURE_VIEWS", [*definitions.FEATURE_VIEWS, view])  # file 1: declare
    computed = feature_stage.compute_features

    def with_new_view(prepared, users, items, config):  # file 2: compute its table
        views, grid = computed(prepared, users, items, config)
        views[NEW_VIEW] = pd.DataFrame(
            {
                schemas.ITEM_ID: items.ids,
                feature_names.EVENT_TIMESTAMP: grid[0],
                "title_chars": title_chars.reindex(items.ids).to_numpy(),
            }
        )
        return views, grid

    monkeypatch.setattr(feature_stage, "compute_features", with_new_view)
    repo = tmp_path / "repo"
    feature_stage.run_materialize_features(planted_emb / "data", planted_emb / "sid", repo)

    bundle = load_bundle(planted_model)
    users, items = bundle.semantic_tables("user"), bundle.semantic_tables("item")
    column = feature_names.output_column(NEW_VIEW, "title_chars")
    candidates = list(items.ids[:25])
    expected = title_chars.reindex(candidates).to_numpy()
    rows = pd.DataFrame(
        {
            schemas.ROW_ID: np.arange(25),
            schemas.USER_ID: users.ids[0],
            schemas.ITEM_ID: candidates,
            schemas.TS: pd.Timestamp.now(tz="UTC"),
        }
    )
    training = historical_features(repo, rows, users, items)
    np.testing.assert_allclose(training[column].to_numpy(), expected)

    serving = OnlineFeatureReader(repo, bundle, ServingConfig(cache_refresh_seconds=3600)).columns(
        [ScoringRequest(users.ids[0], candidates)]
    )
    np.testing.assert_allclose(serving[column], expected)
    assert f"features.{NEW_VIEW}" in (repo / "validation" / "summary.json").read_text()  # validated too
