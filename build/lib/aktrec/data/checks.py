"""Expectation suites of the data stages (raw input, prepared data set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from aktrec import schemas as S
from aktrec.validation import (
    SuiteSpec,
    ValidationReport,
    failed_docs_dir,
    gx_expectations,
    key_expectations,
    run_suites,
)

if TYPE_CHECKING:
    from aktrec.data.prepare import PreparedData
    from aktrec.data.raw import RawData


def raw_suites(raw: RawData) -> list[SuiteSpec]:
    gxe = gx_expectations()
    interactions = raw.interactions.to_pandas()
    latest = datetime.now(UTC) + timedelta(days=1)
    checks = key_expectations([S.USER_ID, S.ITEM_ID, S.TS]) + [
        gxe.ExpectColumnValuesToBeBetween(column=S.TS, min_value=pd.Timestamp(0, tz="UTC"), max_value=latest),
    ]
    if not raw.positives_only:
        checks.append(gxe.ExpectColumnValuesToBeInSet(column=S.LABEL, value_set=[0, 1]))
    if raw.items is not None:
        checks.append(gxe.ExpectColumnValuesToBeInSet(column=S.ITEM_ID, value_set=raw.items[S.ITEM_ID].to_pylist()))
    specs = [SuiteSpec("raw.interactions", interactions, checks)]
    if raw.items is not None:
        items = raw.items.drop_columns([c for c in raw.items.column_names if c == S.CATEGORY]).to_pandas()
        item_checks = key_expectations([S.ITEM_ID], unique=S.ITEM_ID) + [gxe.ExpectColumnToExist(column=S.TITLE)]
        if S.PRICE in items.columns:
            item_checks.append(gxe.ExpectColumnValuesToBeBetween(column=S.PRICE, min_value=0))
        specs.append(SuiteSpec("raw.items", items, item_checks))
    if raw.users is not None:
        specs.append(SuiteSpec("raw.users", raw.users.to_pandas(), key_expectations([S.USER_ID], unique=S.USER_ID)))
    return specs


def prepared_suites(data: PreparedData) -> list[SuiteSpec]:
    """Train and test sample tables, and the per-user temporal order of the split."""
    gxe = gx_expectations()
    specs = []
    for name, frame in (("train", data.train), ("test", data.test)):
        checks = key_expectations([S.ROW_ID, S.USER_ID, S.ITEM_ID, S.TS, S.LABEL], unique=S.ROW_ID)
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
