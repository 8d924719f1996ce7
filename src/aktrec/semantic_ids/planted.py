"""A planted set for tests and benchmarks that measure what comes after the encoder: DATA
prepared from RAW, planted representations (`aktrec.embed.planted`: category centers plus
noise, so clusters follow what drives clicks) and the semantic IDs built from them, under one
root (root/data, root/emb, root/sid)."""

from __future__ import annotations

from pathlib import Path

from aktrec.config import PrepareConfig, SemanticIdConfig, SplitConfig, from_dict
from aktrec.data.prepare import PreparedData, prepare, write_prepared
from aktrec.data.raw import RawData
from aktrec.embed.planted import write_planted_embeddings
from aktrec.semantic_ids.stage import run_semantic_ids


def build_planted_set(
    root: Path,
    raw: RawData,
    split: SplitConfig,
    codebook_size: int = 16,
    epochs: int = 30,
    noise: float = 0.2,
    validate: bool = False,
) -> PreparedData:
    """Prepare `raw` with `split`, plant its representations and quantize them (RQ-VAE with
    `codebook_size` codes a level, `epochs` of training, clusters of about 3); returns DATA."""
    config = PrepareConfig(split=split)
    data = prepare(raw, config)
    write_prepared(data, root / "data", config, validate=validate)
    write_planted_embeddings(data, root / "emb", noise=noise)
    quantizer = {"codebook_size": codebook_size, "loop": {"epochs": epochs}}
    settings = from_dict(SemanticIdConfig, {"items": quantizer, "users": quantizer, "target_median_cluster_size": 3})
    run_semantic_ids(root / "data", root / "emb", root / "sid", settings)
    return data
