"""Training loops of the representation stage (modules compute, these loop)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from aktrec.config import ItemEmbedConfig, UserEmbedConfig
from aktrec.embed.losses import info_nce, user_interest_loss
from aktrec.progress import tracked

log = logging.getLogger("aktrec")


def align_items(
    represent: Callable[[np.ndarray], torch.Tensor],
    parameters: Sequence[torch.nn.Parameter],
    pairs: pd.DataFrame,
    n_items: int,
    config: ItemEmbedConfig,
    progress: bool = False,
) -> list[float]:
    """Symmetric InfoNCE on co-occurring pairs; `represent(item positions)` -> (B, D) unit
    vectors with gradients to `parameters`. Returns the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(parameters, lr=config.loop.learning_rate)
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    history = []
    for epoch in tracked(range(config.loop.epochs), "align-items", bar=progress):
        order = torch.randperm(len(a), generator=generator).numpy()
        losses = []
        for start in range(0, len(order), config.loop.batch_size):
            batch = order[start : start + config.loop.batch_size]
            if len(batch) < 2:
                continue
            contrast = rng.integers(0, n_items, size=config.contrast_samples)
            vectors = represent(np.concatenate([a[batch], b[batch], contrast]))
            anchor, partner, sampled = (
                vectors[: len(batch)],
                vectors[len(batch) : 2 * len(batch)],
                vectors[2 * len(batch) :],
            )
            loss = 0.5 * (
                info_nce(anchor, partner, sampled, config.temperature)
                + info_nce(partner, anchor, sampled, config.temperature)
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)) if losses else float("nan"))
        log.info("item alignment epoch %d: InfoNCE %.4f", epoch + 1, history[-1])
    return history


def train_user_model(
    forward: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]],
    parameters: Sequence[torch.nn.Parameter],
    targets: np.ndarray,
    categories: np.ndarray,
    config: UserEmbedConfig,
    progress: bool = False,
) -> dict[str, list[float] | int]:
    """Fit eq. 2 on (prompt -> next clicked item) samples, with early stopping.

    forward(sample positions) -> ((B, D) predicted item-space vectors, (B, C) category logits);
    targets: (S, D) embeddings of the next clicked items; categories: (S,) their categories.
    A `validation_share` of the samples is held back; the parameters of the epoch with the
    lowest validation retrieval loss (the item-space terms; epoch 0 = untrained, i.e. the
    history mean) are kept, so the representation never ends worse than the history's average
    on held-out next items. Returns the per-epoch training loss, validation retrieval loss and
    the best epoch.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(parameters, lr=config.loop.learning_rate)
    targets_t = torch.from_numpy(targets)
    categories_t = torch.from_numpy(categories.astype(np.int64))
    order = rng.permutation(len(targets))
    n_validation = int(round(config.validation_share * len(order))) if len(order) >= 10 else 0
    validation, training = order[:n_validation], order[n_validation:]

    def loss_of(batch: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        predicted, logits = forward(batch)
        device = predicted.device
        return user_interest_loss(
            predicted,
            targets_t[batch].to(device),
            logits,
            categories_t[batch].to(device),
            config.category_weight,
            config.contrastive_weight,
            config.contrastive_temperature,
        )

    def validation_loss() -> float:
        if not len(validation):
            return float("nan")
        with torch.no_grad():
            # in batches of the training size: InfoNCE's value depends on how many contrast samples a row has
            chunks = [
                validation[s : s + config.loop.batch_size] for s in range(0, len(validation), config.loop.batch_size)
            ]
            losses = [loss_of(chunk)[1]["retrieval"] for chunk in chunks]
            return float(np.average(losses, weights=[len(chunk) for chunk in chunks]))

    best_loss, best_epoch = validation_loss(), 0
    best = [p.detach().clone() for p in parameters]
    history: dict[str, list[float] | int] = {"train_loss": [], "validation_loss": [best_loss]}
    for epoch in tracked(range(1, config.loop.epochs + 1), "user-model", bar=progress):
        losses = []
        for start in range(0, len(training), config.loop.batch_size):
            loss = loss_of(training[start : start + config.loop.batch_size])[0]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        rng.shuffle(training)
        history["train_loss"].append(float(np.mean(losses)))
        history["validation_loss"].append(validation_loss())
        if history["validation_loss"][-1] < best_loss:
            best_loss, best_epoch = history["validation_loss"][-1], epoch
            best = [p.detach().clone() for p in parameters]
    if len(validation):
        with torch.no_grad():
            for parameter, value in zip(parameters, best):
                parameter.copy_(value)
    history["best_epoch"] = best_epoch if len(validation) else config.loop.epochs
    log.info(
        "user model: best validation loss %.4f at epoch %d of %d", best_loss, history["best_epoch"], config.loop.epochs
    )
    return history
