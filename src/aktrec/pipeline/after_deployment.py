"""The step functions of the after-deployment components: `monitor` (a scheduled check of the
prediction log), `readout` (a canary's outcomes) and `score` (offline scoring of a requests
table)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from aktrec.config import MonitorConfig, ReadoutConfig, from_dict, read_yaml


def _settings(cls: type, text: str, where: str):
    """Settings `cls` from the component's YAML parameter ("" = defaults)."""
    return from_dict(cls, read_yaml(text or "", where) or {}, where=where)


def _window_start(window_hours: float) -> pd.Timestamp | None:
    """The start of the last `window_hours` (0 = no start: all of the log)."""
    return pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=window_hours) if window_hours > 0 else None


def monitor_step(
    prediction_log: str,
    model: str,
    feature_repo: str,
    data: str,
    window_hours: float,
    arm: str,
    config: str,
    report: str,
    page: str,
) -> None:
    """`aktrec monitor` on the last `window_hours` of the log (0 = all of it) for `arm` ("all" =
    every arm); the report directory and its page for the KFP UI. A crossed threshold fails the
    task, naming the feature (a scheduled run that fails is the alert)."""
    from aktrec.monitoring.monitor import run_monitor

    settings = _settings(MonitorConfig, config, "monitor config")
    since = _window_start(window_hours)
    try:
        run_monitor(
            prediction_log,
            Path(model),
            Path(feature_repo),
            Path(data),
            Path(report),
            settings,
            since=since,
            arm=None if arm == "all" else arm,
        )
    finally:
        written = Path(report) / "monitor.html"
        if written.is_file():
            Path(page).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(written, page)


def readout_step(prediction_log: str, outcomes: str, window_hours: float, config: str, report: str, page: str) -> None:
    """`aktrec readout` on the last `window_hours` of the log (0 = all of it) against the
    outcomes table; the report directory and its page for the KFP UI."""
    from aktrec.data.contract import read_table
    from aktrec.monitoring.readout import run_readout

    settings = _settings(ReadoutConfig, config, "readout config")
    since = _window_start(window_hours)
    run_readout(prediction_log, read_table(outcomes, "outcomes"), Path(report), settings, since=since)
    Path(page).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(report) / "readout.html", page)


def score_step(model: str, feature_repo: str, requests: str, scores: str) -> None:
    """`aktrec score`: the requests table (parquet) scored offline into `scores` (parquet)."""
    import pyarrow as pa

    from aktrec.artifacts import write_parquet_file
    from aktrec.ctr.scoring import score_requests
    from aktrec.data.contract import read_table

    scored = score_requests(Path(model), Path(feature_repo), read_table(requests, "requests"))
    write_parquet_file(pa.Table.from_pandas(scored, preserve_index=False), Path(scores))
