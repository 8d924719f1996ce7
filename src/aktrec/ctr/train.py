"""The training loop of the CTR networks (the modules only compute; vocabularies and id priors
in `vocabularies`, scoring beside the bundle in `bundle`)."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from aktrec.config import CtrTrainConfig
from aktrec.ctr.bundle import on_device, predict
from aktrec.ctr.distributed import ONE_PROCESS, Workers
from aktrec.ctr.inputs import UNKNOWN, CtrInputs
from aktrec.ctr.modules import AktRec
from aktrec.devices import resolve_device
from aktrec.errors import AktrecError
from aktrec.metrics import MIN_GAUC_USERS, auc, gauc_support, gauc_with_support
from aktrec.progress import tracked

log = logging.getLogger("aktrec")


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


def drop_ids(batch: dict[str, torch.Tensor], share: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """ID dropout: the batch with each row's user and item id replaced by UNKNOWN with
    probability `share`, independently (seeded by `generator`); everything else is kept."""
    if share == 0.0:
        return batch
    dropped = dict(batch)
    for key in ("user", "item"):
        ids = batch[key]
        dropped[key] = torch.where(torch.rand(ids.shape, generator=generator) < share, UNKNOWN, ids)
    return dropped


def stopping_metric(config: CtrTrainConfig, valid: CtrInputs, valid_users: np.ndarray | None, name: str) -> str:
    """The history key early stopping reads: validation GAUC when `config.early_stopping` asks
    for it and at least MIN_GAUC_USERS validation users have both labels (a GAUC over fewer is
    not reported anywhere, docs/design.md §1.1), else validation AUC, with a log line saying so."""
    if config.early_stopping == "auc":
        return "valid_auc"
    if valid_users is None or len(valid_users) != len(valid):
        raise AktrecError("ctr training: early_stopping 'gauc' needs the user of every validation sample")
    support = gauc_support(valid_users, valid.label)
    if support < MIN_GAUC_USERS:
        log.warning(
            "%s: early stopping on validation AUC: GAUC needs %d validation users with both labels, there are %d",
            name,
            MIN_GAUC_USERS,
            support,
        )
        return "valid_auc"
    return "valid_gauc"


def fit(
    model: AktRec,
    train: CtrInputs,
    valid: CtrInputs,
    config: CtrTrainConfig,
    progress: bool = False,
    name: str = "model",
    workers: Workers = ONE_PROCESS,
    valid_users: np.ndarray | None = None,
) -> dict[str, Any]:
    """Adam on BCE + auxiliary losses (eq. 12); keeps the weights of the best validation AUC
    (or GAUC over `valid_users`, the validation samples' users, as `config.early_stopping`
    says) and stops after `patience` epochs without gain. Returns the training history.

    Under DDP every process scores the whole validation split with the same (synchronized)
    weights, so all of them keep the same epoch and stop together."""
    if isinstance(config.id_dropout, tuple):
        raise AktrecError(f"ctr training: fit trains at one id_dropout share, got the grid {config.id_dropout}")
    criterion = stopping_metric(config, valid, valid_users, name)
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
    id_generator = torch.Generator().manual_seed(config.seed)
    best, best_state, best_epoch, history = -1.0, None, 0, []
    total_steps, step = config.epochs * len(loader), 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        losses = []
        for batch in tracked(loader, f"{name}-epoch-{epoch}", bar=progress and workers.is_main):
            model.at_progress(step / max(total_steps - 1, 1))
            loss = loss_of(on_device(drop_ids(batch, config.id_dropout, id_generator), device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
        scores = predict(model, valid)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "valid_auc": auc(valid.label, scores)}
        if valid_users is not None:
            record["valid_gauc"] = gauc_with_support(valid_users, valid.label, scores)[0]
        history.append(record)
        log.info(
            "%s epoch %d: loss %.4f, validation AUC %.4f%s (%.0fs)",
            name,
            epoch,
            record["loss"],
            record["valid_auc"],
            f", GAUC {record['valid_gauc']:.4f}" if "valid_gauc" in record else "",
            time.perf_counter() - started,
        )
        if record[criterion] > best:
            best, best_state, best_epoch = (
                record[criterion],
                copy.deepcopy(model.state_dict()),
                epoch,
            )
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")
    chosen = history[best_epoch - 1] if best_epoch else {}
    return {
        "history": history,
        "best_epoch": best_epoch,
        "early_stopping": criterion.removeprefix("valid_"),
        "valid_auc": chosen.get("valid_auc"),
        "valid_gauc": chosen.get("valid_gauc"),
        "seconds": round(time.perf_counter() - started, 2),
    }
