"""Training across processes with PyTorch DDP: `aktrec train` started by `torchrun` (locally,
or by a Kubeflow Trainer TrainJob's torch-distributed runtime) trains on shards of each epoch
and averages gradients; one process alone is the default and needs nothing of this."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """The process that scores, compares and writes the bundle."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


ONE_PROCESS = Workers()


@contextmanager
def process_group() -> Iterator[Workers]:
    """Joins the process group that torchrun describes (WORLD_SIZE, RANK, MASTER_ADDR/PORT in the
    environment) for the duration, over gloo: the CTR networks train on CPU. Without torchrun,
    one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        yield ONE_PROCESS
        return
    import torch.distributed as dist

    dist.init_process_group(backend="gloo")
    try:
        yield Workers(dist.get_rank(), dist.get_world_size())
    finally:
        dist.destroy_process_group()
