"""Offline scoring (`aktrec score`): a bundle's click probabilities for a table of requests,
with the point-in-time features of each request's time from the repository's offline store,
so campaigns and back-fills see what the online predictor would have answered then."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.artifacts import read_marker
from aktrec.ctr.bundle import load_bundle, predict
from aktrec.ctr.inputs import UNKNOWN
from aktrec.data.contract import normalize_score_requests
from aktrec.features.repo import REPO_KIND
from aktrec.features.retrieval import historical_features, join_engine

REQUEST = "request"  # the request's row in the requests table


def score_requests(model: Path, repo: Path, requests: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per (request, candidate), in the table's order: the request's row, the
    candidate's position, user, item, the time features were read at, the score and whether
    the model knew the user and the item. Requests without a time are read at `now`."""
    bundle = load_bundle(model)
    marker = read_marker(repo, REPO_KIND)
    bundle.check_repository(Path(repo), marker)
    table = normalize_score_requests(requests, now if now is not None else pd.Timestamp.now(tz="UTC"))
    sizes = table[schemas.ITEM_IDS].map(len).to_numpy()
    samples = pd.DataFrame(
        {
            schemas.ROW_ID: np.arange(sizes.sum()),
            REQUEST: np.repeat(np.arange(len(table)), sizes),
            schemas.POSITION: np.concatenate([np.arange(size) for size in sizes]).astype(np.int32),
            schemas.USER_ID: np.repeat(table[schemas.USER_ID].to_numpy(), sizes),
            schemas.ITEM_ID: [item for items in table[schemas.ITEM_IDS] for item in items],
            schemas.TS: np.repeat(table[schemas.TS].to_numpy(), sizes),
        }
    )
    frame = historical_features(
        Path(repo),
        samples,
        bundle.semantic_tables("user"),
        bundle.semantic_tables("item"),
        join_engine(marker["config"]),
    )
    inputs = bundle.encode(frame)
    return samples.drop(columns=schemas.ROW_ID).assign(
        **{
            schemas.SCORE: predict(bundle.model, inputs).astype(np.float32),
            schemas.UNKNOWN_USER: inputs.ids["user"] == UNKNOWN,
            schemas.UNKNOWN_ITEM: inputs.ids["item"] == UNKNOWN,
            schemas.VARIANT: bundle.variant,
        }
    )
