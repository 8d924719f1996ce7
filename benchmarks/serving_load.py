"""Benchmark the live predictor under load, and where a request's time goes.

    python benchmarks/serving_load.py --model MODEL --repo REPO [--online-store sqlite|redis]
        [--candidates 10,100,500] [--concurrency 1,2,4,8,16] [--seconds 20] [--workers 2] [--name NAME]
        [--prediction-log off,1,0.1]

Starts `aktrec serve` (WORKERS processes) on a free loopback port (with `redis`: a redis-server on 127.0.0.1 that
this script starts, filled from REPO as the pipeline's deploy step fills one) and drives it
with locust (headless, closed loop: C users each sending the next v1 request as soon as the
last one answered; a separate process from the server). Requests are one random known user and
K random known candidates. Prints, per K and C (and per prediction-log setting: off, or the
share of requests logged to a local directory): requests/s, p50/p99 latency and failures; then
the same requests' phases measured in this process (parse, feature read, encode, forward,
serialize) for one request and per request in a batch of 8 (what the micro-batcher does under
concurrency), and the memory the warmed feature cache takes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def online_store(kind: str, repo: Path):
    """REPO itself (SQLite), or a copy reading a freshly filled Redis on a free loopback port."""
    if kind == "sqlite":
        yield repo
        return
    from aktrec.features.online import fill_online
    from aktrec.features.repo import store_yaml
    from aktrec.serving.local import free_port

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as scratch:
            served = Path(scratch) / "repo"
            shutil.copytree(repo, served, ignore=shutil.ignore_patterns("data", "online_store.db", "validation"))
            (served / "feature_store.yaml").write_text(store_yaml(f"redis://127.0.0.1:{port}"))
            fill_online(repo, f"redis://127.0.0.1:{port}")
            yield served
    finally:
        server.terminate()
        server.wait()


def locust_run(url: str, bodies: Path, users: int, seconds: int, out: Path) -> dict[str, float]:
    prefix = out / f"c{users}"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--only-summary",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ, "AKTREC_BODIES": str(bodies)},
        check=True,
        capture_output=True,
    )
    with open(f"{prefix}_stats.csv") as file:
        row = next(r for r in csv.DictReader(file) if r["Name"] == "Aggregated")
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
    }


def phases(bodies: list[dict], bundle, reader, batch: int) -> dict[str, float]:
    """Median milliseconds per request of each phase, `batch` requests at a time."""
    from aktrec.config import ServingConfig
    from aktrec.ctr.bundle import predict
    from aktrec.serving.requests import parse_v1

    config, raw = ServingConfig(), [json.dumps(body).encode() for body in bodies]
    timings: dict[str, list[float]] = {k: [] for k in ("parse", "feature read", "encode", "forward", "serialize")}
    for start in range(0, len(raw) - batch + 1, batch):
        clock = time.perf_counter()
        requests = [r for body in raw[start : start + batch] for r in parse_v1(json.loads(body), config)]
        marks = [clock, time.perf_counter()]
        columns = reader.columns(requests)
        marks.append(time.perf_counter())
        inputs = bundle.encode(columns)
        marks.append(time.perf_counter())
        scores = predict(bundle.model, inputs)
        marks.append(time.perf_counter())
        for part in np.array_split(scores, batch):
            json.dumps({"predictions": [part.tolist()]})
        marks.append(time.perf_counter())
        for name, begin, end in zip(timings, marks, marks[1:]):
            timings[name].append((end - begin) * 1000 / batch)
    return {name: float(np.median(values[len(values) // 4 :])) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--online-store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--candidates", default="10,100,500")
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=int, default=20, help="locust run time per cell")
    parser.add_argument("--workers", type=int, default=2, help="predictor processes (the image's default: 2)")
    parser.add_argument("--name", default="run")
    parser.add_argument(
        "--prediction-log",
        default="off",
        help="off or a sample rate (1 = every request), comma-separated: cells for each",
    )
    args = parser.parse_args()

    from aktrec.ctr.bundle import load_bundle
    from aktrec.serving.local import running_predictor

    bundle = load_bundle(args.model)
    users, items = list(bundle.vocab.user.ids), list(bundle.vocab.item.ids)
    with online_store(args.online_store, args.repo) as repo, tempfile.TemporaryDirectory() as scratch:
        print(
            f"{args.name}: {len(users):,} users, {len(items):,} items; {args.online_store} online store; "
            f"{args.workers} predictor process(es); locust, {args.seconds} s per cell; v1 over HTTP on 127.0.0.1\n"
        )
        print("| prediction log | candidates | concurrency | requests/s | p50 ms | p99 ms | failed |")
        print("|---|---|---|---|---|---|---|")
        breakdowns = {}
        for logging in args.prediction_log.split(","):
            serving_config = Path(scratch) / f"serving-{logging}.yaml"
            log_dir = Path(scratch) / f"prediction-log-{logging}"
            log_setting = f"prediction_log: {{uri: {log_dir}, sample_rate: {logging}}}\n" if logging != "off" else ""
            serving_config.write_text(f"workers: {args.workers}\n{log_setting}")
            with running_predictor(args.model, repo, ["--config", str(serving_config)]) as url:
                for k in (int(c) for c in args.candidates.split(",")):
                    rng = np.random.default_rng(k)
                    bodies = [
                        {
                            "instances": [
                                {
                                    "user_id": users[rng.integers(len(users))],
                                    "item_ids": list(rng.choice(items, size=k, replace=len(items) < k)),
                                }
                            ]
                        }
                        for _ in range(256)
                    ]
                    bodies_file = Path(scratch) / f"bodies-{k}.json"
                    bodies_file.write_text(json.dumps(bodies))
                    for concurrency in (int(c) for c in args.concurrency.split(",")):
                        stats = locust_run(url, bodies_file, concurrency, args.seconds, Path(scratch))
                        print(
                            f"| {logging} | {k} | {concurrency} | {stats['rps']:.0f} | {stats['p50']:.0f} | "
                            f"{stats['p99']:.0f} | {stats['failures']:.0f} of {stats['requests']:.0f} |"
                        )
                    breakdowns[k] = bodies
        from aktrec.config import ServingConfig
        from aktrec.serving.features import OnlineFeatureReader

        before = psutil.Process().memory_info().rss
        reader = OnlineFeatureReader(repo, bundle, ServingConfig(cache_refresh_seconds=3600))
        cache_mib = (psutil.Process().memory_info().rss - before) / 2**20
        print("\nWhere a request's time goes (this process, median ms per request; batch 8 = micro-batched):\n")
        print("| candidates | batch | parse | feature read | encode | forward | serialize | total |")
        print("|---|---|---|---|---|---|---|---|")
        for k, bodies in breakdowns.items():
            for batch in (1, 8):
                parts = phases(bodies[:128], bundle, reader, batch)
                cells = " | ".join(f"{v:.2f}" for v in parts.values())
                print(f"| {k} | {batch} | {cells} | {sum(parts.values()):.2f} |")
        print(f"\nMemory of the warmed feature reader (cache, store, item encoder): {cache_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
