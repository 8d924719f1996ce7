"""Expectation suites of the data stages (raw input, prepared data set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from aktrec import schemas as S
from aktrec.validation.runner import SuiteSpec, ValidationReport, run_suites

if TYPE_CHECKING:
    from aktrec.data.prepare import PreparedData
    from aktrec.data.raw import RawData


def _gxe():
    import great_expectations.expectations as gxe

    return gxe


def _key_expectations(columns: list[str], unique: str | None = None) -> list:
    gxe = _gxe()
    expectations = [gxe.ExpectTableRowCountToBeBetween(min_value=1)]
    for column in columns:
        expectations += [gxe.ExpectColumnToExist(column=column), gxe.ExpectColumnValuesToNotBeNull(column=column)]
    if unique:
        expectations.append(gxe.ExpectColumnValuesToBeUnique(column=unique))
    return expectations


def raw_suites(raw: RawData) -> list[SuiteSpec]:
    gxe = _gxe()
    interactions = raw.interactions.to_pandas()
    latest = datetime.now(UTC) + timedelta(days=1)
    checks = _key_expectations([S.USER_ID, S.ITEM_ID, S.TS]) + [
        gxe.ExpectColumnValuesToBeBetween(column=S.TS, min_value=pd.Timestamp(0, tz="UTC"), max_value=latest),
    ]
    if not raw.positives_only:
        checks.append(gxe.ExpectColumnValuesToBeInSet(column=S.LABEL, value_set=[0, 1]))
    if raw.items is not None:
        checks.append(gxe.ExpectColumnValuesToBeInSet(column=S.ITEM_ID, value_set=raw.items[S.ITEM_ID].to_pylist()))
    specs = [SuiteSpec("raw.interactions", interactions, checks)]
    if raw.items is not None:
        items = raw.items.drop_columns([c for c in raw.items.column_names if c == S.CATEGORY]).to_pandas()
        item_checks = _key_expectations([S.ITEM_ID], unique=S.ITEM_ID) + [gxe.ExpectColumnToExist(column=S.TITLE)]
        if S.PRICE in items.columns:
            item_checks.append(gxe.ExpectColumnValuesToBeBetween(column=S.PRICE, min_value=0))
        specs.append(SuiteSpec("raw.items", items, item_checks))
    if raw.users is not None:
        specs.append(SuiteSpec("raw.users", raw.users.to_pandas(), _key_expectations([S.USER_ID], unique=S.USER_ID)))
    return specs


def prepared_suites(data: PreparedData) -> list[SuiteSpec]:
    """Train and test sample tables, and the per-user temporal order of the split."""
    gxe = _gxe()
    specs = []
    for name, frame in (("train", data.train), ("test", data.test)):
        checks = _key_expectations([S.ROW_ID, S.USER_ID, S.ITEM_ID, S.TS, S.LABEL], unique=S.ROW_ID)
        checks += [gxe.ExpectColumnValuesToBeInSet(column=S.LABEL, value_set=[0, 1])]
        # Both classes must be present, or AUC is undefined.
        checks += [gxe.ExpectColumnMeanToBeBetween(column=S.LABEL, min_value=1e-9, max_value=1 - 1e-9)]
        checks += [
            gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True, False])
            for c in (S.IS_SAMPLED, S.IS_TAIL_USER, S.IS_TAIL_ITEM, S.IS_TAIL_SAMPLE)
        ]
        if data.cutoff is not None:
            cutoff = pd.Timestamp(data.cutoff)
            if name == "train":
                checks.append(
                    gxe.ExpectColumnMaxToBeBetween(column=S.TS, max_value=cutoff - pd.Timedelta(microseconds=1))
                )
            else:
                checks.append(gxe.ExpectColumnMinToBeBetween(column=S.TS, min_value=cutoff))
        specs.append(SuiteSpec(f"prepared.{name}", frame, checks))
    order = _temporal_order_frame(data.train, data.test)
    specs.append(
        SuiteSpec(
            "prepared.split_order",
            order,
            [
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="first_test_ts", column_B="last_train_ts", or_equal=False
                ),
            ],
        )
    )
    row_ids = pd.concat([data.train[S.ROW_ID], data.test[S.ROW_ID]], ignore_index=True).to_frame()
    specs.append(SuiteSpec("prepared.row_ids", row_ids, [gxe.ExpectColumnValuesToBeUnique(column=S.ROW_ID)]))
    return specs


def _temporal_order_frame(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Per user in both splits: last observed training event and first test event."""
    last_train = train.groupby(S.USER_ID)[S.TS].max().rename("last_train_ts")
    first_test = test.groupby(S.USER_ID)[S.TS].min().rename("first_test_ts")
    return pd.concat([last_train, first_test], axis=1, join="inner").reset_index()


def validate_raw(raw: RawData, out_dir: Path, final_dir: Path) -> ValidationReport:
    return run_suites("raw", raw_suites(raw), out_dir, failed_docs_dir=failed_docs_dir(final_dir))


def validate_prepared(data: PreparedData, out_dir: Path, final_dir: Path) -> ValidationReport:
    return run_suites("prepared", prepared_suites(data), out_dir, failed_docs_dir=failed_docs_dir(final_dir))


def failed_docs_dir(final_dir: Path) -> Path:
    final_dir = Path(final_dir).absolute()
    return final_dir.parent / f"{final_dir.name}.validation-failed"


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
    import numpy as np

    gxe = _gxe()
    frame = pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            "dim": [len(v) for v in vectors],
            "finite": [bool(np.isfinite(v).all()) for v in vectors],
            "norm": [float(np.linalg.norm(v)) if np.isfinite(v).all() else float("nan") for v in vectors],
        }
    )
    expected = list(expected_ids)
    checks = _key_expectations([id_column], unique=id_column) + [
        gxe.ExpectTableRowCountToEqual(value=len(expected)),
        gxe.ExpectColumnValuesToBeInSet(column=id_column, value_set=expected),
        gxe.ExpectColumnValuesToBeInSet(column="dim", value_set=[dim]),
        gxe.ExpectColumnValuesToBeInSet(column="finite", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=norm_range[0], max_value=norm_range[1]),
    ]
    return SuiteSpec(name, frame, checks)


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
    import numpy as np

    gxe = _gxe()
    code_columns = [f"code_{level + 1}" for level in range(codes.shape[1])]
    frame = pd.DataFrame(codes, columns=code_columns)
    frame.insert(0, id_column, ids.to_numpy())
    frame["cluster_id"] = cluster
    checks = _key_expectations([id_column, "cluster_id", *code_columns], unique=id_column)
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


def feature_suites(views: dict[str, pd.DataFrame]) -> list[SuiteSpec]:
    """Offline feature tables: keys present, one row per key and snapshot, counts and rates sane."""
    from aktrec.features import names as N

    gxe = _gxe()
    specs = []
    for view, frame in views.items():
        entity_names, features = N.VIEWS[view]
        keys = [N.ENTITIES[e] for e in entity_names]
        # List columns (representations, codes, sequences) are checked by earlier stages.
        scalar = frame[[c for c in frame.columns if c in (*keys, N.EVENT_TIMESTAMP) or frame[c].dtype != object]]
        checks = _key_expectations([*keys, N.EVENT_TIMESTAMP])
        checks.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=[*keys, N.EVENT_TIMESTAMP]))
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
        specs.append(SuiteSpec(f"features.{view}", scalar, checks))
    return specs
