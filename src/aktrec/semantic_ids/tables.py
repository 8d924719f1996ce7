"""Semantic IDs as the later stages read them: per entity kind, the ids in SID's order with
their codes, clusters and representations (`SemanticTables`), for features, training and serving."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.artifacts import list_matrix
from aktrec.embed.stage import read_embeddings
from aktrec.errors import ArtifactError


@dataclass
class SemanticTables:
    """Per entity kind: ids, codes (N, L), cluster ids (N,), embeddings (N, D)."""

    ids: pd.Index
    codes: np.ndarray
    cluster: np.ndarray
    embeddings: np.ndarray

    def lookup(self, values: pd.Series, what: np.ndarray, missing) -> np.ndarray:
        position = self.ids.get_indexer(values)
        out = what[np.maximum(position, 0)].copy()
        out[position < 0] = missing
        return out


def semantic_tables(sid_dir: Path, emb_dir: Path, kind: str) -> SemanticTables:
    """Codes and clusters of `kind` from SID, with the embeddings of EMB in the same order."""
    table = pq.read_table(Path(sid_dir) / f"{kind}_semantic_ids.parquet")
    ids = pd.Index(table.column(0).to_pylist())
    emb_ids, vectors = read_embeddings(emb_dir, kind)
    position = pd.Index(emb_ids).get_indexer(ids)
    if (position < 0).any():
        raise ArtifactError(
            f"{emb_dir}: {int((position < 0).sum())} {kind}(s) of the semantic IDs have no embedding, e.g. "
            f"{ids[position < 0][0]!r}"
        )
    return SemanticTables(
        ids=ids,
        codes=list_matrix(table[schemas.CODES]),
        cluster=table[schemas.CLUSTER_ID].to_numpy(),
        embeddings=vectors[position],
    )
