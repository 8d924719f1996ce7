"""Expectation suites of the data stages (raw input, prepared data set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa

from aktrec import schemas
from aktrec.validation.runner import (
    SuiteSpec,
    ValidationReport,
    failed_docs_dir,
    gx_expectations,
    key_expectations,
    run_suites,
)


class RawTables(Protocol):
    """What the RAW suites read (`aktrec.data.raw.RawData`; described here, so that the modules
    that write RAW and DATA import these checks, and never the other way round)."""

    interactions: pa.Table
    items: pa.Table | None
    users: pa.Table | None

    @property
    def positives_only(self) -> bool: ...


class PreparedTables(Protocol):
    """What the DATA suites read (`aktrec.data.prepare.PreparedData`)."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp | None


def raw_suites(raw: RawTables) -> list[SuiteSpec]:
    gxe = gx_expectations()
    interactions = raw.interactions.to_pandas()
    latest = datetime.now(UTC) + timedelta(days=1)
    checks = key_expectations([schemas.USER_ID, schemas.ITEM_ID, schemas.TS]) + [
        gxe.ExpectColumnValuesToBeBetween(column=schemas.TS, min_value=pd.Timestamp(0, tz="UTC"), max_value=latest),
    ]
    if not raw.positives_only:
        checks.append(gxe.ExpectColumnValuesToBeInSet(column=schemas.LABEL, value_set=[0, 1]))
    if raw.items is not None:
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(column=schemas.ITEM_ID, value_set=raw.items[schemas.ITEM_ID].to_pylist())
        )
    specs = [SuiteSpec("raw.interactions", interactions, checks)]
    if raw.items is not None:
        items = raw.items.drop_columns([c for c in raw.items.column_names if c == schemas.CATEGORY]).to_pandas()
        item_checks = key_expectations([schemas.ITEM_ID], unique=schemas.ITEM_ID) + [
            gxe.ExpectColumnToExist(column=schemas.TITLE)
        ]
        if schemas.PRICE in items.columns:
            item_checks.append(gxe.ExpectColumnValuesToBeBetween(column=schemas.PRICE, min_value=0))
        specs.append(SuiteSpec("raw.items", items, item_checks))
    if raw.users is not None:
        specs.append(
            SuiteSpec("raw.users", raw.users.to_pandas(), key_expectations([schemas.USER_ID], unique=schemas.USER_ID))
        )
    return specs


def prepared_suites(data: PreparedTables) -> list[SuiteSpec]:
    """Train and test sample tables, and the per-user temporal order of the split."""
    gxe = gx_expectations()
    specs = []
    for name, frame in (("train", data.train), ("test", data.test)):
        checks = key_expectations(
            [schemas.ROW_ID, schemas.USER_ID, schemas.ITEM_ID, schemas.TS, schemas.LABEL], unique=schemas.ROW_ID
        )
        checks += [gxe.ExpectColumnValuesToBeInSet(column=schemas.LABEL, value_set=[0, 1])]
        # Both classes must be present, or AUC is undefined.
        checks += [gxe.ExpectColumnMeanToBeBetween(column=schemas.LABEL, min_value=1e-9, max_value=1 - 1e-9)]
        checks += [
            gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True, False])
            for c in (schemas.IS_SAMPLED, schemas.IS_TAIL_USER, schemas.IS_TAIL_ITEM, schemas.IS_TAIL_SAMPLE)
        ]
        if data.cutoff is not None:
            cutoff = pd.Timestamp(data.cutoff)
            if name == "train":
                checks.append(
                    gxe.ExpectColumnMaxToBeBetween(column=schemas.TS, max_value=cutoff - pd.Timedelta(microseconds=1))
                )
            else:
                checks.append(gxe.ExpectColumnMinToBeBetween(column=schemas.TS, min_value=cutoff))
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
    row_ids = pd.concat([data.train[schemas.ROW_ID], data.test[schemas.ROW_ID]], ignore_index=True).to_frame()
    specs.append(SuiteSpec("prepared.row_ids", row_ids, [gxe.ExpectColumnValuesToBeUnique(column=schemas.ROW_ID)]))
    return specs


def _temporal_order_frame(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Per user in both splits: last observed training event and first test event."""
    last_train = train.groupby(schemas.USER_ID)[schemas.TS].max().rename("last_train_ts")
    first_test = test.groupby(schemas.USER_ID)[schemas.TS].min().rename("first_test_ts")
    return pd.concat([last_train, first_test], axis=1, join="inner").reset_index()


def validate_raw(raw: RawTables, out_dir: Path, final_dir: Path) -> ValidationReport:
    return run_suites("raw", raw_suites(raw), out_dir, failed_docs_dir=failed_docs_dir(final_dir))


def validate_prepared(data: PreparedTables, out_dir: Path, final_dir: Path) -> ValidationReport:
    return run_suites("prepared", prepared_suites(data), out_dir, failed_docs_dir=failed_docs_dir(final_dir))
