"""Expectation suites of the offline feature tables."""

from __future__ import annotations

import pandas as pd

from aktrec.features import names as feature_names
from aktrec.features.contract import ViewContract
from aktrec.validation.runner import SuiteSpec, gx_expectations, key_expectations


def feature_suites(contract: list[ViewContract], views: dict[str, pd.DataFrame]) -> list[SuiteSpec]:
    """Offline feature tables: keys present, one row per key and snapshot, counts and rates sane."""
    gxe = gx_expectations()
    specs = []
    for view in contract:
        frame, keys = views[view.name], list(view.join_keys)
        # List columns (representations, codes, sequences) are checked by earlier stages.
        scalar = frame[
            [c for c in frame.columns if c in (*keys, feature_names.EVENT_TIMESTAMP) or frame[c].dtype != object]
        ]
        checks = key_expectations([*keys, feature_names.EVENT_TIMESTAMP])
        checks.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=[*keys, feature_names.EVENT_TIMESTAMP]))
        for prefix in ("", "avg_"):
            if f"{prefix}exposures" in scalar:
                checks.append(gxe.ExpectColumnValuesToBeBetween(column=f"{prefix}exposures", min_value=0))
                checks.append(
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                        column_A=f"{prefix}exposures", column_B=f"{prefix}clicks", or_equal=True
                    )
                )
            for rate in (f"{prefix}ctr", f"{prefix}recent_ctr"):
                if rate in scalar:
                    checks.append(gxe.ExpectColumnValuesToBeBetween(column=rate, min_value=0, max_value=1))
        if "cluster_size" in scalar:
            checks.append(gxe.ExpectColumnValuesToBeBetween(column="cluster_size", min_value=1))
        specs.append(SuiteSpec(f"features.{view.name}", scalar, checks))
    return specs
