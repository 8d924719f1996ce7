"""Run GX suites on in-memory tables, write Data Docs and a summary, fail loudly.

One file-backed GX project per validated artifact (`<artifact>/validation/gx`), so the Data
Docs travel with the data they describe. A failure raises `ValidationFailed` naming the first
failing expectation and its column; its Data Docs are kept beside the output for reading.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aktrec.errors import ValidationFailed
from aktrec.validation.offline import make_offline

# No network here or in clusters without egress: keep GX from phoning home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class SuiteSpec:
    """One expectation suite over one table: `name` is `<stage>.<table>`."""

    name: str
    frame: pd.DataFrame
    expectations: list[Any]  # great_expectations.expectations.Expectation instances


@dataclass
class ValidationReport:
    stage: str
    success: bool
    suites: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs_index: str = ""

    def first_failure(self) -> str | None:
        for suite, result in self.suites.items():
            for failure in result["failures"]:
                return f"{suite}: {failure}"
        return None


def _describe(expectation_result) -> str:
    config = expectation_result.expectation_config
    column = config.kwargs.get("column") or ",".join(
        str(config.kwargs[k]) for k in ("column_A", "column_B") if k in config.kwargs
    )
    result = expectation_result.result or {}
    detail = ""
    if "unexpected_count" in result:
        detail = f": {result['unexpected_count']} unexpected value(s)"
        examples = result.get("partial_unexpected_list") or []
        if examples:
            detail += f", e.g. {examples[:3]!r}"
    elif "observed_value" in result:
        observed = result["observed_value"]
        detail = f": observed {observed.item() if isinstance(observed, np.generic) else observed!r}"
    where = f" on column '{column}'" if column else ""
    return f"{config.type}{where}{detail}"


def run_suites(
    stage: str, specs: list[SuiteSpec], out_dir: Path, failed_docs_dir: Path | None = None
) -> ValidationReport:
    """Validate every spec; write `out_dir/gx` (Data Docs) and `out_dir/summary.json`.

    Raises `ValidationFailed` when any expectation fails, after copying the Data Docs to
    `failed_docs_dir` (when given) so a person can read why.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(out_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    source = context.data_sources.add_or_update_pandas(stage)
    report = ValidationReport(stage=stage, success=True)
    for spec in specs:
        asset = source.add_dataframe_asset(spec.name)
        batch = asset.add_batch_definition_whole_dataframe("whole table")
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=spec.name, expectations=spec.expectations))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=spec.name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update data docs")],
                result_format="SUMMARY",
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": spec.frame})
        outcomes = [
            expectation_result
            for run_result in result.run_results.values()
            for expectation_result in run_result.results
        ]
        report.suites[spec.name] = {
            "success": bool(result.success),
            "n_expectations": len(spec.expectations),
            "n_rows": len(spec.frame),
            "failures": [_describe(outcome) for outcome in outcomes if not outcome.success],
            "expectations": [
                {"success": bool(outcome.success), "description": _describe(outcome)} for outcome in outcomes
            ],
        }
        report.success &= bool(result.success)
    docs_root = out_dir / "gx" / "uncommitted" / "data_docs" / "local_site"
    make_offline(docs_root)
    report.docs_index = str((docs_root / "index.html").relative_to(out_dir))
    (out_dir / "summary.json").write_text(json.dumps(report.__dict__, indent=2) + "\n")
    if not report.success:
        where = ""
        if failed_docs_dir is not None:
            shutil.rmtree(failed_docs_dir, ignore_errors=True)
            shutil.copytree(out_dir, failed_docs_dir)
            where = f" (Data Docs: {Path(failed_docs_dir) / report.docs_index})"
        raise ValidationFailed(f"validation of {stage} failed: {report.first_failure()}{where}")
    return report


def gx_expectations():
    """great_expectations.expectations, imported on first use (it takes seconds)."""
    import great_expectations.expectations as gxe

    return gxe


def key_expectations(columns: list[str], unique: str | None = None) -> list:
    gxe = gx_expectations()
    expectations = [gxe.ExpectTableRowCountToBeBetween(min_value=1)]
    for column in columns:
        expectations += [gxe.ExpectColumnToExist(column=column), gxe.ExpectColumnValuesToNotBeNull(column=column)]
    if unique:
        expectations.append(gxe.ExpectColumnValuesToBeUnique(column=unique))
    return expectations


def failed_docs_dir(final_dir: Path) -> Path:
    """Where a failed validation's Data Docs are kept, beside the artifact that was not written."""
    final_dir = Path(final_dir).absolute()
    return final_dir.parent / f"{final_dir.name}.validation-failed"
