"""`aktrec readout`: the prediction log joined with what users did next, per rollout arm.

An impression is clicked when an outcome names its request (`request_id`), or, without one,
when its user clicks its item within `attribution_hours` after it (the last such impression
before the click: one click answers one impression). Per arm: requests,
impressions, clicks, CTR, calibration (predicted vs observed by score decile), AUC and GAUC on
the total, head and tail slices; and the canary's CTR lift over the stable arm with a bootstrap
CI over requests. Writes `readout.json` and `readout.html`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.artifacts import staged_output, write_json
from aktrec.config import ReadoutConfig
from aktrec.data.contract import normalize_outcomes
from aktrec.errors import AktrecError
from aktrec.metrics import MIN_GAUC_USERS, auc, gauc_with_support
from aktrec.monitoring.prediction_log import read_prediction_log
from aktrec.report.html import sections_page
from aktrec.report.svg import bar_chart, line_chart

log = logging.getLogger("aktrec")
READOUT_KIND = "readout"
CLICKED = "clicked"
STABLE, CANARY = "stable", "canary"


def attribute(logged: pd.DataFrame, outcomes: pd.DataFrame, config: ReadoutConfig) -> np.ndarray:
    """(len(logged),) bool: whether each logged impression was clicked."""
    clicks = outcomes[outcomes[schemas.LABEL] == 1]
    shown = logged[[schemas.REQUEST_ID, schemas.USER_ID, schemas.ITEM_ID, schemas.TS]].assign(
        row=np.arange(len(logged))
    )
    clicked = np.zeros(len(logged), dtype=bool)
    by_request = clicks[clicks[schemas.REQUEST_ID].notna()] if schemas.REQUEST_ID in clicks else clicks.iloc[:0]
    if len(by_request):
        joined = shown.merge(
            by_request[[schemas.REQUEST_ID, schemas.ITEM_ID]], on=[schemas.REQUEST_ID, schemas.ITEM_ID]
        )
        clicked[joined["row"].to_numpy()] = True
    by_time = clicks[clicks[schemas.REQUEST_ID].isna()] if schemas.REQUEST_ID in clicks else clicks
    if len(by_time):
        joined = shown.merge(
            by_time[[schemas.USER_ID, schemas.ITEM_ID, schemas.TS]]
            .rename(columns={schemas.TS: "clicked_at"})
            .assign(click=np.arange(len(by_time))),
            on=[schemas.USER_ID, schemas.ITEM_ID],
        )
        window = pd.Timedelta(hours=config.attribution_hours)
        hit = joined[
            (joined["clicked_at"] >= joined[schemas.TS]) & (joined["clicked_at"] <= joined[schemas.TS] + window)
        ]
        last_touch = (
            hit.sort_values(schemas.TS, kind="stable").groupby("click").tail(1)
        )  # a click answers one impression
        clicked[last_touch["row"].to_numpy()] = True
    return clicked


def _slices(rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    tail = rows[schemas.IS_TAIL].to_numpy(bool)
    out = {}
    for name, mask in (("total", np.ones_like(tail)), ("head", ~tail), ("tail", tail)):
        labels, scores, users = (
            rows[CLICKED].to_numpy()[mask],
            rows[schemas.SCORE].to_numpy()[mask],
            rows[schemas.USER_ID][mask],
        )
        gauc, n_users = gauc_with_support(users.to_numpy(), labels, scores)
        out[name] = {
            "impressions": int(mask.sum()),
            "ctr": float(labels.mean()) if mask.any() else float("nan"),
            "auc": auc(labels, scores) if len(np.unique(labels)) == 2 else float("nan"),
            "gauc": gauc if n_users >= MIN_GAUC_USERS else float("nan"),
            "gauc_users": n_users,
        }
    return out


def _calibration(rows: pd.DataFrame, bins: int) -> list[dict[str, float]]:
    """Mean predicted vs observed CTR per score quantile bin."""
    edges = np.unique(np.quantile(rows[schemas.SCORE], np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, rows[schemas.SCORE], side="right") - 1, 0, max(len(edges) - 2, 0))
    grouped = rows.assign(bin=index).groupby("bin")
    return [
        {"predicted": float(group[schemas.SCORE].mean()), "observed": float(group[CLICKED].mean()), "n": len(group)}
        for _, group in grouped
    ]


def ctr_lift(stable: pd.DataFrame, canary: pd.DataFrame, config: ReadoutConfig) -> dict[str, float]:
    """The canary's CTR over the stable arm's, minus 1, with a percentile bootstrap CI that
    resamples whole requests in each arm (impressions of one request are not independent)."""

    def per_request(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        grouped = rows.groupby(schemas.REQUEST_ID)[CLICKED]
        return grouped.sum().to_numpy(np.float64), grouped.size().to_numpy(np.float64)

    (s_clicks, s_shown), (c_clicks, c_shown) = per_request(stable), per_request(canary)
    rng = np.random.default_rng(config.seed)
    s_pick = rng.integers(0, len(s_shown), size=(config.bootstrap, len(s_shown)))
    c_pick = rng.integers(0, len(c_shown), size=(config.bootstrap, len(c_shown)))
    s_ctr = s_clicks[s_pick].sum(1) / s_shown[s_pick].sum(1)
    c_ctr = c_clicks[c_pick].sum(1) / c_shown[c_pick].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = c_ctr / s_ctr - 1
    lifts = lifts[np.isfinite(lifts)]
    if not len(lifts) or s_clicks.sum() == 0:
        raise AktrecError("readout: the stable arm has no clicks in this window; no lift can be read")
    alpha = (1 - config.confidence) / 2
    return {
        "lift": float(c_clicks.sum() / c_shown.sum() / (s_clicks.sum() / s_shown.sum()) - 1),
        "low": float(np.quantile(lifts, alpha)),
        "high": float(np.quantile(lifts, 1 - alpha)),
        "confidence": config.confidence,
        "bootstrap": config.bootstrap,
    }


def run_readout(
    prediction_log: str,
    outcomes: pd.DataFrame,
    out: Path,
    config: ReadoutConfig = ReadoutConfig(),
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Read a window of the prediction log against `outcomes` (schemas.OUTCOMES_*); write OUT and
    return the summary (per arm, and the canary's lift where both arms served)."""
    logged = read_prediction_log(prediction_log, since, until)
    logged = logged.assign(**{CLICKED: attribute(logged, normalize_outcomes(outcomes), config).astype(np.int8)})
    arms: dict[str, Any] = {}
    for arm, rows in logged.groupby(schemas.ARM, sort=True):
        arms[arm] = {
            "releases": sorted(rows[schemas.RELEASE].unique()),
            "variants": sorted(rows[schemas.VARIANT].unique()),
            "requests": int(rows[schemas.REQUEST_ID].nunique()),
            "clicks": int(rows[CLICKED].sum()),
            "mean_score": float(rows[schemas.SCORE].mean()),
            "slices": _slices(rows),
            "calibration": _calibration(rows, config.calibration_bins),
        }
    summary: dict[str, Any] = {
        "prediction_log": prediction_log,
        "window": {"from": logged[schemas.TS].min(), "to": logged[schemas.TS].max()},
        "attribution_hours": config.attribution_hours,
        "arms": arms,
        "lift": None,
    }
    if STABLE in arms and CANARY in arms:
        summary["lift"] = ctr_lift(logged[logged[schemas.ARM] == STABLE], logged[logged[schemas.ARM] == CANARY], config)
    with staged_output(Path(out), READOUT_KIND, prediction_log=prediction_log) as staging:
        write_json(summary, staging / "readout.json")
        (staging / "readout.html").write_text(_page(summary))
    return summary


