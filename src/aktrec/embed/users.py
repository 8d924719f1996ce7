"""User interest representations (eq. 2): profile + click history -> interest token state."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from aktrec import schemas
from aktrec.artifacts import list_array, list_matrix
from aktrec.config import UserEmbedConfig, from_dict, to_dict
from aktrec.data.prepare import PreparedData
from aktrec.embed.encoder import ContentEncoder
from aktrec.embed.modules import UserInterestModel
from aktrec.embed.prompts import leaf_category, short_title, user_prompt
from aktrec.embed.train import train_user_model

log = logging.getLogger("aktrec")
UNKNOWN_CATEGORY = -100
HEADS = ("to_item", "to_category", "history_to_category")  # what trains besides the language model


@dataclass
class ItemCatalog:
    """What user prompts and targets need of items: short titles, leaf categories, vectors."""

    index: pd.Index  # item ids
    titles: np.ndarray  # (N,) str
    category: np.ndarray  # (N,) int, UNKNOWN_CATEGORY where absent
    categories: list[str]  # category vocabulary
    vectors: np.ndarray  # (N, D) aligned item embeddings

    @classmethod
    def build(cls, items: pd.DataFrame, vectors: np.ndarray, title_words: int) -> ItemCatalog:
        leaf = (
            items[schemas.CATEGORY].map(leaf_category)
            if schemas.CATEGORY in items
            else pd.Series(None, index=items.index)
        )
        categories = sorted(leaf.dropna().unique().tolist())
        codes = pd.Index(categories).get_indexer(leaf.fillna("\0"))
        return cls(
            index=pd.Index(items[schemas.ITEM_ID]),
            titles=np.array(
                [short_title(t, title_words) for t in items.get(schemas.TITLE, pd.Series([None] * len(items)))],
                dtype=object,
            ),
            category=np.where(codes >= 0, codes, UNKNOWN_CATEGORY),
            categories=categories,
            vectors=vectors,
        )

    def positions(self, item_ids: Sequence[str]) -> np.ndarray:
        """Catalog positions of known ids (unknown ids are dropped)."""
        found = self.index.get_indexer(list(item_ids))
        return found[found >= 0]

    def history_mean(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) arrays of catalog positions -> (N, D) mean vectors (zeros for empty histories)."""
        out = np.zeros((len(histories), self.vectors.shape[1]), dtype=np.float32)
        for row, positions in enumerate(histories):
            if len(positions):
                out[row] = self.vectors[positions].mean(axis=0)
        return out


