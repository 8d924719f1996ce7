"""Training and evaluation loops for the CTR networks (the modules only compute)."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from aktrec import schemas
from aktrec.config import CtrModelConfig, CtrTrainConfig
from aktrec.ctr.distributed import ONE_PROCESS, Workers
from aktrec.ctr.inputs import UNKNOWN, CtrInputs, Vocabularies, Vocabulary
from aktrec.ctr.modules import EMBEDDING_STD, AktRec, IdPriors, ModelShapes, cosine_curriculum
from aktrec.devices import resolve_device
from aktrec.errors import AktrecError
from aktrec.features.compute import SemanticTables
from aktrec.metrics import auc
from aktrec.progress import tracked

log = logging.getLogger("aktrec")


def build_vocabularies(
    train: pd.DataFrame,
    users: SemanticTables,
    items: SemanticTables,
    user_attributes: list[list[str]],
    item_attributes: list[list[str]],
) -> Vocabularies:
    """Ids with training samples (they get trained embeddings); every semantic cluster; every
    attribute token of the catalog (`*_attributes`: the tokens of `users.ids` / `items.ids`)."""
    return Vocabularies(
        user=Vocabulary.build(train[schemas.USER_ID]),
        item=Vocabulary.build(train[schemas.ITEM_ID]),
        user_cluster=Vocabulary.build(np.unique(users.cluster)),
        item_cluster=Vocabulary.build(np.unique(items.cluster)),
        user_attribute=Vocabulary.build([t for tokens in user_attributes for t in tokens]),
        item_attribute=Vocabulary.build([t for tokens in item_attributes for t in tokens]),
    )


def cluster_attribute_shares(
    sem: SemanticTables, attributes: list[list[str]], clusters: Vocabulary, tokens: Vocabulary
) -> torch.Tensor:
    """(C, V): for each cluster, the mean over its members of each member's token shares, so
    that (C, V) @ token embeddings (V, d) is the cluster's mean attribute embedding."""
    shares = np.zeros((len(clusters), len(tokens)), dtype=np.float32)
    member_cluster = clusters.index(sem.cluster)
    size = np.bincount(member_cluster, minlength=len(clusters)).astype(np.float32)
    for cluster, member_tokens in zip(member_cluster, attributes):
        if member_tokens:
            np.add.at(shares[cluster], tokens.index(member_tokens), 1.0 / len(member_tokens))
    shares /= np.maximum(size, 1)[:, None]
    shares[:, UNKNOWN] = 0.0
    return torch.from_numpy(shares)


