"""Where torch work runs: the `device` settings of the encoders and of CTR training."""

from __future__ import annotations

import re

from aktrec.errors import AktrecError

DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(setting: str, where: str) -> None:
    if not DEVICE.fullmatch(setting):
        raise AktrecError(f"{where}: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {setting!r}")


def resolve_device(setting: str) -> str:
    """auto: the GPU when this process sees one (a GPU node), else the CPU."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
