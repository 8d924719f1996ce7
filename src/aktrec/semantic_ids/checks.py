"""Expectation suites of semantic IDs (codes in range, each entity once, no collapsed level)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec.validation.runner import SuiteSpec, gx_expectations, key_expectations


def semantic_id_suites(
    name: str,
    id_column: str,
    ids: pd.Series,
    codes,
    cluster,
    codebook_size: int,
    min_level_utilisation: float,
    max_cluster_share: float,
) -> list[SuiteSpec]:
    """Codes in range and every entity once; no collapsed level; no cluster swallowing the rest."""

    gxe = gx_expectations()
    code_columns = [f"code_{level + 1}" for level in range(codes.shape[1])]
    frame = pd.DataFrame(codes, columns=code_columns)
    frame.insert(0, id_column, ids.to_numpy())
    frame["cluster_id"] = cluster
    checks = key_expectations([id_column, "cluster_id", *code_columns], unique=id_column)
    checks += [gxe.ExpectTableRowCountToEqual(value=len(ids))]
    checks += [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=codebook_size - 1) for c in code_columns
    ]
    levels = pd.DataFrame(
        {
            "level": np.arange(1, codes.shape[1] + 1),
            "utilisation": [len(np.unique(codes[:, k])) / codebook_size for k in range(codes.shape[1])],
        }
    )
    _, sizes = np.unique(cluster, return_counts=True)
    clusters = pd.DataFrame({"size": sizes, "share": sizes / len(cluster)})
    return [
        SuiteSpec(f"{name}.codes", frame, checks),
        SuiteSpec(
            f"{name}.levels",
            levels,
            [gxe.ExpectColumnValuesToBeBetween(column="utilisation", min_value=min_level_utilisation)],
        ),
        SuiteSpec(
            f"{name}.clusters",
            clusters,
            [
                gxe.ExpectColumnValuesToBeBetween(column="size", min_value=1),
                gxe.ExpectColumnValuesToBeBetween(column="share", max_value=max_cluster_share),
            ],
        ),
    ]
