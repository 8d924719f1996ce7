"""Features of scoring requests from the Feast online store, in the same columns as training's
point-in-time retrieval (so the model reads what it was trained on).

The views, their keys and features come from the repository's FeatureService. Views whose
join keys do not include the user (item activity and representations, cluster averages and
profiles, cluster x cluster cross features, cluster sequences) are the same for every user:
they are served from memory, warmed at load from the keys materialization recorded
(`online_keys/`), so no request pays a first-use read: a key not recorded has no row and reads
as the view's defaults, without being stored. Views keyed by the user are read per
batch of requests: one read of the users' own views, one per view keyed by the user and a
candidate's key (today: user x item cluster) over the distinct keys.

A rematerialized repository (new `created_at`, checked every `cache_refresh_seconds`) and an
online store that can serve again are loaded in a background thread: requests keep being
answered from the current materialization until the new one is warm, then it is swapped in.
"""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.artifacts import read_marker
from aktrec.config import ServingConfig
from aktrec.ctr.bundle import ModelBundle
from aktrec.embed.items import ItemEmbedder
from aktrec.errors import AktrecError, ArtifactError
from aktrec.features import names as feature_names
from aktrec.features.contract import ViewContract, stored_contract
from aktrec.features.online import online_store_problem
from aktrec.features.repo import ONLINE_KEYS_DIR, REPO_KIND, open_feature_store
from aktrec.semantic_ids.assign import SemanticIndex
from aktrec.serving.requests import NewItem, ScoringRequest

log = logging.getLogger("aktrec")
READ_CHUNK = 1000
STORE_CHECK_SECONDS = 2.0


def _column(values: list, is_list: bool) -> np.ndarray:
    """(K,) array of one feature; a list-valued feature keeps one list object per row."""
    if not is_list:
        return np.asarray(values)
    out = np.empty(len(values), dtype=object)
    for n, value in enumerate(values):
        out[n] = value
    return out


def _arrays(view: ViewContract, values: list) -> list:
    """Representations as float32 arrays, once when read: the encoder stacks arrays far faster
    than it converts Python lists of floats on every request."""
    return [
        np.asarray(value, dtype=np.float32) if feature in view.vector_features and len(value) else value
        for feature, value in zip(view.features, values)
    ]


class CachedView:
    """A shared view in memory, column by column: key -> row position, and per feature one
    array over the rows, so a request's rows are gathered with one numpy take per feature.

    Built once from every key materialization recorded; row 0 holds the view's defaults, which
    any other key reads (it has no row: a cluster pair without clicks, a new or misspelled
    item). Unknown keys are looked up, never stored: memory does not grow with what clients send.
    """

    def __init__(self, view: ViewContract, keys: list[tuple] = (), rows: list[list] = ()) -> None:
        self.view = view
        self.positions = {key: n for n, key in enumerate(keys, start=1)}
        table = [view.defaults([None] * len(view.features)), *rows]
        self.columns = [
            _column([values[n] for values in table], feature in view.list_features)
            for n, feature in enumerate(view.features)
        ]

    def __len__(self) -> int:
        return len(self.positions)

    def rows(self, keys: list[tuple]) -> np.ndarray:
        """Row positions of `keys`; 0 (the defaults) where a key has no row."""
        return np.fromiter((self.positions.get(key, 0) for key in keys), dtype=np.int64, count=len(keys))