@dataclass
class UserEmbedder:
    """The user model and the item catalog it reads histories from: embeds any user, also one
    never seen in training, from a profile and the ids of its recent clicks."""

    model: UserInterestModel
    catalog: ItemCatalog
    config: UserEmbedConfig

    def inputs(
        self, profiles: Sequence[dict[str, Any]], histories: Sequence[np.ndarray]
    ) -> tuple[list[str], np.ndarray]:
        """Prompts and history means of users whose histories are catalog positions (oldest first)."""
        histories = [np.asarray(h)[-self.config.history_length :] for h in histories]
        prompts = [user_prompt(profile, self.catalog.titles[h].tolist()) for profile, h in zip(profiles, histories)]
        return prompts, self.catalog.history_mean(histories)

    @torch.no_grad()
    def embed(
        self, profiles: Sequence[dict[str, Any]], histories: Sequence[Sequence[str]], progress: bool = False
    ) -> np.ndarray:
        """(N,) profiles and (N,) lists of clicked item ids (oldest first) -> (N, D) unit vectors.
        A new user is embedded the same way (an empty history reads "No clicks yet")."""
        prompts, means = self.inputs(profiles, [self.catalog.positions(h) for h in histories])
        return self.vectors(prompts, means, progress)

    @torch.no_grad()
    def vectors(self, prompts: list[str], history_means: np.ndarray, progress: bool = False) -> np.ndarray:
        """(N, D) user vectors. While the item-space head is zero (training kept epoch 0: the
        language model's correction did not beat the history mean on validation), a vector is
        its history mean, and the language model reads only the prompts of users without clicks:
        such a user is its prompt's (profile's) text vector, in the item space when the user
        and item encoders share it (else the catalog's mean direction)."""
        if any(bool(parameter.detach().any()) for parameter in self.model.to_item.parameters()):
            return self.predict(prompts, history_means, progress)[0]
        out = history_means.astype(np.float32).copy()
        no_clicks = np.flatnonzero(~history_means.any(axis=1))
        if len(no_clicks):
            encoder = self.model.encoder
            out[no_clicks] = (
                encoder.encode([prompts[i] for i in no_clicks])
                if encoder.dim == out.shape[1]
                else self.catalog.vectors.mean(axis=0)
            )
        return torch.nn.functional.normalize(torch.from_numpy(out), dim=-1).numpy()

    @torch.no_grad()
    def predict(
        self, prompts: list[str], history_means: np.ndarray, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Batched inference: ((N, D) user vectors, (N, C) category logits)."""
        self.model.eval()
        states = self.model.interest_states(prompts, progress)
        device = self.model.to_item.weight.device
        vectors, logits = self.model.heads(states.to(device), torch.from_numpy(history_means).to(device))
        return vectors.cpu().numpy(), logits.cpu().numpy()

    def save(self, directory: Path) -> None:
        encoder = self.model.encoder
        encoder.model.save_pretrained(directory / "encoder")
        encoder.tokenizer.save_pretrained(directory / "encoder")
        heads = {f"{name}.{k}": v for name in HEADS for k, v in getattr(self.model, name).state_dict().items()}
        save_file({k: v.contiguous() for k, v in heads.items()}, directory / "heads.safetensors")
        catalog = self.catalog
        pq.write_table(
            pa.table(
                {
                    schemas.ITEM_ID: catalog.index.to_numpy(dtype=str),
                    "title": catalog.titles.astype(str),
                    "category": catalog.category.astype(np.int64),
                    schemas.EMBEDDING: list_array(catalog.vectors.astype(np.float32)),
                }
            ),
            directory / "catalog.parquet",
        )
        config = {**to_dict(self.config), "encoder": {**to_dict(self.config.encoder), "model": "encoder"}}
        (directory / "user_embedder.json").write_text(
            json.dumps({"config": config, "categories": catalog.categories}, indent=2)
        )

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> UserEmbedder:
        directory = Path(directory)
        saved = json.loads((directory / "user_embedder.json").read_text())
        saved["config"]["encoder"]["model"] = str(directory / "encoder")
        if device:
            saved["config"]["encoder"]["device"] = device
        config = from_dict(UserEmbedConfig, saved["config"])
        table = pq.read_table(directory / "catalog.parquet")
        catalog = ItemCatalog(
            index=pd.Index(table[schemas.ITEM_ID].to_pylist()),
            titles=np.array(table["title"].to_pylist(), dtype=object),
            category=table["category"].to_numpy(),
            categories=saved["categories"],
            vectors=list_matrix(table[schemas.EMBEDDING]),
        )
        model = UserInterestModel(ContentEncoder(config.encoder), catalog.vectors.shape[1], len(catalog.categories))
        heads = load_file(directory / "heads.safetensors")
        for name in HEADS:
            getattr(model, name).load_state_dict(
                {k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith(f"{name}.")}
            )
        model.to(model.encoder.device)
        return cls(model.eval(), catalog, config)


def user_profiles(data: PreparedData, user_ids: pd.Index) -> list[dict[str, Any]]:
    if data.users is None:
        return [{} for _ in user_ids]
    users = data.users.to_pandas().set_index(schemas.USER_ID).reindex(user_ids)
    return [{k: v for k, v in row.items() if pd.notna(v)} for row in users.to_dict("records")]


def _clicks(data: PreparedData, catalog: ItemCatalog) -> pd.DataFrame:
    """Observed clicks of the representation events (never a CTR training sample), sorted by
    user and time, with item positions in `catalog`."""
    train = data.representation_events()
    clicks = train[train[schemas.LABEL] == 1].sort_values([schemas.USER_ID, schemas.TS, schemas.ROW_ID], kind="stable")
    clicks = clicks[[schemas.USER_ID, schemas.ITEM_ID]].reset_index(drop=True)
    clicks["item"] = catalog.index.get_indexer(clicks[schemas.ITEM_ID])
    clicks["position"] = clicks.groupby(schemas.USER_ID).cumcount()
    return clicks


def _histories(clicks: pd.DataFrame, rows: np.ndarray, length: int, include_row: bool = False) -> list[np.ndarray]:
    """For each click row, the catalog positions of the same user's up to `length` clicks
    before it (or up to and including it), oldest first."""
    end = rows + int(include_row)
    start = end - np.minimum(clicks["position"].to_numpy()[rows] + int(include_row), length)
    items = clicks["item"].to_numpy()
    return [items[s:e] for s, e in zip(start, end)]


def embed_users(
    data: PreparedData, catalog: ItemCatalog, config: UserEmbedConfig, progress: bool = False, cache_root: str = ""
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any], UserEmbedder]:
    """User ids (U,), interest embeddings (U, D) in item space, metrics, and the embedder. With
    a frozen language model its interest states come through the cache under `cache_root`."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    clicks = _clicks(data, catalog)
    # Samples: every click with at least one earlier click; held-out users give their last one.
    is_sample = (clicks["position"] >= 1).to_numpy()
    last_of_user = ~clicks[schemas.USER_ID].duplicated(keep="last").to_numpy()
    candidates = clicks.loc[is_sample, schemas.USER_ID].unique()
    held_users = (
        set(rng.choice(candidates, size=int(round(config.holdout_users * len(candidates))), replace=False))
        if len(candidates)
        else set()
    )
    held_mask = clicks[schemas.USER_ID].isin(held_users).to_numpy()
    eval_rows = np.flatnonzero(is_sample & held_mask & last_of_user)
    train_rows = np.flatnonzero(is_sample & ~held_mask)
    if len(train_rows) > config.max_train_samples:
        train_rows = np.sort(rng.choice(train_rows, size=config.max_train_samples, replace=False))

    user_index = pd.Index(clicks[schemas.USER_ID].unique())
    profile_of = dict(zip(user_index, user_profiles(data, user_index)))
    torch.manual_seed(config.seed)  # initialisation of the new token and the heads
    encoder = ContentEncoder(config.encoder, for_training=config.trainable != "head")
    model = UserInterestModel(encoder, catalog.vectors.shape[1], len(catalog.categories))
    model.to(encoder.device)
    model.cache_root = cache_root
    encoder.freeze_except_last_layers({"head": 0, "last_layers": config.n_last_layers, "all": None}[config.trainable])
    embedder = UserEmbedder(model, catalog, config)
    items = clicks["item"].to_numpy()

    def samples(rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        profiles = [profile_of[u] for u in clicks[schemas.USER_ID].to_numpy()[rows]]
        prompts, means = embedder.inputs(profiles, _histories(clicks, rows, config.history_length))
        return prompts, means, catalog.vectors[items[rows]], catalog.category[items[rows]]

    log.info(
        "training the user interest model on %s samples (%s held-out users)",
        f"{len(train_rows):,}",
        f"{len(eval_rows):,}",
    )
    prompts, means, targets, categories = samples(train_rows)
    means_t = torch.from_numpy(means).to(encoder.device)
    if config.trainable == "head":
        # The language model is frozen: its interest states are computed once, heads train on them.
        states = model.interest_states(prompts, progress=progress).to(encoder.device)
        forward = lambda idx: model.heads(states[idx], means_t[idx])  # noqa: E731
        parameters = [p for name in HEADS for p in getattr(model, name).parameters()]
    else:
        model.train()
        forward = lambda idx: model([prompts[i] for i in idx], means_t[idx])  # noqa: E731
        parameters = [p for p in model.parameters() if p.requires_grad]
    training = (
        train_user_model(forward, parameters, targets, categories, config, progress=progress) if len(train_rows) else {}
    )
    model.eval()
    trained_at = time.perf_counter()
    metrics: dict[str, Any] = {
        "model": config.encoder.model,
        "dtype": encoder.dtype,
        "trainable": config.trainable,
        "n_train_samples": len(train_rows),
        "n_eval_samples": len(eval_rows),
        "training": training,
    }
    if len(eval_rows):
        metrics.update(_evaluate(embedder, clicks, eval_rows, samples))

    # Every user of the data set, from all their training clicks (new users: profile only).
    all_users = pd.Index(pd.unique(pd.concat([data.train[schemas.USER_ID], data.test[schemas.USER_ID]])))
    if data.users is not None:
        all_users = all_users.union(pd.Index(data.users[schemas.USER_ID].to_pylist()), sort=False)
    last_rows = clicks.groupby(schemas.USER_ID).tail(1)
    history_of = dict(
        zip(
            last_rows[schemas.USER_ID],
            _histories(clicks, last_rows.index.to_numpy(), config.history_length, include_row=True),
        )
    )
    empty = np.zeros(0, dtype=np.int64)
    all_prompts, all_means = embedder.inputs(
        user_profiles(data, all_users), [history_of.get(u, empty) for u in all_users]
    )
    vectors = embedder.vectors(all_prompts, all_means, progress=progress)
    metrics.update(
        {
            "n_users": len(all_users),
            "dim": int(vectors.shape[1]),
            "seconds_train": trained_at - started,
            "seconds_total": time.perf_counter() - started,
        }
    )
    return pd.DataFrame({schemas.USER_ID: all_users}), vectors, metrics, embedder


def _evaluate(embedder: UserEmbedder, clicks: pd.DataFrame, rows: np.ndarray, samples, k: int = 10) -> dict[str, float]:
    """Held-out next click: the model against averaging the history's item embeddings (cosine
    to the next item, recall@k of it among all items) and against the history's most frequent
    category (category accuracy)."""
    catalog = embedder.catalog
    prompts, means, targets, categories = samples(rows)
    predicted, logits = embedder.predict(prompts, means)
    history_mean = means / np.linalg.norm(means, axis=1, keepdims=True).clip(min=1e-12)
    history_mode = np.array(
        [_mode(catalog.category[h]) for h in _histories(clicks, rows, embedder.config.history_length)]
    )
    known = categories != UNKNOWN_CATEGORY
    target_items = clicks["item"].to_numpy()[rows]

    def recall(queries: np.ndarray) -> float:
        scores = queries @ catalog.vectors.T  # (R, N)
        target_score = scores[np.arange(len(rows)), target_items]
        return float(np.mean((scores > target_score[:, None]).sum(axis=1) < k))

    def accuracy(predicted_categories: np.ndarray) -> float:
        return float(np.mean(predicted_categories[known] == categories[known])) if known.any() else float("nan")

    return {
        "heldout_next_item_cosine": float(np.mean(np.sum(predicted * targets, axis=1))),
        "heldout_next_item_cosine_history_mean": float(np.mean(np.sum(history_mean * targets, axis=1))),
        f"heldout_next_item_recall@{k}": recall(predicted),
        f"heldout_next_item_recall@{k}_history_mean": recall(history_mean),
        "heldout_category_accuracy": accuracy(logits.argmax(axis=1)),
        "heldout_category_accuracy_history_mode": accuracy(history_mode),
    }


def _mode(values: np.ndarray) -> int:
    """Most frequent known category, the most recent one on ties."""
    values = values[values != UNKNOWN_CATEGORY]
    if not len(values):
        return UNKNOWN_CATEGORY
    uniques, counts = np.unique(values, return_counts=True)
    best = uniques[counts == counts.max()]
    return int(next(v for v in values[::-1] if v in best))
