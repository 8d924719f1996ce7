"""RQ-VAE training loop: k-means codebook initialisation, dead-code re-seeding, seeded on CPU."""

from __future__ import annotations

import logging

import numpy as np
import torch

from aktrec.config import RQVAEConfig
from aktrec.semantic_ids.model import RQVAE

log = logging.getLogger("aktrec")


def kmeans(points: torch.Tensor, k: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means: (n, d) -> (k, d) centroids; an empty cluster keeps its old centroid.
    With fewer points than k, centroids repeat points (plus tiny noise so they differ)."""
    n = points.shape[0]
    start = torch.randperm(n, generator=generator)[: min(n, k)]
    centroids = points[start].clone()
    if n < k:
        extra = points[torch.randint(0, n, (k - n,), generator=generator)]
        centroids = torch.cat([centroids, extra + 1e-3 * torch.randn(extra.shape, generator=generator)])
    for _ in range(iterations):
        assignment = torch.cdist(points, centroids).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids


@torch.no_grad()
def init_codebooks(model: RQVAE, batch: torch.Tensor, iterations: int, generator: torch.Generator) -> None:
    """Level by level: k-means on the residuals of the first batch (avoids dead codes at start)."""
    residual = model.encoder(batch)
    codebooks = model.quantizer.codebooks
    for level in range(codebooks.shape[0]):
        codebooks.data[level] = kmeans(residual, codebooks.shape[1], iterations, generator)
        residual = residual - codebooks[level][torch.cdist(residual, codebooks[level]).argmin(dim=1)]


@torch.no_grad()
def reseed_dead_codes(model: RQVAE, usage: torch.Tensor, batch: torch.Tensor, generator: torch.Generator) -> int:
    """Move every code unused since the last check (usage (N, M) == 0) onto a random residual
    entering its level; returns how many codes were re-seeded."""
    _, entering = model.quantizer.residuals(model.encoder(batch))
    reseeded = 0
    for level, residual in enumerate(entering):
        dead = torch.nonzero(usage[level] == 0).flatten()
        if len(dead):
            pick = torch.randint(0, residual.shape[0], (len(dead),), generator=generator)
            model.quantizer.codebooks.data[level, dead] = residual[pick]
            reseeded += len(dead)
    return reseeded


def train_rqvae(vectors: np.ndarray, config: RQVAEConfig, name: str = "rq-vae") -> tuple[RQVAE, list[dict[str, float]]]:
    """Fit an RQ-VAE on (N, D) vectors; returns the model and per-epoch mean losses."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.tensor(vectors, dtype=torch.float32)
    model = RQVAE(x.shape[1], config)
    order = torch.randperm(len(x), generator=generator)
    init_codebooks(
        model, x[order[: max(config.loop.batch_size, 4 * config.codebook_size)]], config.kmeans_iterations, generator
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.loop.learning_rate)
    usage = torch.zeros(config.n_levels, config.codebook_size)
    history = []
    for epoch in range(config.loop.epochs):
        order = torch.randperm(len(x), generator=generator)
        sums = {"reconstruction": 0.0, "codebook": 0.0, "commitment": 0.0}
        n_batches = 0
        for start in range(0, len(x), config.loop.batch_size):
            batch = x[order[start : start + config.loop.batch_size]]
            out = model(batch)
            loss = out.loss(config.commitment_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for level in range(config.n_levels):
                usage[level] += torch.bincount(out.codes[:, level], minlength=config.codebook_size)
            sums["reconstruction"] += out.reconstruction_loss.item()
            sums["codebook"] += out.codebook_loss.item()
            sums["commitment"] += out.commitment_loss.item()
            n_batches += 1
        record = {k: v / n_batches for k, v in sums.items()}
        if (epoch + 1) % config.dead_code_epochs == 0 and epoch + 1 < config.loop.epochs:
            record["reseeded_codes"] = reseed_dead_codes(
                model, usage, x[order[: config.loop.batch_size * 4]], generator
            )
            usage.zero_()
        history.append(record)
    log.info("%s: reconstruction %.4f after %d epochs", name, history[-1]["reconstruction"], config.loop.epochs)
    return model.eval(), history
