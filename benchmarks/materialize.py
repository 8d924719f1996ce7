"""Benchmark feature materialization: seconds, peak memory and offline rows per data set.

    python benchmarks/materialize.py [--set NAME=DATA,SID] [--synth 100000,1000000] [--src DIR] [--workroot DIR]

`--set` names finished DATA and SID artifacts (the SID records its EMB). `--synth N` builds a
synthetic set of N interactions (users = N/30, items = N/60, as benchmarks/pipeline_runs.py)
with planted 384-d representations (the encoder is not what this measures) and real semantic
IDs. Each materialization runs as `aktrec features materialize` in its own process; peak
memory is that process's maximum resident set. `--src DIR` runs another checkout's library
(e.g. a `git worktree` of an earlier commit) for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def synthetic_set(n: int, root: Path) -> tuple[Path, Path]:
    from aktrec.cli import main
    from aktrec.config import PrepareConfig, SynthConfig
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.data.synth import generate
    from aktrec.embed.planted import write_planted_embeddings

    data, sid = root / "data", root / "sid"
    if not sid.exists():
        raw = generate(SynthConfig(n_users=max(n // 30, 100), n_items=max(n // 60, 50), n_interactions=n))
        prepared = prepare(raw, PrepareConfig())
        write_prepared(prepared, data, PrepareConfig(), validate=False)
        write_planted_embeddings(prepared, root / "emb", dim=384)
        if main(["semantic-ids", "--data", str(data), "--embeddings", str(root / "emb"), "--out", str(sid)]) != 0:
            sys.exit(f"semantic IDs of synthetic {n:,} failed")
    return data, sid


def materialize(data: Path, sid: Path, repo: Path, src: Path | None) -> tuple[float, float]:
    """Seconds and peak MiB of one `aktrec features materialize` process."""
    env = dict(os.environ, PYTHONPATH=str(src)) if src else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "aktrec",
            "features",
            "materialize",
            "--data",
            str(data),
            "--sids",
            str(sid),
            "--repo",
            str(repo),
        ],
        check=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print(f"note: peak memory of {repo} is not above an earlier run's; run one set per call", file=sys.stderr)
    return seconds, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=DATA,SID")
    parser.add_argument("--synth", default="", help="comma-separated synthetic interaction counts")
    parser.add_argument("--src", type=Path, default=None, help="the library to run (a checkout's src/)")
    parser.add_argument("--workroot", type=Path, default=Path("work/bench-materialize"))
    args = parser.parse_args()

    sets = []
    for item in args.set:
        name, paths = item.split("=", 1)
        data, sid = paths.split(",")
        sets.append((name, Path(data), Path(sid)))
    for size in filter(None, args.synth.split(",")):
        sets.append((f"synthetic {int(size):,}", *synthetic_set(int(size), args.workroot / f"synth-{size}")))
    print("| data | snapshots | offline rows | materialize s | peak memory |")
    print("|---|---|---|---|---|")
    for name, data, sid in sets:
        repo = args.workroot / ("repo-" + name.replace(" ", "-").replace(",", ""))
        seconds, peak = materialize(data, sid, repo, args.src)
        metrics = json.loads((repo / "metrics.json").read_text())
        print(
            f"| {name} | {metrics['n_snapshots']:,} | {sum(metrics['rows'].values()):,} | {seconds:.0f} s | "
            f"{peak / 1024:.2f} GiB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
