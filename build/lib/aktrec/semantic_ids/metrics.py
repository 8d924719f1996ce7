"""Quality of semantic IDs: reconstruction, codebook use, collisions, clusters, coherence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from aktrec.semantic_ids.model import RQVAE


@torch.no_grad()
def reconstruction(model: RQVAE, vectors: np.ndarray) -> dict[str, float]:
    x = torch.tensor(vectors, dtype=torch.float32)
    out = model(x)
    cosine = torch.nn.functional.cosine_similarity(out.reconstruction, x, dim=1)
    return {
        "reconstruction_mse": float(out.reconstruction_loss) / x.shape[1],
        "reconstruction_cosine": float(cosine.mean()),
    }


def codebook_usage(codes: np.ndarray, codebook_size: int) -> list[dict[str, float]]:
    """Per level: share of codes used and perplexity (exp of the code distribution's entropy)."""
    levels = []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        levels.append(
            {
                "level": level + 1,
                "utilisation": float((counts > 0).mean()),
                "perplexity": float(np.exp(-(p * np.log(p)).sum())),
            }
        )
    return levels


def collision_rate(codes: np.ndarray) -> float:
    """Share of entities whose full code is shared with at least one other entity."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.ravel()] > 1).mean())


def cluster_sizes(cluster: np.ndarray) -> dict[str, float]:
    _, sizes = np.unique(cluster, return_counts=True)
    return {
        "n_clusters": int(len(sizes)),
        "min": int(sizes.min()),
        "median": float(np.median(sizes)),
        "mean": float(sizes.mean()),
        "p90": float(np.quantile(sizes, 0.9)),
        "max": int(sizes.max()),
        "share_entities_in_singletons": float((sizes == 1).sum() / len(cluster)),
        "median_size_seen_by_entity": float(np.median(np.repeat(sizes, sizes))),
    }


def tail_with_head_share(cluster: np.ndarray, is_tail: np.ndarray) -> float:
    """Share of tail entities whose cluster also holds at least one head entity (the route
    by which head knowledge reaches them)."""
    if not is_tail.any():
        return float("nan")
    has_head = pd.Series(~is_tail).groupby(cluster).any()
    return float(has_head.reindex(cluster[is_tail]).mean())


def purity(cluster: np.ndarray, labels: np.ndarray) -> float:
    """Size-weighted share of each cluster's most common label (entities with a label only)."""
    frame = pd.DataFrame({"cluster": cluster, "label": labels}).dropna()
    if frame.empty:
        return float("nan")
    top = frame.groupby(["cluster", "label"]).size().groupby(level=0).max()
    return float(top.sum() / len(frame))


def purity_against_random(cluster: np.ndarray, labels: np.ndarray, seed: int = 0, repeats: int = 5) -> dict[str, float]:
    """Purity of the clusters and of random groups of the same sizes (labels permuted)."""
    rng = np.random.default_rng(seed)
    random = [purity(cluster, rng.permutation(labels)) for _ in range(repeats)]
    return {"purity": purity(cluster, labels), "random_purity": float(np.mean(random))}


def semantic_id_metrics(
    model: RQVAE,
    vectors: np.ndarray,
    codes: np.ndarray,
    cluster: np.ndarray,
    codebook_size: int,
    prefix: int,
    is_tail: np.ndarray,
    labels: dict[str, np.ndarray],
) -> dict[str, Any]:
    return {
        "n_entities": int(len(codes)),
        "cluster_prefix": prefix,
        **reconstruction(model, vectors),
        "levels": codebook_usage(codes, codebook_size),
        "collision_rate": collision_rate(codes),
        "cluster_collision_rate": collision_rate(cluster[:, None]),
        "cluster_sizes": cluster_sizes(cluster),
        "share_tail": float(is_tail.mean()),
        "tail_with_head_share": tail_with_head_share(cluster, is_tail),
        "coherence": {name: purity_against_random(cluster, values) for name, values in labels.items()},
    }
