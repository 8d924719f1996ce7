"""Promotion gate: a GX suite over the validation metrics decides whether a bundle may be
deployed. Test metrics are reported, never read here (DESIGN §1.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from aktrec.config import PromotionConfig
from aktrec.errors import ValidationFailed

GATE_FILE = "gate.json"


def gate_frame(metrics: dict[str, Any], deploy: str, compare_with: str) -> pd.DataFrame:
    """One row: the deployed model's validation total/tail AUC and its head-AUC change against
    `compare_with`."""
    models = metrics["validation"]
    chosen = models[deploy]

    def value(model: dict[str, Any], slice_name: str) -> float:
        measured = model[slice_name]["auc"]
        return float("nan") if measured is None else float(measured)

    head_change = value(chosen, "head") - value(models[compare_with], "head")
    return pd.DataFrame(
        {
            "model": [deploy],
            "total_auc": [value(chosen, "total")],
            "tail_auc": [value(chosen, "tail")],
            "head_auc_change": [head_change],
        }
    )


def promotion_gate(metrics: dict[str, Any], deploy: str, config: PromotionConfig, out_dir: Path) -> dict[str, Any]:
    """Run the gate suite (Data Docs under `out_dir`); never raises on a failed check, it
    reports it: {"promote": bool, "model": deploy, "values": {...}, "failure": str | None}."""
    import great_expectations.expectations as gxe

    from aktrec.validation import SuiteSpec, run_suites

    frame = gate_frame(metrics, deploy, config.compare_with)
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(column="total_auc", min_value=config.min_total_auc),
        gxe.ExpectColumnValuesToBeBetween(column="tail_auc", min_value=config.min_tail_auc),
        gxe.ExpectColumnValuesToBeBetween(column="head_auc_change", min_value=-config.max_head_auc_drop),
        gxe.ExpectColumnValuesToNotBeNull(column="total_auc"),
        gxe.ExpectColumnValuesToNotBeNull(column="tail_auc"),
    ]
    failure = None
    try:
        run_suites("promotion", [SuiteSpec("promotion.metrics", frame, expectations)], out_dir)
    except ValidationFailed as exc:
        failure = str(exc)
    values = {k: (None if pd.isna(v) else float(v)) for k, v in frame.drop(columns="model").iloc[0].items()}
    return {
        "promote": failure is None,
        "model": deploy,
        "values": values,
        "failure": failure,
        "thresholds": {
            "min_total_auc": config.min_total_auc,
            "min_tail_auc": config.min_tail_auc,
            "max_head_auc_drop": config.max_head_auc_drop,
            "compared_with": config.compare_with,
        },
    }


def gate_verdict(gate: dict[str, Any]) -> str:
    """The one wording of a gate's outcome, for the CLI, the runner and the report."""
    return "passed" if gate["promote"] else f"failed: {gate['failure']}"
