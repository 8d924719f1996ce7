"""Features of one user and its candidates from the Feast online store, in the same columns
as training's point-in-time retrieval (so the model reads what it was trained on).

The views, their keys and features come from the repository's FeatureService. Views whose
join keys do not include the user (item activity and representations, cluster averages and
profiles, cluster x cluster cross features, cluster sequences) are the same for every user:
they are read through an in-memory cache (item- and cluster-keyed ones in bulk at load,
composite keys on first use). Refresh rule: every `cache_refresh_seconds` the repository's
marker is checked, and a rematerialized repository (new `created_at`) reopens the store and
empties the cache. Views keyed by the user are read per request: one read of the user's own
views, one per view keyed by the user and a candidate's key (today: user x item cluster).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas as S
from aktrec.artifacts import read_marker
from aktrec.ctr.bundle import ModelBundle
from aktrec.embed.items import ItemEmbedder
from aktrec.errors import ArtifactError
from aktrec.features import names as N
from aktrec.features.contract import ViewContract, stored_contract
from aktrec.features.online import online_store_problem, unreachable
from aktrec.features.repo import REPO_KIND
from aktrec.semantic_ids.assign import SemanticIndex
from aktrec.serving.requests import NewItem

log = logging.getLogger("aktrec")
READ_CHUNK = 1000
STORE_CHECK_SECONDS = 2.0
NEW_ITEM_CACHE = 10_000


def _column(values: list, is_list: bool) -> np.ndarray:
    """(K,) array of one feature; a list-valued feature keeps one list object per row."""
    if not is_list:
        return np.asarray(values)
    out = np.empty(len(values), dtype=object)
    for n, value in enumerate(values):
        out[n] = value
    return out


class OnlineFeatureReader:
    def __init__(self, repo: Path, bundle: ModelBundle, refresh_seconds: float) -> None:
        self.repo, self.bundle, self.refresh_seconds = Path(repo), bundle, refresh_seconds
        self.users, self.items = bundle.semantic_tables("user"), bundle.semantic_tables("item")
        self.item_index = SemanticIndex.load(bundle.path / "semantic", "item")
        embedder_dir = bundle.path / "item_embedder"
        self.item_embedder = ItemEmbedder.load(embedder_dir) if embedder_dir.is_dir() else None
        self.new_items: OrderedDict[str, tuple[np.ndarray, int, int]] = OrderedDict()
        self._open()

    def _open(self) -> None:
        from feast import FeatureStore

        marker = read_marker(self.repo, REPO_KIND)
        if marker["feature_service"] != self.bundle.feature_service:
            raise ArtifactError(
                f"{self.repo}: serves feature service {marker['feature_service']!r}, but the model was "
                f"trained with {self.bundle.feature_service!r}"
            )
        started = time.perf_counter()
        self.store = FeatureStore(repo_path=str(self.repo))
        self.version, self.checked = marker["created_at"], time.monotonic()
        contract = stored_contract(self.store, self.bundle.feature_service)
        # Key groups from the views' join keys: the user's own views are one single-row read,
        # views keyed by the user and a candidate's key one read over the distinct keys, and
        # every view not keyed by the user is the same for all users: cached.
        self.own_views = [view for view in contract if view.join_keys == (S.USER_ID,)]
        self.user_x_views = [view for view in contract if S.USER_ID in view.join_keys and len(view.join_keys) > 1]
        self.shared_views = [view for view in contract if S.USER_ID not in view.join_keys]
        self.own_refs = [ref for view in self.own_views for ref in view.refs]
        self.cache: dict[str, dict[tuple, list]] = {view.name: {} for view in self.shared_views}
        self.store_problem, self.store_checked = online_store_problem(self.store, self.repo), time.monotonic()
        if self.store_problem:  # warm nothing from a store that cannot serve: it would cache zeros
            log.warning("not serving: %s", self.store_problem)
            return
        known_keys = {
            S.ITEM_ID: [(i,) for i in self.items.ids],
            N.ITEM_CLUSTER_ID: [(int(c),) for c in np.unique(self.items.cluster)],
            N.USER_CLUSTER_ID: [(int(c),) for c in np.unique(self.users.cluster)],
        }
        for view in self.shared_views:
            if len(view.join_keys) == 1 and view.join_keys[0] in known_keys:
                self._fill(view, known_keys[view.join_keys[0]])
        log.info(
            "feature cache: %s rows from %s in %.1fs",
            f"{sum(len(c) for c in self.cache.values()):,}",
            self.repo,
            time.perf_counter() - started,
        )

    def _fill(self, view: ViewContract, keys: list[tuple]) -> None:
        """Read `keys` of a shared view from the online store into the cache."""
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            for key, values in zip(chunk, self._read(view, [dict(zip(view.join_keys, k)) for k in chunk])):
                self.cache[view.name][key] = values

    def _read(self, view: ViewContract, rows: list[dict]) -> list[list]:
        """Feature values of one view for entity rows, one list per row, absent ones as defaults."""
        response = self.store.get_online_features(
            features=view.refs, entity_rows=rows, full_feature_names=True
        ).to_dict()
        columns = [response[column] for column in view.columns]
        return [view.defaults([column[n] for column in columns]) for n in range(len(rows))]

    def online_problem(self) -> str | None:
        """Why the online store cannot serve this deployment now (None when it can); checked at
        most every STORE_CHECK_SECONDS. When a problem clears, the cache is warmed anew."""
        if time.monotonic() - self.store_checked >= STORE_CHECK_SECONDS:
            had_problem = self.store_problem is not None
            self.store_problem, self.store_checked = online_store_problem(self.store, self.repo), time.monotonic()
            if had_problem and self.store_problem is None:
                log.info("the online store can serve again: warming the feature cache")
                self._open()
        return self.store_problem

    def lost_store(self, exc: BaseException) -> str:
        """An online read failed for want of the store: not servable until a check finds it back."""
        self.store_problem, self.store_checked = unreachable(exc), time.monotonic()
        log.warning("not serving: %s", self.store_problem)
        return self.store_problem

    def refresh_if_rematerialized(self) -> None:
        if time.monotonic() - self.checked < self.refresh_seconds:
            return
        self.checked = time.monotonic()
        if read_marker(self.repo, REPO_KIND)["created_at"] != self.version:
            log.info("feature repository %s was rematerialized: reloading the feature cache", self.repo)
            self._open()

    def _describe_new_items(self, new_items: pd.DataFrame | None) -> None:
        """Representation, cluster and top-level id of items described in the request."""
        if new_items is None or self.item_embedder is None:
            return
        todo = new_items[
            ~new_items[S.ITEM_ID].isin(self.new_items.keys()) & (self.items.ids.get_indexer(new_items[S.ITEM_ID]) < 0)
        ]
        if todo.empty:
            return
        todo = todo.assign(**{column: None for column in NewItem.model_fields if column not in todo})
        vectors = self.item_embedder.embed(todo)
        codes = self.item_index.codes(vectors)
        clusters = self.item_index.clusters(codes)
        for item_id, vector, cluster, top in zip(todo[S.ITEM_ID], vectors, clusters, codes[:, 0]):
            self.new_items[item_id] = (vector.astype(np.float32), int(cluster), int(top))
        while len(self.new_items) > NEW_ITEM_CACHE:
            self.new_items.popitem(last=False)

    def columns(
        self, user_id: str, item_ids: list[str], new_items: pd.DataFrame | None = None
    ) -> dict[str, np.ndarray]:
        """One row per candidate, in order, with every feature column of the feature service:
        column name -> (K,) array (list-valued features: one object per row). Plain arrays, not
        a DataFrame: building one costs more than the model's forward pass at these sizes."""
        self.refresh_if_rematerialized()
        self._describe_new_items(new_items)
        ids = pd.Series(item_ids)
        user_cluster = int(self.users.lookup(pd.Series([user_id]), self.users.cluster, -1)[0])
        item_cluster = self.items.lookup(ids, self.items.cluster, -1).astype(np.int64)
        item_top = self.items.lookup(ids, self.items.codes[:, 0].astype(np.int64), -1).astype(np.int64)
        for n, item_id in enumerate(item_ids):
            if item_id in self.new_items:
                _, item_cluster[n], item_top[n] = self.new_items[item_id]
        keys = {
            S.USER_ID: [user_id] * len(ids),
            S.ITEM_ID: item_ids,
            N.USER_CLUSTER_ID: [user_cluster] * len(ids),
            N.ITEM_CLUSTER_ID: item_cluster.tolist(),
            N.ITEM_TOP_ID: item_top.tolist(),
        }
        columns = {
            S.ROW_ID: np.arange(len(ids)),
            **{key: _column(values, is_list=False) for key, values in keys.items()},
        }
        for view in self.shared_views:
            row_keys = list(zip(*(keys[k] for k in view.join_keys)))
            missing = list({k for k in row_keys if k not in self.cache[view.name]})
            if missing:
                self._fill(view, missing)
            self._put(columns, view, [self.cache[view.name][k] for k in row_keys])
        self._user_features(columns, keys)
        embedding = columns[N.output_column(N.ITEM_SEMANTIC, "embedding")]
        for n, item_id in enumerate(item_ids):
            if item_id in self.new_items:
                embedding[n] = self.new_items[item_id][0]
        return columns

    @staticmethod
    def _put(columns: dict[str, np.ndarray], view: ViewContract, rows: list[list]) -> None:
        """Store one view's values (one list per candidate) as feature columns."""
        for n, (feature, column) in enumerate(zip(view.features, view.columns)):
            columns[column] = _column([values[n] for values in rows], feature in view.list_features)

    def _user_features(self, columns: dict[str, np.ndarray], keys: dict[str, list]) -> None:
        """User-keyed views for every candidate: the user's own views in one single-row read,
        each view keyed by the user and a candidate's key in one read over the distinct keys
        (one combined read would fetch and convert the user's vectors once per candidate)."""
        n_rows = len(keys[S.USER_ID])
        own = self.store.get_online_features(
            features=self.own_refs, entity_rows=[{S.USER_ID: keys[S.USER_ID][0]}], full_feature_names=True
        ).to_dict()
        for view in self.own_views:
            values = view.defaults([own[column][0] for column in view.columns])
            self._put(columns, view, [values] * n_rows)
        for view in self.user_x_views:
            row_keys = list(zip(*(keys[k] for k in view.join_keys)))
            distinct = list(dict.fromkeys(row_keys))
            read = dict(zip(distinct, self._read(view, [dict(zip(view.join_keys, k)) for k in distinct])))
            self._put(columns, view, [read[k] for k in row_keys])
