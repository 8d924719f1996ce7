"""What head→tail transfer and the gates did (issue: long-tail gain, item 3), for metrics.json.

Transfer (eq. 4) pulls a tail id's cluster embedding c toward its cluster's head ids. Measured
on the embedding tables before and after training: the mean cosine between each tail id's c
and the mean c of its cluster's head ids, and the mean norms of c and d for head and tail ids.
The gates (G1 of eq. 6 per entity, G2 of eq. 10) are averaged over head and tail samples: a
gate that reads the same on both has learned nothing about activity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from aktrec.ctr.inputs import UNKNOWN, CtrInputs
from aktrec.ctr.modules import AdaptiveEmbedding, AktRec


@torch.no_grad()
def embedding_transfer(table: AdaptiveEmbedding) -> dict[str, Any] | None:
    """Cosine of tail ids' c to their cluster's head mean, and mean norms of c and d for head
    and tail ids; None when the model has no cluster embedding."""
    if table.cluster is None:
        return None
    known = torch.arange(len(table.cluster_of)) != UNKNOWN
    head, tail = known & ~table.is_tail, known & table.is_tail
    c = table.cluster.weight
    n_clusters = len(table.cluster_init)
    sums = torch.zeros(n_clusters, c.shape[1]).index_add(0, table.cluster_of[head], c[head])
    head_counts = torch.bincount(table.cluster_of[head], minlength=n_clusters)
    paired = tail & (head_counts[table.cluster_of] > 0)  # tail ids whose cluster has a head id
    head_mean = sums / head_counts.clamp(min=1).unsqueeze(1)
    cosine = F.cosine_similarity(c[paired], head_mean[table.cluster_of[paired]], dim=1)
    out: dict[str, Any] = {
        "tail_ids": int(tail.sum()),
        "tail_ids_with_head_in_cluster": int(paired.sum()),
        "tail_to_cluster_head_cosine": float(cosine.mean()) if len(cosine) else None,
        "head_cluster_norm": _mean_norm(c[head]),
        "tail_cluster_norm": _mean_norm(c[tail]),
    }
    if table.individual is not None:
        out["head_individual_norm"] = _mean_norm(table.individual.weight[head])
        out["tail_individual_norm"] = _mean_norm(table.individual.weight[tail])
    return out


def _mean_norm(rows: torch.Tensor) -> float | None:
    return float(rows.norm(dim=1).mean()) if len(rows) else None


def transfer_state(model: AktRec) -> dict[str, Any]:
    return {"users": embedding_transfer(model.users), "items": embedding_transfer(model.items)}


@torch.no_grad()
def gate_means(model: AktRec, inputs: CtrInputs, is_tail: np.ndarray, batch_size: int = 8192) -> dict[str, Any]:
    """Mean of each gate over the head and the tail samples of `inputs` (is_tail: (N,) bool)."""
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(inputs), batch_size):
        batch = inputs.batch(np.arange(start, min(start + batch_size, len(inputs))))
        for name, values in model.gates(batch).items():
            parts.setdefault(name, []).append(values)
    tail = torch.from_numpy(np.asarray(is_tail, dtype=bool))
    out = {}
    for name, chunks in parts.items():
        values = torch.cat(chunks)
        out[name] = {
            "head": float(values[~tail].mean()) if (~tail).any() else None,
            "tail": float(values[tail].mean()) if tail.any() else None,
        }
    return out
