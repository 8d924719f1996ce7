"""Benchmark the data stages: wall time and peak memory, one fresh process per case.

    python benchmarks/data_stages.py [--amazon ../shared/data/amazon-beauty] [--sizes 100000 300000 1000000]

Prints a markdown table (the one in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_case(case: str, size: int, amazon: str, workdir: str) -> dict:
    """Runs in a child process; returns its timings and peak RSS."""
    from aktrec.config import PrepareConfig, SplitConfig, SynthConfig
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.data.raw import write_raw

    timings = {}
    start = time.perf_counter()
    if case == "synth":
        from aktrec.data.synth import generate

        raw = generate(SynthConfig(n_users=max(1_000, size // 30), n_items=max(500, size // 60), n_interactions=size))
        config = PrepareConfig()
        timings["generate_s"] = time.perf_counter() - start
    else:
        from aktrec.data.amazon import import_amazon

        raw = import_amazon(Path(amazon) / "Amazon_Beauty.item", sequences=Path(amazon) / "user_sequence.txt")
        config = PrepareConfig(split=SplitConfig(method="leave-last-out"))
        timings["parse_s"] = time.perf_counter() - start
    start = time.perf_counter()
    write_raw(raw, Path(workdir) / "raw")
    timings["write_raw_validated_s"] = time.perf_counter() - start
    start = time.perf_counter()
    data = prepare(raw, config)
    timings["prepare_s"] = time.perf_counter() - start
    start = time.perf_counter()
    write_prepared(data, Path(workdir) / "data", config)
    timings["write_data_validated_s"] = time.perf_counter() - start
    timings["rows_out"] = data.card["train"]["n"] + data.card["test"]["n"]
    timings["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--amazon", default=str(Path(__file__).resolve().parents[2] / "shared/data/amazon-beauty"))
    parser.add_argument("--child", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as workdir:
            print(json.dumps(run_case(args.child[0], int(args.child[1]), args.amazon, workdir)))
        return
    cases = [("synth", size) for size in args.sizes]
    if (Path(args.amazon) / "user_sequence.txt").is_file():
        cases.append(("amazon", 198_502))
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}\n")
    print(
        "| data | interactions in | rows out | generate/parse s | write RAW + GX s | prepare s | write DATA + "
        "GX s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case, size in cases:
        output = subprocess.run(
            [sys.executable, __file__, "--amazon", args.amazon, "--child", case, str(size)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        t = json.loads(output.strip().splitlines()[-1])
        first = t.get("generate_s", t.get("parse_s"))
        name = "synthetic" if case == "synth" else "Amazon Beauty (leave-last-out)"
        print(
            f"| {name} | {size:,} | {t['rows_out']:,} | {first:.1f} | {t['write_raw_validated_s']:.1f} | "
            f"{t['prepare_s']:.1f} | {t['write_data_validated_s']:.1f} | {t['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
