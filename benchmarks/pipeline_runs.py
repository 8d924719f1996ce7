"""Benchmark the whole local pipeline run, stage by stage, on several data sets.

    python benchmarks/pipeline_runs.py --raw NAME=RAW [--raw NAME=RAW ...] [--synth 100000,300000,1000000]
        [--config FILE] [--workroot DIR]

(docs/benchmarks.md ran one data set per call, so each row's peak memory is its own, with
--config pipelines/configs/amazon-beauty.yaml or bounded-training.yaml.)

Runs `aktrec pipeline run` (no cache) per data set and reports each task's wall time (the local
runner runs tasks one after another; a task's time is the gap between its executor output and
the previous one's, so it includes KFP's ~1 s per-task overhead) and peak memory of the run.
Synthetic sets keep the generator's default users/items ratios: users = interactions / 30,
items = interactions / 60.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

TASKS = [
    "validate-raw",
    "prepare",
    "embed-items",
    "embed-users",
    "semantic-ids",
    "materialize-features",
    "train",
    "report",
    "deploy",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", action="append", default=[], help="NAME=RAW directory")
    parser.add_argument("--synth", default="", help="comma-separated synthetic interaction counts")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--workroot", type=Path, default=Path("work/bench-pipeline"))
    args = parser.parse_args()

    from aktrec.config import SynthConfig
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate
    from aktrec.pipeline.runner import run_local

    sets = [tuple(item.split("=", 1)) for item in args.raw]
    for size in filter(None, args.synth.split(",")):
        n = int(size)
        raw = args.workroot / f"synth-{n}" / "raw"
        if not raw.exists():
            write_raw(generate(SynthConfig(n_users=max(n // 30, 100), n_items=max(n // 60, 50), n_interactions=n)), raw)
        sets.append((f"synthetic {n:,}", str(raw)))
    rows = []
    for name, raw in sets:
        work = args.workroot / name.replace(" ", "-").replace(",", "")
        started = time.time()
        run_local(Path(raw), work, args.config, cache=False)
        total = time.time() - started
        run = max((work / "runs").glob("aktrec-*"), key=lambda p: p.stat().st_mtime)
        finished = {
            task: (run / task / "executor_output.json").stat().st_mtime
            for task in TASKS
            if (run / task / "executor_output.json").is_file()
        }
        order = sorted(finished, key=finished.get)
        times, previous = {}, started
        for task in order:
            times[task] = finished[task] - previous
            previous = finished[task]
        rows.append((name, times, total))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("| data | " + " | ".join(TASKS) + " | total |")
    print("|---|" + "---|" * (len(TASKS) + 1))
    for name, times, total in rows:
        print(
            f"| {name} | "
            + " | ".join(f"{times[t]:.0f} s" if t in times else "–" for t in TASKS)
            + f" | {total / 60:.1f} min |"
        )
    print(f"\nPeak memory of one task process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
