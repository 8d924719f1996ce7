"""Item representations (eq. 1): prompts -> encoder -> collaborative alignment (InfoNCE)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from aktrec import schemas
from aktrec.config import EncoderConfig, ItemEmbedConfig, from_dict, to_dict
from aktrec.data.prepare import PreparedData
from aktrec.embed.cache import encode_with_cache
from aktrec.embed.encoder import ContentEncoder, load_image
from aktrec.embed.modules import ProjectionHead
from aktrec.embed.pairs import mine_pairs, recall_at_k, split_pairs
from aktrec.embed.prompts import ActivityLevels, item_activity, item_prompts
from aktrec.embed.train import align_items

log = logging.getLogger("aktrec")


@dataclass
class ItemEmbedder:
    """Everything needed to embed an item, including one never seen in training (cold start)."""

    encoder: ContentEncoder
    head: ProjectionHead
    levels: ActivityLevels
    positives_only: bool
    config: ItemEmbedConfig

    def images(self, items: pd.DataFrame) -> list | None:
        if not self.encoder.is_vision_text or schemas.IMAGE_URI not in items.columns:
            return None
        return [load_image(uri) for uri in items[schemas.IMAGE_URI]]

    def prompts(self, items: pd.DataFrame, activity: pd.DataFrame | None = None) -> list[str]:
        """Prompts of `items`; items without activity statistics read as the lowest level."""
        if activity is None:
            activity = pd.DataFrame(0.0, index=items[schemas.ITEM_ID], columns=list(self.levels.edges))
        return item_prompts(items, activity, self.levels)

    @torch.no_grad()
    def embed(self, items: pd.DataFrame, activity: pd.DataFrame | None = None, progress: bool = False) -> np.ndarray:
        """(N,) item rows in the data contract -> (N, D) aligned unit vectors."""
        base = self.encoder.encode(self.prompts(items, activity), self.images(items), progress=progress)
        return self.project(base)

    @torch.no_grad()
    def project(self, base: np.ndarray) -> np.ndarray:
        self.head.eval()
        return self.head(torch.from_numpy(base)).numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        encoder_config = self.config.encoder
        if self.config.trainable != "projection":  # the encoder itself changed: ship it
            self.encoder.model.save_pretrained(directory / "encoder")
            self.encoder.tokenizer.save_pretrained(directory / "encoder")
            if self.encoder.image_processor is not None:
                self.encoder.image_processor.save_pretrained(directory / "encoder")
            encoder_config = EncoderConfig(**{**to_dict(encoder_config), "model": "encoder"})
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, directory / "head.safetensors")
        config = {**to_dict(self.config), "encoder": to_dict(encoder_config)}
        (directory / "item_embedder.json").write_text(
            json.dumps(
                {
                    "config": config,
                    "levels": {"edges": self.levels.edges, "n_levels": self.levels.n_levels},
                    "positives_only": self.positives_only,
                    "dim": self.encoder.dim,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> ItemEmbedder:
        saved = json.loads((directory / "item_embedder.json").read_text())
        config_dict = saved["config"]
        if config_dict["encoder"]["model"] == "encoder":
            config_dict["encoder"]["model"] = str(directory / "encoder")
        if device:
            config_dict["encoder"]["device"] = device
        config = from_dict(ItemEmbedConfig, config_dict)
        head = ProjectionHead(saved["dim"])
        head.load_state_dict(load_file(directory / "head.safetensors"))
        return cls(
            ContentEncoder(config.encoder), head, ActivityLevels(**saved["levels"]), saved["positives_only"], config
        )


def item_table(data: PreparedData) -> pd.DataFrame:
    """Items of the data set: the items table, or bare ids when the data came without one."""
    if data.items is not None:
        return data.items.to_pandas()
    ids = pd.unique(pd.concat([data.train[schemas.ITEM_ID], data.test[schemas.ITEM_ID]]))
    return pd.DataFrame({schemas.ITEM_ID: ids, schemas.TITLE: None})


def embed_items(
    data: PreparedData, config: ItemEmbedConfig, progress: bool = False, cache_root: str = ""
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any], ItemEmbedder]:
    """Item ids (N,), aligned embeddings (N, D), metrics and the embedder for cold start. The
    pretrained encoder's vectors come through the representation cache under `cache_root`."""
    started = time.perf_counter()
    items = item_table(data)
    item_index = pd.Index(items[schemas.ITEM_ID])
    events = data.representation_events()  # never a CTR training sample's own label (SplitConfig)
    activity = item_activity(events, item_index, data.positives_only)
    torch.manual_seed(config.seed)  # the head's initialisation: same seed, same embeddings
    encoder = ContentEncoder(config.encoder, for_training=config.trainable != "projection")
    loaded_at = time.perf_counter()
    embedder = ItemEmbedder(
        encoder,
        ProjectionHead(encoder.dim),
        ActivityLevels.fit(activity, config.activity_levels),
        data.positives_only,
        config,
    )
    prompts = embedder.prompts(items, activity)
    images = embedder.images(items)
    prompted_at = time.perf_counter()
    log.info("encoding %s item prompts with %s", f"{len(items):,}", config.encoder.model)
    base = encode_with_cache(encoder, prompts, images, progress, cache_root)
    encoded_at = time.perf_counter()

    rng = np.random.default_rng(config.seed)
    pairs = mine_pairs(events, item_index, config.pair_window, config.pair_min_count).head(config.max_pairs)
    train_pairs, held_out = split_pairs(pairs, config.holdout_fraction, rng)
    recall_before = recall_at_k(base, held_out, config.recall_k)
    losses: list[float] = []
    if len(train_pairs) >= 2:
        if config.trainable == "projection":
            encoder.freeze_except_last_layers(0)
            base_t = torch.from_numpy(base)

            def represent(idx):
                return embedder.head(base_t[idx])
        else:
            encoder.freeze_except_last_layers(config.n_last_layers if config.trainable == "last_layers" else None)
            encoder.model.train()

            def represent(idx):
                return embedder.head(encoder([prompts[i] for i in idx], [images[i] for i in idx] if images else None))

        parameters = [p for p in list(embedder.head.parameters()) + list(encoder.model.parameters()) if p.requires_grad]
        losses = align_items(represent, parameters, train_pairs, len(items), config, progress=progress)
        encoder.model.eval()
    aligned_at = time.perf_counter()
    aligned = (
        embedder.project(base)
        if config.trainable == "projection"
        else embedder.embed(items, activity, progress=progress)
    )
    recall_after = recall_at_k(aligned, held_out, config.recall_k)
    k = config.recall_k
    metrics = {
        "n_items": len(items),
        "dim": int(aligned.shape[1]),
        "model": config.encoder.model,
        "dtype": encoder.dtype,
        "multimodal": encoder.is_vision_text,
        "trainable": config.trainable,
        "n_pairs": len(pairs),
        "n_train_pairs": len(train_pairs),
        "n_holdout_pairs": len(held_out),
        f"holdout_recall@{k}_before": recall_before,
        f"holdout_recall@{k}_after": recall_after,
        "alignment_loss_by_epoch": losses,
        # Where the stage's time goes (docs/benchmarks.md sets the encoding beside a bare forward).
        "seconds_load": loaded_at - started,
        "seconds_prompts": prompted_at - loaded_at,
        "seconds_encode": encoded_at - prompted_at,
        "seconds_align": aligned_at - encoded_at,
        "seconds_total": time.perf_counter() - started,
    }
    log.info("held-out pair recall@%d: %.4f before alignment, %.4f after", k, recall_before, recall_after)
    return items[[schemas.ITEM_ID]], aligned, metrics, embedder
