"""After deployment on real data: replay a test window against a stable and a canary predictor
with the prediction log on, then `monitor`, `readout` and `score` on what was logged.

    python benchmarks/after_deployment.py --model MODEL [--canary-model MODEL2] --repo REPO --data DATA
        --workdir DIR [--requests 2000] [--candidates 10] [--canary-share 0.2] [--break-feature NAME]

The requests are the test window's impressions (DATA's test split), each user's in time order,
`--candidates` per request; their labels are the outcomes, each click tied to the request that
showed the item (`aktrec.monitoring.replay`). Prints the monitor's verdict per arm with the
largest drifts, the monitor on a copy of the log with one feature served as 0, the readout per
arm with the canary's lift, and the offline scorer's parity with the logged online scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--canary-model", type=Path, help="default: MODEL again (an A/A test)")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--canary-share", type=float, default=0.2)
    parser.add_argument(
        "--break-feature", default="user_activity__ctr", help="also monitor a copy of the log with it served as 0"
    )
    args = parser.parse_args()

    from aktrec import schemas
    from aktrec.ctr.scoring import score_requests
    from aktrec.data.prepare import read_prepared
    from aktrec.errors import ValidationFailed
    from aktrec.monitoring.monitor import run_monitor
    from aktrec.monitoring.prediction_log import read_prediction_log
    from aktrec.monitoring.readout import lift_line, run_readout
    from aktrec.monitoring.replay import outcomes, replay, window_requests
    from aktrec.serving.local import running_predictor

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    log_uri = str(args.workdir / "prediction-log")
    config = args.workdir / "serving.yaml"
    config.write_text(f"prediction_log: {{uri: {log_uri}, shard_seconds: 10}}\n")
    requests = window_requests(read_prepared(args.data).test, args.candidates).head(args.requests)
    canary_model = args.canary_model or args.model
    started = time.perf_counter()
    with (
        running_predictor(args.model, args.repo, ["--config", str(config)]) as stable,
        running_predictor(canary_model, args.repo, ["--config", str(config), "--arm", "canary"]) as canary,
    ):
        ready = time.perf_counter()
        replayed = replay({"stable": stable, "canary": canary}, args.canary_share, requests)
        seconds = time.perf_counter() - ready
    logged = read_prediction_log(log_uri)
    print(
        f"Replayed {len(replayed):,} test-window requests of {args.candidates} candidates "
        f"({replayed[schemas.ARM].value_counts().to_dict()}) in {seconds:.0f} s (predictors ready in "
        f"{ready - started:.0f} s); {len(logged):,} candidates logged\n"
    )

    for arm, model in (("stable", args.model), ("canary", canary_model)):
        began = time.perf_counter()
        try:
            run_monitor(log_uri, model, args.repo, args.data, args.workdir / f"monitor-{arm}", arm=arm)
            verdict = "passed"
        except ValidationFailed as exc:
            verdict = f"failed: {str(exc).split(' (report')[0]}"
        summary = json.loads((args.workdir / f"monitor-{arm}" / "monitor.json").read_text())
        print(f"monitor {arm} ({time.perf_counter() - began:.0f} s): {verdict}\n")
        print("| feature | rows skewed | drift checked | value (limit) | PSI vs validation | PSI vs training |")
        print("|---|---|---|---|---|---|")
        drift = summary["drift"]
        for feature in sorted(drift, key=lambda name: -drift[name]["value"] / drift[name]["limit"])[:8]:
            skewed, row = summary["skew"].get(feature), drift[feature]
            print(
                f"| {feature} | {'–' if skewed is None else f'{skewed:.4f}'} | {row['statistic']} "
                f"| {row['value']:.3f} ({row['limit']:g}) | {row['psi_validation']:.3f} | {row['psi_training']:.3f} |"
            )
        print(f"\nlargest skew share over {len(summary['skew'])} features: {max(summary['skew'].values()):.4f}\n")

    broken_log = args.workdir / "broken-log"
    shutil.copytree(log_uri, broken_log)
    for shard in broken_log.rglob("*.parquet"):
        pq.write_table(
            pq.read_table(shard).to_pandas().assign(**{args.break_feature: 0.0}).pipe(pa.Table.from_pandas), shard
        )
    try:
        run_monitor(str(broken_log), args.model, args.repo, args.data, args.workdir / "monitor-broken")
        print(f"monitor with {args.break_feature} served as 0: passed (the check missed it)\n")
    except ValidationFailed as exc:
        print(f"monitor with {args.break_feature} served as 0: failed: {str(exc).split(' (report')[0]}\n")

    began = time.perf_counter()
    result = run_readout(log_uri, outcomes(replayed), args.workdir / "readout")
    print(f"readout ({time.perf_counter() - began:.0f} s):\n")
    print("| arm | variant | requests | impressions | CTR | AUC | GAUC | tail AUC | head AUC |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arm, value in result["arms"].items():
        total, tail, head = (value["slices"][part] for part in ("total", "tail", "head"))
        print(
            f"| {arm} | {', '.join(value['variants'])} | {value['requests']:,} | {total['impressions']:,} "
            f"| {total['ctr']:.4f} | {total['auc']:.4f} | {total['gauc']:.4f} | {tail['auc']:.4f} | {head['auc']:.4f} |"
        )
    print(f"\n{lift_line(result['lift'])}\n")

    stable_rows = logged[logged[schemas.ARM] == "stable"].reset_index(drop=True)
    table = stable_rows.groupby([schemas.REQUEST_ID, schemas.INSTANCE], sort=False).agg(
        **{
            schemas.USER_ID: (schemas.USER_ID, "first"),
            schemas.ITEM_IDS: (schemas.ITEM_ID, list),
            schemas.TS: (schemas.TS, "first"),
        }
    )
    began = time.perf_counter()
    offline = score_requests(args.model, args.repo, table.reset_index(drop=True))
    gap = np.abs(offline[schemas.SCORE].to_numpy() - stable_rows[schemas.SCORE].to_numpy())
    print(
        f"score: {len(offline):,} candidates of {len(table):,} logged requests scored offline in "
        f"{time.perf_counter() - began:.0f} s; largest difference from the online score {gap.max():.2e}"
    )


if __name__ == "__main__":
    main()
