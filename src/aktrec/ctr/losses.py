"""CTR training losses: asymmetric transfer (eq. 4), orthogonality (eq. 5), Barlow Twins."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from aktrec.embed.losses import info_nce


def asymmetric_info_nce(
    head: torch.Tensor,
    tail: torch.Tensor,
    lambda_head: float,
    lambda_tail: float,
    temperature: float,
    clusters: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 4: λ1·InfoNCE(c_head, sg(c_tail)) + λ2·InfoNCE(c_tail, sg(c_head)).

    head, tail: (P, d) cluster embeddings of P (head, tail) pairs from the same cluster; the
    other pairs of the batch are the negatives, except, when `clusters` (P,) is given, the pairs
    of the same cluster (a head id of its own cluster is no negative for a tail id). The
    stop-gradients make the λ1 term move only head embeddings and the λ2 term only tail ones, so
    with λ1 < λ2 knowledge flows head → tail.
    """
    head, tail = F.normalize(head, dim=-1), F.normalize(tail, dim=-1)
    return lambda_head * info_nce(head, tail.detach(), None, temperature, clusters) + lambda_tail * info_nce(
        tail, head.detach(), None, temperature, clusters
    )


def orthogonality(cluster: torch.Tensor, individual: torch.Tensor) -> torch.Tensor:
    """Eq. 5: mean cos(c, d)² — the individual embedding keeps what the cluster does not say."""
    return F.cosine_similarity(cluster, individual, dim=-1, eps=1e-8).pow(2).mean()


def barlow_twins(a: torch.Tensor, b: torch.Tensor, off_diagonal_weight: float) -> torch.Tensor:
    """Feature-level alignment: the cross-correlation of batch-standardized a, b (B, d) pushed to
    the identity: Σ(1 − C_ii)² + w·Σ_{i≠j} C_ij²."""
    a = (a - a.mean(0)) / (a.std(0) + 1e-5)
    b = (b - b.mean(0)) / (b.std(0) + 1e-5)
    correlation = a.T @ b / a.shape[0]
    diagonal = torch.diagonal(correlation)
    off = correlation - torch.diag_embed(diagonal)
    return (1 - diagonal).pow(2).sum() + off_diagonal_weight * off.pow(2).sum()
