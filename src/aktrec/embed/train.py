"""Training loops of the representation stage (modules compute, these loop)."""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from aktrec.config import ItemEmbedConfig, UserEmbedConfig
from aktrec.embed.losses import info_nce, user_interest_loss

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
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    history = []
    for epoch in tqdm(range(config.epochs), desc="align items", disable=not progress, unit="epoch"):
        order = torch.randperm(len(a), generator=generator).numpy()
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            if len(batch) < 2:
                continue
            negatives = rng.integers(0, n_items, size=config.negatives)
            vectors = represent(np.concatenate([a[batch], b[batch], negatives]))
            anchor, partner, sampled = vectors[: len(batch)], vectors[len(batch): 2 * len(batch)], vectors[2 * len(batch):]
            loss = 0.5 * (info_nce(anchor, partner, sampled, config.temperature) + info_nce(partner, anchor, sampled, config.temperature))
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
) -> list[float]:
    """Fit eq. 2 on (prompt -> next clicked item) samples.

    forward(sample positions) -> ((B, D) predicted item-space vectors, (B, C) category logits);
    targets: (S, D) embeddings of the next clicked items; categories: (S,) their categories.
    Returns the mean loss of each epoch.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    targets_t = torch.from_numpy(targets)
    categories_t = torch.from_numpy(categories.astype(np.int64))
    history = []
    for epoch in tqdm(range(config.epochs), desc="user model", disable=not progress, unit="epoch"):
        order = rng.permutation(len(targets))
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            predicted, logits = forward(batch)
            loss, _ = user_interest_loss(predicted, targets_t[batch].to(predicted.device), logits,
                                         categories_t[batch].to(predicted.device), config.category_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
        log.info("user model epoch %d: loss %.4f", epoch + 1, history[-1])
    return history
