"""Features of one user and its candidates from the Feast online store, in the same columns
as training's point-in-time retrieval (so the model reads what it was trained on).

Views keyed by items or clusters (item activity, item semantic IDs and representations,
cluster averages, cluster x cluster cross features, cluster sequences) are the same for every
user: they are read through an in-memory cache (item- and cluster-keyed ones in bulk at load,
composite keys on first use). Refresh rule: every `cache_refresh_seconds` the repository's
marker is checked, and a rematerialized repository (new `created_at`) reopens the store and
empties the cache. User-keyed views (activity, representation, sequence) and the user x
item-cluster cross features are read per request: two `get_online_features` calls.
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
from aktrec.features.repo import REPO_KIND
from aktrec.features.retrieval import LIST_FEATURES
from aktrec.semantic_ids.assign import SemanticIndex

log = logging.getLogger("aktrec")
USER_VIEWS = [N.USER_ACTIVITY, N.USER_SEMANTIC, N.USER_SEQUENCE]  # keyed by the user alone
CROSS_VIEW = N.CROSS_USER_ITEM_CLUSTER  # keyed by the user and the candidate's cluster
SHARED_VIEWS = [view for view in N.VIEWS if view not in (*USER_VIEWS, CROSS_VIEW)]
READ_CHUNK = 1000
NEW_ITEM_CACHE = 10_000


def _keys(view: str) -> list[str]:
    return [N.ENTITIES[entity] for entity in N.VIEWS[view][0]]


def _columns(view: str) -> list[str]:
    return [N.output_column(view, feature) for feature in N.VIEWS[view][1]]


def _column(values: list, is_list: bool) -> np.ndarray:
    """(K,) array of one feature; a list-valued feature keeps one list object per row."""
    if not is_list:
        return np.asarray(values)
    out = np.empty(len(values), dtype=object)
    for n, value in enumerate(values):
        out[n] = value
    return out


def _defaults(view: str, values: list) -> list:
    """Absent features read as training reads them: zeros and empty lists."""
    return [
        ([] if v is None else v) if feature in LIST_FEATURES else (0.0 if v is None else v)
        for feature, v in zip(N.VIEWS[view][1], values)
    ]


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
        self.cache: dict[str, dict[tuple, list]] = {view: {} for view in SHARED_VIEWS}
        self.user_refs = [f"{view}:{feature}" for view in USER_VIEWS for feature in N.VIEWS[view][1]]
        self.cross_refs = [f"{CROSS_VIEW}:{feature}" for feature in N.VIEWS[CROSS_VIEW][1]]
        item_clusters = [(int(c),) for c in np.unique(self.items.cluster)]
        user_clusters = [(int(c),) for c in np.unique(self.users.cluster)]
        known = {
            N.ITEM_ACTIVITY: [(i,) for i in self.items.ids],
            N.ITEM_SEMANTIC: [(i,) for i in self.items.ids],
            N.ITEM_CLUSTER_AVG: item_clusters,
            N.ITEM_CLUSTER_PROFILE: item_clusters,
            N.USER_CLUSTER_AVG: user_clusters,
            N.USER_CLUSTER_PROFILE: user_clusters,
        }
        for view, keys in known.items():
            self._fill(view, keys)
        log.info(
            "feature cache: %s rows from %s in %.1fs",
            f"{sum(len(c) for c in self.cache.values()):,}",
            self.repo,
            time.perf_counter() - started,
        )

    def _fill(self, view: str, keys: list[tuple]) -> None:
        """Read `keys` of a shared view from the online store into the cache."""
        names, refs = _keys(view), [f"{view}:{feature}" for feature in N.VIEWS[view][1]]
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            response = self.store.get_online_features(
                features=refs, entity_rows=[dict(zip(names, k)) for k in chunk], full_feature_names=True
            ).to_dict()
            columns = [response[c] for c in _columns(view)]
            for n, key in enumerate(chunk):
                self.cache[view][key] = _defaults(view, [column[n] for column in columns])

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
        todo = todo.assign(
            **{column: None for column in (S.CATEGORY, "description", "brand", "price") if column not in todo}
        )
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
        for view in SHARED_VIEWS:
            row_keys = list(zip(*(keys[k] for k in _keys(view))))
            missing = list({k for k in row_keys if k not in self.cache[view]})
            if missing:
                self._fill(view, missing)
            values = [self.cache[view][k] for k in row_keys]
            for n, (feature, column) in enumerate(zip(N.VIEWS[view][1], _columns(view))):
                columns[column] = _column([v[n] for v in values], feature in LIST_FEATURES)
        columns.update(self._user_features(user_id, keys[N.ITEM_CLUSTER_ID]))
        embedding = columns[N.output_column(N.ITEM_SEMANTIC, "embedding")]
        for n, item_id in enumerate(item_ids):
            if item_id in self.new_items:
                embedding[n] = self.new_items[item_id][0]
        return columns

    def _user_features(self, user_id: str, item_clusters: list[int]) -> dict[str, np.ndarray]:
        """User-keyed views for every candidate: the user's own views in one single-row read, the
        user x item-cluster view in one read over the distinct clusters (one combined read would
        fetch and convert the user's vectors once per cluster)."""
        own = self.store.get_online_features(
            features=self.user_refs, entity_rows=[{S.USER_ID: user_id}], full_feature_names=True
        ).to_dict()
        distinct = list(dict.fromkeys(item_clusters))
        cross = self.store.get_online_features(
            features=self.cross_refs,
            entity_rows=[{S.USER_ID: user_id, N.ITEM_CLUSTER_ID: c} for c in distinct],
            full_feature_names=True,
        ).to_dict()
        out = {}
        for view in USER_VIEWS:
            for feature, value in zip(N.VIEWS[view][1], _defaults(view, [own[c][0] for c in _columns(view)])):
                out[N.output_column(view, feature)] = _column([value] * len(item_clusters), feature in LIST_FEATURES)
        position = {c: n for n, c in enumerate(distinct)}
        rows = np.fromiter((position[c] for c in item_clusters), dtype=np.int64, count=len(item_clusters))
        per_cluster = [_defaults(CROSS_VIEW, [cross[c][n] for c in _columns(CROSS_VIEW)]) for n in range(len(distinct))]
        for k, column in enumerate(_columns(CROSS_VIEW)):
            out[column] = np.asarray([values[k] for values in per_cluster], dtype=np.float64)[rows]
        return out
