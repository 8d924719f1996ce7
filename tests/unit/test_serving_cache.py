"""The predictor's in-memory shared views: every recorded key reads its row, any other key the
view's defaults, and what clients send is never stored (memory does not grow with it)."""

from __future__ import annotations

import numpy as np

from aktrec.features.contract import ViewContract
from aktrec.serving.features import CachedView

VIEW = ViewContract(
    name="item_activity",
    join_keys=("item_id",),
    features=("clicks", "recent"),
    list_features=frozenset({"recent"}),
)


def test_recorded_keys_read_their_rows_and_unknown_keys_the_defaults_without_being_stored():
    cached = CachedView(VIEW, [("i1",), ("i2",)], [[3.0, ["a"]], [5.0, ["b", "c"]]])
    unknown = [(f"never-seen-{n}",) for n in range(100_000)]
    rows = cached.rows([("i2",), *unknown[:2], ("i1",)])
    clicks, recent = (column[rows] for column in cached.columns)
    assert clicks.tolist() == [5.0, 0.0, 0.0, 3.0]
    assert recent.tolist() == [["b", "c"], [], [], ["a"]]
    assert (cached.rows(unknown) == 0).all()
    assert len(cached) == 2 and [len(column) for column in cached.columns] == [3, 3]  # defaults + 2 rows


def test_an_empty_view_serves_only_defaults():
    cached = CachedView(VIEW)
    assert len(cached) == 0
    assert np.asarray(cached.columns[0][cached.rows([("i1",)])]).tolist() == [0.0]
