"""`aktrec monitor`: skew and drift checks of a window of the prediction log, as GX suites.

Skew: every logged feature value against the offline store's point-in-time value for the same
user, item and time (what training would have read): a feature fails when more than
`max_skew_share` of its rows differ. Drift: each served feature and the scores against the
latest validation samples (training shown beside): numbers by how far their distribution moved
in training standard deviations (`max_shift`), categories by the population stability index
(`max_psi`); the PSI of every feature is reported. Both write Data Docs, `monitor.json` and
`monitor.html` (tables, served-vs-reference distributions, scores over time); a failed check
names the feature and fails the command after the report is written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.artifacts import read_marker, staged_output, write_json
from aktrec.config import MonitorConfig
from aktrec.ctr.bundle import load_bundle, recorded_train_config
from aktrec.ctr.stage import ctr_training_samples, validation_mask
from aktrec.data.prepare import read_prepared
from aktrec.errors import AktrecError, ValidationFailed
from aktrec.features.repo import REPO_KIND
from aktrec.features.retrieval import historical_features, join_engine
from aktrec.monitoring.prediction_log import digest, read_prediction_log
from aktrec.report.html import sections_page
from aktrec.report.svg import bar_chart, line_chart
from aktrec.validation.runner import SuiteSpec, gx_expectations, run_suites

log = logging.getLogger("aktrec")
MONITOR_KIND = "monitor"
SCORE_FEATURE = schemas.SCORE  # the scores' drift is checked as one more "feature"
SMOOTHING = 1e-4  # a share never read as 0 in the PSI's logarithm
CHARTED_FEATURES = 6
SCORE_WINDOWS = 4


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed).sort_index()


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _bins(reference: pd.Series, config: MonitorConfig) -> tuple[str, np.ndarray | list]:
    """How a feature is binned, from its reference values: numbers in intervals between the
    reference's quantiles, categories by value. Edges lie halfway between distinct reference
    values and at least `psi_min_bin_width` of its 1-99% range apart: a feature with few values
    that creep over time (a big cluster's average, updated daily) must not split one value's
    mass over several bins, or any later day reads as a shift."""
    if _is_numeric(reference):
        values = reference.to_numpy(np.float64)
        distinct = np.unique(values)
        if len(distinct) < 2:
            return "edges", distinct
        halfway = (distinct[:-1] + distinct[1:]) / 2
        quantiles = np.quantile(values, np.linspace(0, 1, config.psi_bins + 1)[1:-1])
        candidates = np.unique(halfway[np.clip(np.searchsorted(halfway, quantiles), 0, len(halfway) - 1)])
        low, high = np.quantile(values, [0.01, 0.99])
        width = config.psi_min_bin_width * ((high - low) or (distinct[-1] - distinct[0]))
        edges = [candidates[0]]
        for edge in candidates[1:]:
            if edge - edges[-1] >= width:
                edges.append(edge)
        return "edges", np.array(edges)
    return "values", reference.astype(str).value_counts().index[: config.psi_categories].tolist()


def _shares(values: pd.Series, binning: tuple[str, np.ndarray | list]) -> np.ndarray:
    """The share of `values` in each bin (for categories, a last bin holds the values no
    reference category has)."""
    kind, bins = binning
    if kind == "edges":
        index = np.searchsorted(bins, values.to_numpy(np.float64), side="right")
        return np.bincount(index, minlength=len(bins) + 1) / max(len(values), 1)
    position = {value: n for n, value in enumerate(bins)}
    index = np.array([position.get(value, len(bins)) for value in values.astype(str)], dtype=np.int64)
    return np.bincount(index, minlength=len(bins) + 1) / max(len(values), 1)


def psi(reference: np.ndarray, served: np.ndarray) -> float:
    """Population stability index of two binned distributions (shares per bin)."""
    r, s = np.maximum(reference, SMOOTHING), np.maximum(served, SMOOTHING)
    return float(np.sum((s - r) * np.log(s / r)))


def _bin_labels(binning: tuple[str, np.ndarray | list]) -> list[str]:
    kind, bins = binning
    if kind == "edges":
        return [f"<{bins[0]:.3g}", *(f"≥{edge:.3g}" for edge in bins)]
    return [str(value)[:12] for value in bins] + ["other"]


def reference_frames(data: Path, repo: Path, bundle, config: MonitorConfig) -> dict[str, pd.DataFrame]:
    """The bundle's scores and the point-in-time features of DATA's CTR training samples, drawn
    and split as the bundle's training did (the settings it recorded): "validation", its latest
    `reference_rows` samples (the closest to the release: cumulative features such as cluster
    averages grow with time), and "training", a sample of the rest."""
    prepared = read_prepared(data)
    trained_with = recorded_train_config(bundle.path)
    samples = ctr_training_samples(prepared, trained_with)
    is_valid = validation_mask(samples, prepared, trained_with)
    engine = join_engine(read_marker(repo, REPO_KIND)["config"])
    users, items = bundle.semantic_tables("user"), bundle.semantic_tables("item")
    chosen = {
        "training": _sample(samples[~is_valid], config.reference_rows, config.seed),
        "validation": samples[is_valid].tail(config.reference_rows),
    }
    out = {}
    for name, rows in chosen.items():
        frame = historical_features(repo, rows.reset_index(drop=True), users, items, engine)
        out[name] = frame.assign(**{SCORE_FEATURE: bundle.predict(frame)})
    return out


def skew_table(served: pd.DataFrame, offline: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """Per logged row (items described in a request left out: their features are built from the
    request on purpose), 1 where the served value of a feature differs from the offline one."""
    keep = ~served[schemas.DESCRIBED_ITEM].to_numpy()
    served, offline = served[keep].reset_index(drop=True), offline[keep].reset_index(drop=True)
    out = {}
    for column in served.columns:
        if column.startswith(schemas.DIGEST_PREFIX):
            feature = column.removeprefix(schemas.DIGEST_PREFIX)
            if feature in offline:
                expected = np.array([digest(value) for value in offline[feature]], dtype=object)
                out[feature] = (served[column].to_numpy(object) != expected).astype(np.float64)
        elif "__" in column and column in offline:
            if _is_numeric(served[column]):
                got, want = served[column].to_numpy(np.float64), offline[column].to_numpy(np.float64)
                out[column] = (np.abs(got - want) > config.skew_tolerance * (1 + np.abs(want))).astype(np.float64)
            else:
                out[column] = (served[column].astype(str).to_numpy() != offline[column].astype(str).to_numpy()).astype(
                    np.float64
                )
    return pd.DataFrame(out)


def shift(served: np.ndarray, reference: np.ndarray, scale: float) -> float:
    """How far a numeric distribution moved: the Wasserstein-1 distance between the served and
    the reference values (the area between their CDFs), in units of `scale`."""
    a, b = np.sort(served), np.sort(reference)
    points = np.sort(np.concatenate([a, b]))
    between = np.diff(points)
    gap = np.abs(
        np.searchsorted(a, points[:-1], side="right") / len(a) - np.searchsorted(b, points[:-1], side="right") / len(b)
    )
    return float(np.sum(gap * between) / scale) if scale > 0 else 0.0


def drift_tables(
    served: pd.DataFrame, references: dict[str, pd.DataFrame], config: MonitorConfig
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per served scalar feature and the scores: PSI against every reference, and the value the
    drift check reads against validation with its limit: for numbers the shift in training
    standard deviations (`max_shift`), for categories the PSI (`max_psi`). Also what the charts
    show (bins, shares per source)."""
    features = [
        c for c in served.columns if ("__" in c and not c.startswith(schemas.DIGEST_PREFIX)) or c == SCORE_FEATURE
    ]
    values: dict[str, dict[str, Any]] = {}
    shown: dict[str, dict[str, Any]] = {}
    for feature in features:
        if any(feature not in frame for frame in references.values()):
            continue
        validation = references["validation"][feature]
        binning = _bins(validation, config)
        served_shares = _shares(served[feature], binning)
        shares = {name: _shares(frame[feature], binning) for name, frame in references.items()}
        row: dict[str, Any] = {f"psi_{name}": psi(reference, served_shares) for name, reference in shares.items()}
        if _is_numeric(served[feature]) and _is_numeric(validation):
            scale = float(references["training"][feature].std() or validation.std() or 0.0)
            moved = shift(served[feature].to_numpy(np.float64), validation.to_numpy(np.float64), scale)
            row.update(statistic="shift", value=moved, limit=config.max_shift)
        else:
            row.update(statistic="psi", value=row["psi_validation"], limit=config.max_psi)
        row["passed"] = row["value"] <= row["limit"]
        values[feature] = row
        shown[feature] = {"labels": _bin_labels(binning), "shares": {"served": served_shares, **shares}}
    return values, shown


def _suites(skew: pd.DataFrame, drift: dict[str, dict[str, Any]], config: MonitorConfig) -> list[SuiteSpec]:
    """Skew: a column per feature (1 = a row that differs), its mean at most max_skew_share.
    Drift: one row, a column per feature holding its drift value, at most its limit."""
    gxe = gx_expectations()
    drift_frame = pd.DataFrame({feature: [value["value"]] for feature, value in drift.items()})
    return [
        SuiteSpec(
            "monitor.skew",
            skew,
            [gxe.ExpectColumnMeanToBeBetween(column=c, min_value=0, max_value=config.max_skew_share) for c in skew],
        ),
        SuiteSpec(
            "monitor.drift",
            drift_frame,
            [
                gxe.ExpectColumnValuesToBeBetween(column=feature, min_value=0, max_value=value["limit"])
                for feature, value in drift.items()
            ],
        ),
    ]


def _score_over_time(served: pd.DataFrame, validation: pd.DataFrame) -> str:
    """Score histograms of the log's time windows beside the validation window's."""
    edges = np.linspace(0, 1, 21)
    centers = (edges[:-1] + edges[1:]) / 2

    def histogram(scores: np.ndarray) -> list[tuple[float, float]]:
        return list(zip(centers, np.histogram(scores, bins=edges)[0] / max(len(scores), 1)))

    series = {"validation": histogram(validation[SCORE_FEATURE].to_numpy())}
    times = served[schemas.TS]
    windows = pd.cut(times.astype("int64"), bins=min(SCORE_WINDOWS, max(times.nunique(), 1)), labels=False)
    for window in sorted(pd.unique(windows)):
        rows = served[windows == window]
        label = f"served {rows[schemas.TS].min():%m-%d %H:%M}–{rows[schemas.TS].max():%H:%M}"
        series[label] = histogram(rows[schemas.SCORE].to_numpy())
    return line_chart(series, "scores over time", "score", "share of candidates", log=False)


def run_monitor(
    prediction_log: str,
    model: Path,
    repo: Path,
    data: Path,
    out: Path,
    config: MonitorConfig = MonitorConfig(),
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    arm: str | None = "stable",
) -> dict[str, Any]:
    """Check a window of the prediction log (the rows `arm` answered: the ones MODEL scored;
    None = every arm); write OUT (report, Data Docs) and return its summary. Raises
    ValidationFailed naming the first failing feature (OUT is written first)."""
    served = read_prediction_log(prediction_log, since, until)
    if arm is not None:
        arms = sorted(served[schemas.ARM].unique())
        served = served[served[schemas.ARM] == arm]
        if served.empty:
            raise AktrecError(f"prediction log {prediction_log}: no rows of arm {arm!r} in this window; arms: {arms}")
    served = _sample(served, config.max_log_rows, config.seed).reset_index(drop=True)
    bundle = load_bundle(model)
    log.info("monitor: %s logged candidates from %s", f"{len(served):,}", prediction_log)
    samples = served[[schemas.USER_ID, schemas.ITEM_ID, schemas.TS]].assign(**{schemas.ROW_ID: np.arange(len(served))})
    engine = join_engine(read_marker(repo, REPO_KIND)["config"])
    offline = historical_features(repo, samples, bundle.semantic_tables("user"), bundle.semantic_tables("item"), engine)
    skew = skew_table(served, offline, config)
    if skew.empty:
        raise AktrecError(f"prediction log {prediction_log}: no logged feature matches the repository {repo}")
    references = reference_frames(data, repo, bundle, config)
    drift, shown = drift_tables(served, references, config)
    summary: dict[str, Any] = {
        "prediction_log": prediction_log,
        "arm": arm,
        "window": {"from": served[schemas.TS].min(), "to": served[schemas.TS].max()},
        "rows": len(served),
        "requests": int(served[schemas.REQUEST_ID].nunique()),
        "releases": sorted(served[schemas.RELEASE].unique()),
        "thresholds": {
            "max_skew_share": config.max_skew_share,
            "max_shift": config.max_shift,
            "max_psi": config.max_psi,
        },
        "skew": {feature: float(skew[feature].mean()) for feature in skew},
        "drift": drift,
    }
    failure = None
    with staged_output(Path(out), MONITOR_KIND, prediction_log=prediction_log, model=str(model)) as staging:
        try:
            run_suites("monitor", _suites(skew, drift, config), staging / "validation")
        except ValidationFailed as exc:
            failure = exc
        summary["success"] = failure is None
        summary["failure"] = str(failure) if failure else None
        write_json(summary, staging / "monitor.json")
        (staging / "monitor.html").write_text(_page(summary, shown, served, references, config))
    if failure is not None:
        raise ValidationFailed(f"{failure} (report: {Path(out) / 'monitor.html'})")
    return summary


def _page(
    summary: dict[str, Any],
    shown: dict[str, dict[str, Any]],
    served: pd.DataFrame,
    references: dict[str, pd.DataFrame],
    config: MonitorConfig,
) -> str:
    skew, drift = summary["skew"], summary["drift"]
    ranked = sorted(drift, key=lambda feature: -drift[feature]["value"] / drift[feature]["limit"])
    charts = [
        bar_chart(
            shown[feature]["labels"],
            {name: list(shares) for name, shares in shown[feature]["shares"].items()},
            f"{feature} ({drift[feature]['statistic']} {drift[feature]['value']:.3f})",
            "share",
            y_min=0,
        )
        for feature in ranked[:CHARTED_FEATURES]
    ]
    window = summary["window"]
    return sections_page(
        "aktrec monitor",
        f"{summary['rows']:,} logged candidates of {summary['requests']:,} requests (arm {summary['arm'] or 'all'}), "
        f"{window['from']} to {window['to']}, releases {', '.join(summary['releases'])}. Data Docs: "
        "validation/gx/uncommitted/data_docs/local_site/index.html.",
        [
            {
                "title": "Skew: served vs the offline store at the same time",
                "passed": all(value <= config.max_skew_share for value in skew.values()),
                "notes": [
                    f"Share of rows whose served value differs from the point-in-time offline value by more than "
                    f"{config.skew_tolerance:g} × (1 + |offline|); a feature fails above {config.max_skew_share:g}. "
                    "Vectors and sequences are compared by digest."
                ],
                "header": ["feature", "rows that differ", "passed"],
                "rows": [[f, v, v <= config.max_skew_share] for f, v in sorted(skew.items(), key=lambda kv: -kv[1])],
            },
            {
                "title": "Drift: served inputs and scores vs validation and training",
                "passed": all(value["passed"] for value in drift.values()),
                "notes": [
                    f"Checked against the latest validation samples (point in time): numbers by their shift (the "
                    f"Wasserstein distance in training standard deviations; fails above {config.max_shift:g}), "
                    f"categories by the population stability index (fails above {config.max_psi:g}). The PSI of "
                    f"numbers is shown, not checked: features with few values (cluster averages) move between its "
                    f"bins as they creep. Charts: the {min(len(ranked), CHARTED_FEATURES)} largest drifts."
                ],
                "header": ["feature", "checked", "value", "limit", "PSI vs validation", "PSI vs training", "passed"],
                "rows": [
                    [
                        f,
                        drift[f]["statistic"],
                        drift[f]["value"],
                        drift[f]["limit"],
                        drift[f]["psi_validation"],
                        drift[f]["psi_training"],
                        drift[f]["passed"],
                    ]
                    for f in ranked
                ],
                "charts": charts,
            },
            {
                "title": "Scores over time",
                "charts": [_score_over_time(served, references["validation"])],
            },
        ],
    )