def content_cluster_init(sem: SemanticTables, clusters: Vocabulary, dim: int) -> torch.Tensor:
    """(C, dim): each cluster's mean representation, reduced by PCA and scaled to a small norm
    (index 0, the unknown cluster, stays zero)."""
    position = clusters.index(sem.cluster)
    sums = np.zeros((len(clusters), sem.embeddings.shape[1]))
    np.add.at(sums, position, sem.embeddings)
    counts = np.bincount(position, minlength=len(clusters))
    means = sums[1:] / np.maximum(counts[1:, None], 1)
    centered = means - means.mean(0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    reduced = centered @ components[:dim].T
    if reduced.shape[1] < dim:  # fewer clusters or content dimensions than dim
        reduced = np.pad(reduced, ((0, 0), (0, dim - reduced.shape[1])))
    reduced *= 2 * EMBEDDING_STD / max(float(reduced.std()), 1e-8)
    return torch.from_numpy(np.vstack([np.zeros((1, dim)), reduced]).astype(np.float32))


def id_priors(
    train: pd.DataFrame,
    vocab: Vocabularies,
    users: SemanticTables,
    items: SemanticTables,
    dim: int,
    user_attributes: list[list[str]],
    item_attributes: list[list[str]],
) -> IdPriors:
    def per_id(sem: SemanticTables, id_vocab: Vocabulary, cluster_vocab: Vocabulary, flag: str, id_column: str):
        cluster_of = cluster_vocab.index(sem.lookup(pd.Series(id_vocab.ids), sem.cluster, -1))
        tail = train.groupby(id_column)[flag].first().reindex(id_vocab.ids).fillna(True).to_numpy(bool)
        return (
            torch.from_numpy(np.concatenate([[UNKNOWN], cluster_of])),
            torch.from_numpy(np.concatenate([[True], tail])),
        )

    user_cluster_of, user_is_tail = per_id(users, vocab.user, vocab.user_cluster, schemas.IS_TAIL_USER, schemas.USER_ID)
    item_cluster_of, item_is_tail = per_id(items, vocab.item, vocab.item_cluster, schemas.IS_TAIL_ITEM, schemas.ITEM_ID)
    return IdPriors(
        user_cluster_of,
        item_cluster_of,
        user_is_tail,
        item_is_tail,
        content_cluster_init(users, vocab.user_cluster, dim),
        content_cluster_init(items, vocab.item_cluster, dim),
        cluster_attribute_shares(users, user_attributes, vocab.user_cluster, vocab.user_attribute),
        cluster_attribute_shares(items, item_attributes, vocab.item_cluster, vocab.item_attribute),
    )


def build_model(config: CtrModelConfig, shapes: ModelShapes, priors: IdPriors) -> AktRec:
    return AktRec(config, shapes, priors)


@torch.no_grad()
def predict(model: AktRec, inputs: CtrInputs, batch_size: int = 8192) -> np.ndarray:
    """Click probabilities (N,) in the inputs' order, on the device the model is on."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        torch.sigmoid(model(on_device(inputs.batch(np.arange(start, min(start + batch_size, len(inputs)))), device)))
        for start in range(0, len(inputs), batch_size)
    ]
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, np.float32)


def on_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {name: values.to(device, non_blocking=True) for name, values in batch.items()}


class TrainingLoss(torch.nn.Module):
    """BCE + the auxiliary losses (eq. 12) as one module's forward, so that DDP sees every
    parameter the loss reaches, the auxiliary terms included."""

    def __init__(self, model: AktRec):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.model(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["label"])
        return loss + self.model.auxiliary_loss(batch)


def batches(train: CtrInputs, config: CtrTrainConfig, workers: Workers) -> DataLoader:
    """Shuffled, seeded mini-batches; across DDP processes each takes its shard of every epoch
    with `batch_size / world_size` rows a step, so that a step still sees `batch_size` rows."""
    batch_size = max(1, config.batch_size // workers.world_size)
    sampler = (
        DistributedSampler(range(len(train)), workers.world_size, workers.rank, shuffle=True, seed=config.seed)
        if workers.distributed
        else None
    )
    return DataLoader(
        range(len(train)),
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=torch.Generator().manual_seed(config.seed) if sampler is None else None,
        collate_fn=train.batch,
        drop_last=(len(sampler) if sampler is not None else len(train)) > batch_size,
        pin_memory=torch.cuda.is_available() and config.device != "cpu",
    )


def fit(
    model: AktRec,
    train: CtrInputs,
    valid: CtrInputs,
    config: CtrTrainConfig,
    progress: bool = False,
    name: str = "model",
    workers: Workers = ONE_PROCESS,
) -> dict[str, Any]:
    """Adam on BCE + auxiliary losses (eq. 12); keeps the weights of the best validation AUC and
    stops after `patience` epochs without gain. Returns the training history.

    Under DDP every process scores the whole validation split with the same (synchronized)
    weights, so all of them keep the same epoch and stop together."""
    device = torch.device("cpu" if config.device == "auto" and workers.distributed else resolve_device(config.device))
    if device.type == "cuda" and workers.distributed:
        raise AktrecError("ctr training: DDP runs over gloo on CPU processes; train on cuda in one process")
    model.to(device)
    loader = batches(train, config, workers)
    loss_of = TrainingLoss(model)
    if workers.distributed:
        # Ablations leave some parameters out of the loss: DDP must not wait for their gradients.
        loss_of = DistributedDataParallel(loss_of, find_unused_parameters=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    best_auc, best_state, best_epoch, history = -1.0, None, 0, []
    total_steps, step = config.epochs * len(loader), 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        losses = []
        for batch in tracked(loader, f"{name}-epoch-{epoch}", bar=progress and workers.is_main):
            model.curriculum = cosine_curriculum(step / max(total_steps - 1, 1))
            loss = loss_of(on_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
        valid_auc = auc(valid.label, predict(model, valid))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "valid_auc": valid_auc})
        log.info(
            "%s epoch %d: loss %.4f, validation AUC %.4f (%.0fs)",
            name,
            epoch,
            history[-1]["loss"],
            valid_auc,
            time.perf_counter() - started,
        )
        if valid_auc > best_auc:
            best_auc, best_state, best_epoch = valid_auc, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")
    return {
        "history": history,
        "best_epoch": best_epoch,
        "valid_auc": best_auc,
        "seconds": round(time.perf_counter() - started, 2),
    }
