"""Expectation suite of representations (one row per id, coverage, dimension, finite, norm)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec.validation.runner import SuiteSpec, gx_expectations, key_expectations


def embedding_suite(
    name: str,
    id_column: str,
    ids: pd.Series,
    vectors,
    expected_ids,
    dim: int,
    norm_range: tuple[float, float] = (0.5, 1.5),
) -> SuiteSpec:
    """One row per id and every expected id covered, fixed dimension, finite values, sane norms.

    `vectors` (N, D) are summarized per row (dimension, finiteness, norm) so GX checks them
    as plain columns.
    """

    gxe = gx_expectations()
    frame = pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            "dim": [len(v) for v in vectors],
            "finite": [bool(np.isfinite(v).all()) for v in vectors],
            "norm": [float(np.linalg.norm(v)) if np.isfinite(v).all() else float("nan") for v in vectors],
        }
    )
    expected = list(expected_ids)
    checks = key_expectations([id_column], unique=id_column) + [
        gxe.ExpectTableRowCountToEqual(value=len(expected)),
        gxe.ExpectColumnValuesToBeInSet(column=id_column, value_set=expected),
        gxe.ExpectColumnValuesToBeInSet(column="dim", value_set=[dim]),
        gxe.ExpectColumnValuesToBeInSet(column="finite", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=norm_range[0], max_value=norm_range[1]),
    ]
    return SuiteSpec(name, frame, checks)