@dataclass
class Materialization:
    """One materialization as the predictor reads it: the open store, the views grouped by
    their keys, and the shared views in memory."""

    store: object
    version: str
    own_views: list[ViewContract]  # keyed by the user alone: one single-row read per user
    user_x_views: list[ViewContract]  # keyed by the user and a candidate's key
    shared_views: list[ViewContract]  # not keyed by the user: the same for everyone, cached
    cache: dict[str, CachedView]

    @property
    def own_refs(self) -> list[str]:
        return [ref for view in self.own_views for ref in view.refs]

    def read(self, view: ViewContract, keys: list[tuple]) -> list[list]:
        """Feature values of one view for entity keys, one list per key, absent ones as defaults."""
        out: list[list] = []
        for start in range(0, len(keys), READ_CHUNK):
            rows = [dict(zip(view.join_keys, key)) for key in keys[start : start + READ_CHUNK]]
            response = self.store.get_online_features(
                features=view.refs, entity_rows=rows, full_feature_names=True
            ).to_dict()
            columns = [response[column] for column in view.columns]
            out += [_arrays(view, view.defaults([column[n] for column in columns])) for n in range(len(rows))]
        return out

    def warm(self, repo: Path) -> None:
        """Every key materialization recorded for the shared views, read in bulk."""
        for view in self.shared_views:
            keys_file = repo / ONLINE_KEYS_DIR / f"{view.name}.parquet"
            if not keys_file.is_file():
                raise ArtifactError(f"{keys_file}: missing (the repository predates recorded keys); rematerialize it")
            recorded = pd.read_parquet(keys_file, columns=list(view.join_keys))
            keys = [tuple(key) for key in recorded.itertuples(index=False, name=None)]
            self.cache[view.name] = CachedView(view, keys, self.read(view, keys))


def _out_of_collection() -> None:
    """The bundle and a warmed cache live as long as they serve: frozen out of the cyclic
    collector's sight, a full collection does not walk them in the middle of a request (it
    did: p99 350 ms under load with Redis, 77 ms frozen)."""
    gc.collect()
    gc.freeze()


