"""Benchmark the whole local pipeline run, stage by stage: cold runs, scaling, the "next day".

    python benchmarks/pipeline_runs.py --raw NAME=RAW [--raw NAME=RAW ...] [--synth 100000,1000000]
        [--config FILE] [--workroot DIR] [--next-day 0.01]

(docs/benchmarks.md ran one data set per call, so each row's peak memory is its own, with
--config pipelines/configs/amazon-beauty.yaml or bounded-training.yaml.)

Runs `aktrec pipeline run` (no cache) per data set and reports each task's wall time (the local
runner runs tasks one after another; a task's time is the gap between its executor output and
the previous one's, so it includes KFP's ~1 s per-task overhead) and peak memory of the run.
Synthetic sets keep the generator's default users/items ratios: users = interactions / 30,
items = interactions / 60; with two or more sizes, each stage's scaling exponent between the
smallest and the largest (time ~ n^k) is printed too.

--next-day SHARE: for each RAW set, also the daily re-run. "Day 0" is RAW without its newest
SHARE of interactions (and without items first seen in them), run with an empty representation
cache; "day 1" is the whole RAW, run with the cache day 0 filled. Its stage times, how many
prompts each embedding stage encoded, and its test metrics beside the cold run's on the same
data are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
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
ENCODED = re.compile(r"representation cache \S+: (\d+) of (\d+) distinct prompts computed")


def timed_run(raw: Path, work: Path, config: Path | None, representation_cache: str = "") -> tuple[dict, float]:
    """Run the pipeline without KFP's step cache: ({task: seconds}, total seconds)."""
    from aktrec.pipeline.runner import run_local

    started = time.time()
    run_local(raw, work, config, cache=False, representation_cache=representation_cache)
    total = time.time() - started
    run = max((work / "runs").glob("aktrec-*"), key=lambda p: p.stat().st_mtime)
    finished = {
        task: (run / task / "executor_output.json").stat().st_mtime
        for task in TASKS
        if (run / task / "executor_output.json").is_file()
    }
    times, previous = {}, started
    for task in sorted(finished, key=finished.get):
        times[task] = finished[task] - previous
        previous = finished[task]
    return times, total


def encoded_prompts(work: Path) -> str:
    """'computed/distinct' of each representation-cache read in the newest run's log."""
    log = max((work / "runs").glob("*.log"), key=lambda p: p.stat().st_mtime)
    return ", ".join(f"{int(done):,}/{int(total):,}" for done, total in ENCODED.findall(log.read_text()))


def day_zero(raw: Path, out: Path, new_share: float) -> Path:
    """RAW without its newest `new_share` of interactions and the items first seen in them."""
    import pyarrow.compute as pc

    from aktrec import schemas
    from aktrec.data.raw import RawData, read_raw, write_raw

    data = read_raw(raw)
    interactions = data.interactions.sort_by(schemas.TS)
    kept = interactions.slice(0, round(len(interactions) * (1 - new_share)))
    items = data.items
    if items is not None:
        new_items = pc.is_in(
            items[schemas.ITEM_ID], value_set=pc.unique(interactions.slice(len(kept))[schemas.ITEM_ID])
        )
        seen = pc.is_in(items[schemas.ITEM_ID], value_set=pc.unique(kept[schemas.ITEM_ID]))
        items = items.filter(pc.or_(pc.invert(new_items), seen))
    return write_raw(RawData(kept, items, data.users, data.ts_kind, data.source), out)


def test_metrics(work: Path) -> dict[str, float]:
    models = json.loads((work / "metrics.json").read_text())["models"]
    return {
        f"{model} {part} {metric}": values[part][metric]
        for model, values in models.items()
        for part in ("total", "head", "tail")
        for metric in ("auc", "gauc")
        if part in values
    }


def table(rows: list[tuple[str, dict, float]], extra: str = "", extras: list[str] | None = None) -> None:
    print("| run | " + " | ".join(TASKS) + " | total |" + (f" {extra} |" if extra else ""))
    print("|---|" + "---|" * (len(TASKS) + 1 + bool(extra)))
    for index, (name, times, total) in enumerate(rows):
        cells = " | ".join(f"{times[t]:.0f} s" if t in times else "–" for t in TASKS)
        print(f"| {name} | {cells} | {total / 60:.1f} min |" + (f" {extras[index]} |" if extra else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", action="append", default=[], help="NAME=RAW directory")
    parser.add_argument("--synth", default="", help="comma-separated synthetic interaction counts")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--workroot", type=Path, default=Path("work/bench-pipeline"))
    parser.add_argument("--next-day", type=float, default=0.0, help="share of newest interactions held to day 1")
    args = parser.parse_args()

    from aktrec.config import SynthConfig
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate

    sets = [(name, Path(raw), None) for name, raw in (item.split("=", 1) for item in args.raw)]
    for size in filter(None, args.synth.split(",")):
        n = int(size)
        raw = args.workroot / f"synth-{n}" / "raw"
        if not raw.exists():
            write_raw(generate(SynthConfig(n_users=max(n // 30, 100), n_items=max(n // 60, 50), n_interactions=n)), raw)
        sets.append((f"synthetic {n:,}", raw, n))
    rows, daily = [], []
    for name, raw, _ in sets:
        work = args.workroot / name.replace(" ", "-").replace(",", "")
        times, total = timed_run(raw, work / "cold", args.config)
        rows.append((name, times, total))
        if args.next_day:
            cache = str((work / "representation-cache").absolute())
            day0 = day_zero(raw, work / "day0-raw", args.next_day)
            times0, total0 = timed_run(day0, work / "daily", args.config, cache)
            encoded0 = encoded_prompts(work / "daily")
            times1, total1 = timed_run(raw, work / "daily", args.config, cache)
            cold, warm = test_metrics(work / "cold"), test_metrics(work / "daily")
            gap = max(abs(cold[key] - warm[key]) for key in cold)
            daily.append(
                (
                    name,
                    [("day 0, empty cache", times0, total0), ("day 1, cache of day 0", times1, total1)],
                    [encoded0, encoded_prompts(work / "daily")],
                    gap,
                )
            )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table(rows)
    print(f"\nPeak memory of one task process: {peak:,.0f} MiB")
    sizes = [(n, times) for (_, _, n), (_, times, _) in zip(sets, rows) if n]
    if len(sizes) >= 2:
        (small, first), (large, last) = min(sizes, key=lambda s: s[0]), max(sizes, key=lambda s: s[0])
        exponents = " | ".join(
            f"{math.log(last[t] / first[t]) / math.log(large / small):.2f}" if t in first and t in last else "–"
            for t in TASKS
        )
        print(f"\nScaling exponent k (time ~ n^k), {small:,} -> {large:,} interactions: | {exponents} |")
    for name, runs, encoded, gap in daily:
        print(f"\n{name}, next day ({args.next_day:.0%} newest interactions new):\n")
        table(runs, "prompts encoded (items, users: computed/distinct)", encoded)
        print(f"\nDay 1's test AUC/GAUC (every model, total/head/tail) vs the cold run's: max |difference| {gap:.4f}")


if __name__ == "__main__":
    main()
