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
from aktrec.ctr.inputs import CtrInputs
from aktrec.ctr.modules import AktRec
from aktrec.devices import resolve_device
from aktrec.errors import AktrecError
from aktrec.metrics import auc
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
            model.at_progress(step / max(total_steps - 1, 1))
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
