"""Contrastive and user-representation losses."""

from __future__ import annotations

import torch
from torch import nn


def info_nce(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    contrast: torch.Tensor | None,
    temperature: float,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE against the batch's other partners plus K shared contrast samples.

    anchor, positive: (B, D) unit vectors, row i of `positive` is the partner of row i;
    contrast: (K, D) unit vectors or None. Logits of row i: [a_i·p_j for all j, a_i·n_k for
    all k] / temperature, target j = i. `groups` (B,): a partner j ≠ i of the same group is not
    contrasted with row i (it is left out of row i's softmax).
    """
    logits = anchor @ positive.T
    if groups is not None:
        same = (groups.unsqueeze(0) == groups.unsqueeze(1)) & ~torch.eye(len(groups), dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))
    if contrast is not None and len(contrast):
        logits = torch.cat([logits, anchor @ contrast.T], dim=1)
    target = torch.arange(anchor.shape[0], device=anchor.device)
    return nn.functional.cross_entropy(logits / temperature, target)


def user_interest_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    category_logits: torch.Tensor,
    category: torch.Tensor,
    category_weight: float,
    contrastive_weight: float = 0.0,
    temperature: float = 0.05,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 2: L_u = -cos(ê_t, e_t) + w · CE(category of the next item), plus
    `contrastive_weight` · InfoNCE(ê_t, e_t) against the batch's other next items: the cosine
    alone rewards a vector near every item's average, which ranks no item first.

    predicted, target: (B, D); category_logits: (B, C); category: (B,) with -100 = unknown.
    Parts: "cosine", "category_ce", and "retrieval" (the item-space terms, what selects the epoch).
    """
    cosine = nn.functional.cosine_similarity(predicted, target, dim=-1).mean()
    retrieval = -cosine
    if contrastive_weight and len(predicted) >= 2:
        unit = nn.functional.normalize
        retrieval = retrieval + contrastive_weight * info_nce(
            unit(predicted, dim=-1), unit(target, dim=-1), None, temperature
        )
    loss = retrieval
    ce = torch.zeros((), device=predicted.device)
    if (category >= 0).any():
        ce = nn.functional.cross_entropy(category_logits, category, ignore_index=-100)
        loss = loss + category_weight * ce
    return loss, {
        "cosine": float(cosine.detach()),
        "category_ce": float(ce.detach()),
        "retrieval": float(retrieval.detach()),
    }