def lift_line(lift: dict[str, float] | None) -> str:
    if lift is None:
        return "canary lift: no canary and stable arms both in this window"
    return (
        f"canary CTR lift over stable: {lift['lift']:+.1%} [{lift['low']:+.1%}, {lift['high']:+.1%}] "
        f"({lift['confidence']:.0%} CI, {lift['bootstrap']} bootstrap resamples of requests)"
    )


def _page(summary: dict[str, Any]) -> str:
    arms = summary["arms"]
    header = ["arm", "variant", "requests", "impressions", "clicks", "CTR", "mean score"]
    header += [f"{part} {metric}" for part in ("total", "head", "tail") for metric in ("AUC", "GAUC")]
    rows = [
        [
            arm,
            ", ".join(value["variants"]),
            value["requests"],
            value["slices"]["total"]["impressions"],
            value["clicks"],
            value["slices"]["total"]["ctr"],
            value["mean_score"],
            *(value["slices"][part][metric] for part in ("total", "head", "tail") for metric in ("auc", "gauc")),
        ]
        for arm, value in arms.items()
    ]
    calibration = line_chart(
        {
            arm: [(point["predicted"], point["observed"]) for point in value["calibration"]]
            for arm, value in arms.items()
        },
        "calibration",
        "mean predicted CTR",
        "observed CTR",
        log=False,
    )
    ctr_bars = bar_chart(
        ["total", "head", "tail"],
        {arm: [value["slices"][part]["ctr"] for part in ("total", "head", "tail")] for arm, value in arms.items()},
        "CTR by slice",
        "CTR",
        y_min=0,
    )
    window = summary["window"]
    return sections_page(
        "aktrec readout",
        f"Prediction log {summary['prediction_log']}, {window['from']} to {window['to']}; an impression counts as "
        f"clicked when its user clicks its item within {summary['attribution_hours']:g} h (or the click names its "
        "request).",
        [
            {"title": "Arms", "header": header, "rows": rows, "charts": [ctr_bars]},
            {"title": "Canary vs stable", "notes": [lift_line(summary["lift"])]},
            {
                "title": "Calibration",
                "notes": ["Mean predicted vs observed CTR per score decile of each arm (the diagonal is calibrated)."],
                "header": ["arm", "mean predicted", "observed", "impressions"],
                "rows": [
                    [arm, point["predicted"], point["observed"], point["n"]]
                    for arm, value in arms.items()
                    for point in value["calibration"]
                ],
                "charts": [calibration],
            },
        ],
    )