class OnlineFeatureReader:
    def __init__(self, repo: Path, bundle: ModelBundle, config: ServingConfig = ServingConfig()) -> None:
        self.repo, self.bundle, self.config = Path(repo), bundle, config
        self.users, self.items = bundle.semantic_tables("user"), bundle.semantic_tables("item")
        self.item_index = SemanticIndex.load(bundle.path / "semantic", "item")
        embedder_dir = bundle.path / "item_embedder"
        self.item_embedder = ItemEmbedder.load(embedder_dir) if embedder_dir.is_dir() else None
        self.new_items: OrderedDict[str, tuple[np.ndarray, int, int]] = OrderedDict()
        self.loading: threading.Thread | None = None
        self.store_check: concurrent.futures.Future | None = None
        self.checker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="aktrec-store-check")
        self.materialization, self.store_problem = self._load()
        self.checked = self.store_checked = time.monotonic()
        _out_of_collection()

    def _load(self) -> tuple[Materialization, str | None]:
        """Open the repository's store and warm its shared views (not from a store that cannot
        serve: that would cache defaults); returns it with the store's problem, if any."""
        marker = read_marker(self.repo, REPO_KIND)
        self.bundle.check_repository(self.repo, marker)
        started = time.perf_counter()
        store = open_feature_store(self.repo)
        contract = stored_contract(store, self.bundle.feature_service)
        shared = [view for view in contract if schemas.USER_ID not in view.join_keys]
        materialization = Materialization(
            store=store,
            version=marker["created_at"],
            own_views=[view for view in contract if view.join_keys == (schemas.USER_ID,)],
            user_x_views=[view for view in contract if schemas.USER_ID in view.join_keys and len(view.join_keys) > 1],
            shared_views=shared,
            cache={view.name: CachedView(view) for view in shared},
        )
        problem = online_store_problem(store, self.repo)
        if problem:
            log.warning("not serving: %s", problem)
            return materialization, problem
        materialization.warm(self.repo)
        log.info(
            "feature cache: %s rows from %s in %.1fs",
            f"{sum(len(c) for c in materialization.cache.values()):,}",
            self.repo,
            time.perf_counter() - started,
        )
        return materialization, None

    def _reload_in_background(self, why: str) -> None:
        """Load the repository anew in a thread and swap it in when warm; until then the
        current materialization answers. A load that fails leaves the current one serving."""
        if self.loading is not None and self.loading.is_alive():
            return

        def load() -> None:
            try:
                self.materialization, self.store_problem = self._load()
                _out_of_collection()
            except (AktrecError, OSError) as exc:  # e.g. a repository for another model: keep serving this one
                log.error("not reloading the feature repository (%s): %s", why, exc)

        log.info("%s: loading the feature repository in the background", why)
        self.loading = threading.Thread(target=load, name="aktrec-feature-reload", daemon=True)
        self.loading.start()

    def online_problem(self) -> str | None:
        """Why the online store cannot serve this deployment now (None when it can). Never
        blocks: the store is checked on a thread at most every STORE_CHECK_SECONDS, and a check
        still unanswered past the deadline is itself the problem (a hung store). When a problem
        clears, the cache is warmed anew."""
        now = time.monotonic()
        if self.store_check is not None and not self.store_check.done():
            if now - self.store_checked > self.config.store_deadline_s:
                self.store_problem = self.stalled_store()
        elif now - self.store_checked >= STORE_CHECK_SECONDS:
            self.store_checked = now
            self.store_check = self.checker.submit(self._check_store)
        return self.store_problem

    def logged_features(self) -> dict[str, list[str]]:
        """The feature columns the model reads, as the prediction log records them: scalar
        values, and list-valued ones (vectors, sequences) by their digest."""
        materialization = self.materialization
        views = [*materialization.own_views, *materialization.user_x_views, *materialization.shared_views]
        pairs = [
            (feature in view.list_features, column)
            for view in views
            for feature, column in zip(view.features, view.columns)
        ]
        return {
            "scalar_features": [column for is_list, column in pairs if not is_list],
            "list_features": [column for is_list, column in pairs if is_list],
        }

    def _check_store(self) -> None:
        had_problem = self.store_problem is not None
        self.store_problem = online_store_problem(self.materialization.store, self.repo)
        if had_problem and self.store_problem is None:
            self._reload_in_background("the online store can serve again")

    def stalled_store(self) -> str:
        return f"the online store did not answer within {self.config.store_deadline_s:g}s"

    def lost_store(self, problem: str) -> str:
        """An online read failed or hung for want of the store: not servable until a check finds it back."""
        self.store_problem, self.store_checked = problem, time.monotonic()
        log.warning("not serving: %s", self.store_problem)
        return self.store_problem

    def refresh_if_rematerialized(self) -> None:
        if time.monotonic() - self.checked < self.config.cache_refresh_seconds:
            return
        self.checked = time.monotonic()
        try:
            version = read_marker(self.repo, REPO_KIND)["created_at"]
        except ArtifactError:  # caught between the two renames of a swap: look again next time
            return
        if version != self.materialization.version:
            self._reload_in_background(f"feature repository {self.repo} was rematerialized")

    def _describe_new_items(self, new_items: pd.DataFrame | None) -> None:
        """Representation, cluster and top-level id of items described in the requests."""
        if new_items is None or self.item_embedder is None:
            return
        todo = new_items[
            ~new_items[schemas.ITEM_ID].isin(self.new_items.keys())
            & (self.items.ids.get_indexer(new_items[schemas.ITEM_ID]) < 0)
        ].drop_duplicates(schemas.ITEM_ID)
        if todo.empty:
            return
        todo = todo.assign(**{column: None for column in NewItem.model_fields if column not in todo})
        vectors = self.item_embedder.embed(todo)
        codes = self.item_index.codes(vectors)
        clusters = self.item_index.clusters(codes)
        for item_id, vector, cluster, top in zip(todo[schemas.ITEM_ID], vectors, clusters, codes[:, 0]):
            self.new_items[item_id] = (vector.astype(np.float32), int(cluster), int(top))
        while len(self.new_items) > self.config.new_item_cache_size:
            self.new_items.popitem(last=False)

    def columns(self, requests: list[ScoringRequest]) -> dict[str, np.ndarray]:
        """One row per (request, candidate), requests one after another and candidates in order,
        with every feature column of the feature service: column name -> (rows,) array
        (list-valued features: one object per row). Plain arrays, not a DataFrame: building one
        costs more than the model's forward pass at these sizes."""
        self.refresh_if_rematerialized()
        described = [r.new_items for r in requests if r.new_items is not None]
        self._describe_new_items(pd.concat(described, ignore_index=True) if described else None)
        materialization = self.materialization  # one materialization for the whole batch, even if swapped meanwhile
        item_ids = [item_id for r in requests for item_id in r.item_ids]
        user_ids = [r.user_id for r in requests for _ in r.item_ids]
        ids = pd.Series(item_ids)
        user_cluster = self.users.lookup(pd.Series(user_ids), self.users.cluster, -1).astype(np.int64)
        item_cluster = self.items.lookup(ids, self.items.cluster, -1).astype(np.int64)
        item_top = self.items.lookup(ids, self.items.codes[:, 0].astype(np.int64), -1).astype(np.int64)
        for n, item_id in enumerate(item_ids):
            if item_id in self.new_items:
                _, item_cluster[n], item_top[n] = self.new_items[item_id]
        keys = {
            schemas.USER_ID: user_ids,
            schemas.ITEM_ID: item_ids,
            feature_names.USER_CLUSTER_ID: user_cluster.tolist(),
            feature_names.ITEM_CLUSTER_ID: item_cluster.tolist(),
            feature_names.ITEM_TOP_ID: item_top.tolist(),
        }
        columns = {
            schemas.ROW_ID: np.arange(len(ids)),
            **{key: _column(values, is_list=False) for key, values in keys.items()},
        }
        for view in materialization.shared_views:
            cached = materialization.cache[view.name]
            row_keys = list(zip(*(keys[k] for k in view.join_keys)))
            rows = cached.rows(row_keys)
            for column, values in zip(view.columns, cached.columns):
                columns[column] = values[rows]
        self._user_features(materialization, columns, keys)
        embedding = columns[feature_names.output_column(feature_names.ITEM_SEMANTIC, "embedding")]
        for n, item_id in enumerate(item_ids):
            if item_id in self.new_items:
                embedding[n] = self.new_items[item_id][0]
        return columns

    @staticmethod
    def _put(columns: dict[str, np.ndarray], view: ViewContract, rows: list[list]) -> None:
        """Store one view's values (one list per row) as feature columns."""
        for n, (feature, column) in enumerate(zip(view.features, view.columns)):
            columns[column] = _column([values[n] for values in rows], feature in view.list_features)

    @staticmethod
    def _user_features(materialization: Materialization, columns: dict[str, np.ndarray], keys: dict) -> None:
        """User-keyed views for every row: the users' own views in one read over the distinct
        users, each view keyed by the user and a candidate's key in one read over the distinct
        keys (one combined read would fetch and convert a user's vectors once per candidate)."""
        users = list(dict.fromkeys(keys[schemas.USER_ID]))
        own = materialization.store.get_online_features(
            features=materialization.own_refs,
            entity_rows=[{schemas.USER_ID: u} for u in users],
            full_feature_names=True,
        ).to_dict()
        for view in materialization.own_views:
            values = (_arrays(view, view.defaults([own[c][n] for c in view.columns])) for n in range(len(users)))
            per_user = dict(zip(users, values))
            OnlineFeatureReader._put(columns, view, [per_user[u] for u in keys[schemas.USER_ID]])
        for view in materialization.user_x_views:
            row_keys = list(zip(*(keys[k] for k in view.join_keys)))
            distinct = list(dict.fromkeys(row_keys))
            read = dict(zip(distinct, materialization.read(view, distinct)))
            OnlineFeatureReader._put(columns, view, [read[k] for k in row_keys])
