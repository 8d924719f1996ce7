"""GX suites fail on corrupted data and name the expectation and column."""

from __future__ import annotations

import json

import pytest

from aktrec import schemas
from aktrec.config import PrepareConfig, SplitConfig
from aktrec.data.checks import validate_prepared, validate_raw
from aktrec.data.prepare import prepare
from aktrec.errors import ValidationFailed


@pytest.fixture(scope="module")
def prepared(tiny_raw):
    return prepare(tiny_raw, PrepareConfig(split=SplitConfig(test_days=2)))


def test_prepared_suite_passes_and_writes_data_docs(prepared, tmp_path):
    report = validate_prepared(prepared, tmp_path / "validation", final_dir=tmp_path / "data")
    assert report.success
    assert set(report.suites) == {"prepared.train", "prepared.test", "prepared.split_order", "prepared.row_ids"}
    assert (tmp_path / "validation" / report.docs_index).is_file()


def test_test_rows_before_cutoff_fail_with_expectation_and_column(prepared, tmp_path):
    prepared.test.loc[0, schemas.TS] = prepared.train[schemas.TS].min()
    try:
        with pytest.raises(ValidationFailed) as failure:
            validate_prepared(prepared, tmp_path / "validation", final_dir=tmp_path / "data")
    finally:
        prepared.test.loc[0, schemas.TS] = prepared.cutoff
    message = str(failure.value)
    assert "prepared.test: expect_column_min_to_be_between on column 'ts'" in message
    docs = tmp_path / "data.validation-failed"
    summary = json.loads((docs / "summary.json").read_text())
    assert summary["success"] is False and (docs / summary["docs_index"]).is_file()


def test_raw_labels_outside_set_fail(tiny_raw, tmp_path):
    import dataclasses

    import pyarrow as pa

    labels = tiny_raw.interactions[schemas.LABEL].to_numpy().copy()
    labels[:3] = 7
    broken = dataclasses.replace(
        tiny_raw,
        interactions=tiny_raw.interactions.set_column(
            tiny_raw.interactions.schema.get_field_index(schemas.LABEL), schemas.LABEL, pa.array(labels, pa.int8())
        ),
    )
    with pytest.raises(
        ValidationFailed, match=r"raw.interactions: expect_column_values_to_be_in_set on column 'label': 3 unexpected"
    ):
        validate_raw(broken, tmp_path / "validation", final_dir=tmp_path / "raw")
