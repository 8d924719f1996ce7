"""Benchmark the engines beyond one process: features on pandas vs Spark (local mode), CTR
training in 1 vs 2 DDP processes, at growing synthetic sizes on this machine.

    python benchmarks/distributed_scaling.py [--synth 100000,300000,1000000] [--workroot DIR]

Each set is built once (`benchmarks/materialize.py`: N interactions, planted 384-d
representations, real semantic IDs). Every measured step is its own process tree: seconds of
wall time and the peak resident memory of the tree (the Spark JVM and its Python workers, or
both torchrun processes, included), sampled every 0.2 s with psutil. Training: the `aktrec`
variant, 2 epochs, LightGBM off. Prints one table row per (size, step) and the exponent b of
seconds ∝ n^b between the smallest and the largest size.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from materialize import synthetic_set  # noqa: E402

BIN = Path(sys.executable).parent
TRAIN = ["train", "--variants", "aktrec", "--deploy", "aktrec", "--epochs", "2"]


def measured(command: list[str]) -> tuple[float, float]:
    """Seconds and peak GiB (the whole process tree) of one command."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, tree = [0], psutil.Process(process.pid)

    def sample() -> None:
        while process.poll() is None:
            try:
                members = [tree, *tree.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in members if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    _, errors = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    return seconds, peak[0] / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", default="100000,300000,1000000")
    parser.add_argument("--workroot", type=Path, default=Path("work/bench-distributed"))
    args = parser.parse_args()
    sizes = [int(size) for size in args.synth.split(",")]
    results: dict[str, dict[int, float]] = {}
    print("| interactions | step | seconds | peak memory (process tree) | of which computing the views |")
    print("|---|---|---|---|---|")
    for n in sizes:
        root = args.workroot / f"synth-{n}"
        data, sid = synthetic_set(n, root)
        config = args.workroot / "train.yaml"
        config.write_text("lightgbm: {enabled: false}\npromotion: {compare_with: aktrec}\n")
        steps = []
        for engine in ("pandas", "spark"):
            (root / f"{engine}.yaml").write_text(f"engine: {engine}\n")
            repo = root / f"repo-{engine}"
            steps.append(
                (
                    f"materialize, {engine}",
                    [str(BIN / "aktrec"), "features", "materialize", "--data", str(data), "--sids", str(sid)]
                    + ["--repo", str(repo), "--config", str(root / f"{engine}.yaml")],
                    repo,
                )
            )
        train = [*TRAIN, "--data", str(data), "--repo", str(root / "repo-pandas"), "--config", str(config)]
        steps.append(("train, 1 process", [str(BIN / "aktrec"), *train, "--out", str(root / "model-1")], None))
        steps.append(
            (
                "train, 2 DDP processes",
                [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python", str(BIN / "aktrec")]
                + [*train, "--out", str(root / "model-2")],
                None,
            )
        )
        for name, command, repo in steps:
            seconds, peak = measured(command)
            results.setdefault(name, {})[n] = seconds
            compute = ""
            if repo is not None:
                compute = f"{json.loads((repo / 'metrics.json').read_text())['seconds_compute']:.1f} s"
            print(f"| {n:,} | {name} | {seconds:.1f} | {peak:.2f} GiB | {compute} |", flush=True)
    if len(sizes) > 1:
        print("\n| step | exponent b (seconds ∝ n^b) |\n|---|---|")
        low, high = sizes[0], sizes[-1]
        for name, by_size in results.items():
            exponent = math.log(by_size[high] / by_size[low]) / math.log(high / low)
            print(f"| {name} | {exponent:.2f} |")


if __name__ == "__main__":
    main()
