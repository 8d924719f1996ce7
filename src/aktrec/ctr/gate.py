"""Which model is deployed and whether it may be: the champion among the candidates, then the
promotion gate, a GX suite over the validation metrics. Test metrics are reported, never read
here (docs/design.md §1.1).

A slice with too few validation samples (or one label only) gives no AUC worth reading: its
check is reported as "not enough data" and skipped, unless `block_on_insufficient_data`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from aktrec.config import CHAMPION, PromotionConfig, TrainConfig
from aktrec.errors import ValidationFailed

GATE_FILE = "gate.json"
NOT_ENOUGH_DATA = "not enough data"
# check -> the validation slice it reads
CHECKED_SLICES = {"total_auc": "total", "tail_auc": "tail", "head_auc_change": "head"}


def rank_candidates(validation: dict[str, Any], config: TrainConfig) -> tuple[list[str], dict[str, float | None], str]:
    """The trained candidates, the highest validation total GAUC first (AUC when a candidate has
    no GAUC: too few users with both labels), ties in the candidates' order; each one's score
    (None where unmeasured) and the metric read."""

    def measured(value: float | None) -> float | None:  # unmeasured slices hold None or NaN
        return None if value is None or math.isnan(value) else float(value)

    candidates = config.trained_candidates()
    totals = {name: validation[name]["total"] for name in candidates}
    metric = "gauc" if all(measured(total["gauc"]) is not None for total in totals.values()) else "auc"
    scores = {name: measured(totals[name][metric]) for name in candidates}
    ranked = sorted(candidates, key=lambda name: -math.inf if scores[name] is None else scores[name], reverse=True)
    return ranked, scores, metric


def choose_deployed(
    metrics: dict[str, Any], config: TrainConfig, docs_root: Path
) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """The variant to deploy, why (for a champion, else None), and its promotion gate; the Data
    Docs of each gate run under `docs_root/<variant>`. `deploy: <variant>`: that variant.
    `deploy: champion`: the candidates in `rank_candidates` order, the first that passes the
    gate, so a champion that costs the head more than the gate allows leaves its place to the
    next (the compared model, where it is a candidate, passes the head check by definition);
    when none passes, the best on validation, refused."""
    if config.deploy != CHAMPION:
        return config.deploy, None, promotion_gate(metrics, config.deploy, config.promotion, docs_root / config.deploy)
    ranked, scores, metric = rank_candidates(metrics["validation"], config)
    gates: dict[str, dict[str, Any]] = {}
    for name in ranked:
        gates[name] = promotion_gate(metrics, name, config.promotion, docs_root / name)
        if gates[name]["promote"]:
            chosen = name
            break
    else:
        chosen = ranked[0]
    failed = [name for name, gate in gates.items() if not gate["promote"]]
    shown = "–" if scores[chosen] is None else f"{scores[chosen]:.4f}"
    why = f"the highest validation total {metric.upper()} ({shown}) of {', '.join(config.trained_candidates())}"
    if not gates[chosen]["promote"]:
        why += "; none of them passes the promotion gate"
    elif failed:
        why += f" that passes the promotion gate ({' and '.join(failed)} scored higher and failed it)"
    champion = {
        "chosen": chosen,
        "metric": f"validation total {metric}",
        "candidates": scores,
        "failed_gate": {name: gates[name]["failure"] for name in failed},
        "why": why,
    }
    return chosen, champion, gates[chosen]


def enough_column(slice_name: str) -> str:
    return f"{slice_name}_has_enough_data"


def insufficient_slices(metrics: dict[str, Any], deploy: str, config: PromotionConfig) -> dict[str, str]:
    """slice -> why its validation data is not enough (absent when it is)."""
    models = metrics["validation"]
    reasons = {}
    for slice_name in CHECKED_SLICES.values():
        read = [models[deploy][slice_name]]
        if slice_name == "head":
            read.append(models[config.compare_with][slice_name])
        n = read[0].get("n")
        if n is not None and n < config.min_slice_samples:
            reasons[slice_name] = f"{n} validation samples (< {config.min_slice_samples})"
        elif any(part["auc"] is None for part in read):
            reasons[slice_name] = f"{n} validation samples with one label only"
    return reasons


def gate_frame(metrics: dict[str, Any], deploy: str, config: PromotionConfig) -> pd.DataFrame:
    """One row: the deployed model's validation total/tail AUC, its head-AUC change against
    `compare_with`, and whether each slice has enough data to be checked."""
    models = metrics["validation"]
    chosen = models[deploy]

    def value(model: dict[str, Any], slice_name: str) -> float:
        measured = model[slice_name]["auc"]
        return float("nan") if measured is None else float(measured)

    insufficient = insufficient_slices(metrics, deploy, config)
    return pd.DataFrame(
        {
            "model": [deploy],
            "total_auc": [value(chosen, "total")],
            "tail_auc": [value(chosen, "tail")],
            "head_auc_change": [value(chosen, "head") - value(models[config.compare_with], "head")],
            **{enough_column(name): [name not in insufficient] for name in CHECKED_SLICES.values()},
        }
    )


def promotion_gate(metrics: dict[str, Any], deploy: str, config: PromotionConfig, out_dir: Path) -> dict[str, Any]:
    """Run the gate suite (Data Docs under `out_dir`); never raises on a failed check, it
    reports it: {"promote": bool, "model": deploy, "values": {...}, "failure": str | None,
    "not_enough_data": {slice: why}}."""
    import great_expectations.expectations as gxe

    from aktrec.validation.runner import SuiteSpec, run_suites

    frame = gate_frame(metrics, deploy, config)
    minimum = {
        "total_auc": config.min_total_auc,
        "tail_auc": config.min_tail_auc,
        "head_auc_change": -config.max_head_auc_drop,
    }
    # A check reads its slice only where that slice has enough data (a GX row condition).
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column=check,
            min_value=minimum[check],
            row_condition=f"{enough_column(slice_name)}==True",
            condition_parser="pandas",
        )
        for check, slice_name in CHECKED_SLICES.items()
    ]
    if config.block_on_insufficient_data:
        expectations += [
            gxe.ExpectColumnValuesToBeInSet(column=enough_column(slice_name), value_set=[True])
            for slice_name in CHECKED_SLICES.values()
        ]
    failure = None
    try:
        run_suites("promotion", [SuiteSpec("promotion.metrics", frame, expectations)], out_dir)
    except ValidationFailed as exc:
        failure = str(exc)
    values = {check: (None if pd.isna(frame[check].iloc[0]) else float(frame[check].iloc[0])) for check in minimum}
    return {
        "promote": failure is None,
        "model": deploy,
        "values": values,
        "failure": failure,
        "not_enough_data": insufficient_slices(metrics, deploy, config),
        "thresholds": {
            "min_total_auc": config.min_total_auc,
            "min_tail_auc": config.min_tail_auc,
            "max_head_auc_drop": config.max_head_auc_drop,
            "compared_with": config.compare_with,
            "min_slice_samples": config.min_slice_samples,
            "block_on_insufficient_data": config.block_on_insufficient_data,
        },
    }


def gate_verdict(gate: dict[str, Any]) -> str:
    """The one wording of a gate's outcome, for the CLI, the runner and the report."""
    verdict = "passed" if gate["promote"] else f"failed: {gate['failure']}"
    unchecked = gate.get("not_enough_data") or {}
    if unchecked:
        slices = ", ".join(f"{name} slice ({why})" for name, why in unchecked.items())
        verdict += f"; {NOT_ENOUGH_DATA}: {slices}"
        verdict += ", promotion blocked" if gate["thresholds"]["block_on_insufficient_data"] else ", not checked"
    return verdict
