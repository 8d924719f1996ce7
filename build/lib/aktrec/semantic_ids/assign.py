"""Codes and clusters: vectorized assignment, cluster ids from code prefixes, calibration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from aktrec.config import RQVAEConfig, from_dict, to_dict
from aktrec.semantic_ids.model import RQVAE


def cluster_ids(codes: np.ndarray, prefix: int, codebook_size: int) -> np.ndarray:
    """(N, L) codes -> (N,) int64 cluster ids: the first `prefix` codes read as digits in base
    `codebook_size`. Stable across runs of the same quantizer (no lookup table needed)."""
    ids = np.zeros(len(codes), dtype=np.int64)
    for level in range(prefix):
        ids = ids * codebook_size + codes[:, level]
    return ids


def median_cluster_size(codes: np.ndarray, prefix: int, codebook_size: int) -> float:
    _, sizes = np.unique(cluster_ids(codes, prefix, codebook_size), return_counts=True)
    return float(np.median(sizes))


def calibrate_prefix(codes: np.ndarray, codebook_size: int, target_median: int) -> int:
    """The longest code prefix whose clusters have a median size of at least `target_median`
    (the paper's high collision rate: one ID shared by several entities), at least 1."""
    best = 1
    for prefix in range(1, codes.shape[1] + 1):
        if median_cluster_size(codes, prefix, codebook_size) >= target_median:
            best = prefix
    return best


@dataclass
class SemanticIndex:
    """A trained quantizer and the cluster cut: assigns codes and clusters, also to entities
    never seen in training (cold start), from their representation."""

    model: RQVAE
    config: RQVAEConfig
    prefix: int
    known_clusters: np.ndarray  # sorted cluster ids that have members

    @torch.no_grad()
    def codes(self, vectors: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """(N, D) -> (N, L) int32 codes."""
        x = torch.tensor(vectors, dtype=torch.float32)
        return np.concatenate(
            [self.model.encode(x[s : s + batch_size]).numpy() for s in range(0, len(x), batch_size)]
            or [np.zeros((0, self.config.n_levels), np.int64)]
        ).astype(np.int32)

    def clusters(self, codes: np.ndarray) -> np.ndarray:
        """(N, L) codes -> (N,) cluster ids; a prefix with no members falls back to the member
        cluster sharing the longest leading run of codes (then the lowest id), so a new
        entity always lands in a populated cluster."""
        ids = cluster_ids(codes, self.prefix, self.config.codebook_size)
        unknown = ~np.isin(ids, self.known_clusters)
        if unknown.any():
            ids[unknown] = [self._nearest_known(row) for row in codes[unknown]]
        return ids

    def _nearest_known(self, code: np.ndarray) -> int:
        known_digits = np.stack(
            [
                (self.known_clusters // self.config.codebook_size ** (self.prefix - 1 - level))
                % self.config.codebook_size
                for level in range(self.prefix)
            ],
            axis=1,
        )
        matches = np.cumprod(known_digits == code[: self.prefix], axis=1).sum(axis=1)
        return int(self.known_clusters[np.argmax(matches)])

    def save(self, directory: Path, name: str) -> None:
        save_file(
            {k: v.contiguous() for k, v in self.model.state_dict().items()}, directory / f"{name}_quantizer.safetensors"
        )
        (directory / f"{name}_quantizer.json").write_text(
            json.dumps(
                {
                    "config": to_dict(self.config),
                    "input_dim": self.model.input_dim,
                    "prefix": self.prefix,
                    "known_clusters": self.known_clusters.tolist(),
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, directory: Path, name: str) -> SemanticIndex:
        saved = json.loads((Path(directory) / f"{name}_quantizer.json").read_text())
        config = from_dict(RQVAEConfig, saved["config"])
        model = RQVAE(saved["input_dim"], config)
        model.load_state_dict(load_file(Path(directory) / f"{name}_quantizer.safetensors"))
        return cls(model.eval(), config, saved["prefix"], np.asarray(saved["known_clusters"], dtype=np.int64))
