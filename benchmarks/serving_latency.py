"""Benchmark the live predictor: latency and throughput of 1 user x K candidates.

    python benchmarks/serving_latency.py --model MODEL --repo REPO [--candidates 10,100,500]
        [--concurrency 1,8] [--requests 200] [--name NAME]

Starts `aktrec serve` on a free loopback port, sends v1 requests (random known users, random
known candidates) from C client threads, and reports p50/p99 latency and requests/s; next to
it, the bare model (encode + forward of an already retrieved feature frame) for the same
inputs, and the ratio of the two at concurrency 1.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--candidates", default="10,100,500")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per client")
    parser.add_argument("--name", default="run")
    args = parser.parse_args()

    import torch

    from aktrec.ctr.bundle import load_bundle
    from aktrec.ctr.train import predict
    from aktrec.serving.features import OnlineFeatureReader
    from aktrec.serving.local import running_predictor

    torch.set_num_threads(1)  # as the server does
    bundle = load_bundle(args.model)
    users, items = list(bundle.vocab.user.ids), list(bundle.vocab.item.ids)
    reader = OnlineFeatureReader(args.repo, bundle, refresh_seconds=3600)
    with running_predictor(args.model, args.repo) as base_url:
        url = f"{base_url}/v1/models/aktrec:predict"
        print(
            f"{args.name}: {len(users):,} users, {len(items):,} items; v1 over HTTP on 127.0.0.1; "
            f"{args.requests} timed requests per client after 20 warm-up\n"
        )
        print(
            "| candidates | concurrency | p50 ms | p99 ms | requests/s | candidates/s | bare model p50 ms | "
            "bare p99 ms | p50 overhead x |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for k in (int(c) for c in args.candidates.split(",")):
            rng = np.random.default_rng(k)
            bodies = [
                json.dumps(
                    {
                        "instances": [
                            {
                                "user_id": users[rng.integers(len(users))],
                                "item_ids": list(rng.choice(items, size=k, replace=len(items) < k)),
                            }
                        ]
                    }
                ).encode()
                for _ in range(64)
            ]
            bare = []
            for n, body in enumerate(bodies[:32] * 3):
                instance = json.loads(body)["instances"][0]
                frame = reader.columns(instance["user_id"], instance["item_ids"])
                started = time.perf_counter()
                predict(bundle.model, bundle.encode(frame))
                if n >= 16:
                    bare.append((time.perf_counter() - started) * 1000)
            bare_p50, bare_p99 = np.percentile(bare, 50), np.percentile(bare, 99)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                latencies: list[float] = []
                lock = threading.Lock()

                def client(seed: int, bodies=bodies, lock=lock, latencies=latencies) -> None:
                    for n in range(20 + args.requests):
                        body = bodies[(seed * 7 + n) % len(bodies)]
                        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                        started = time.perf_counter()
                        urllib.request.urlopen(request, timeout=60).read()
                        if n >= 20:
                            with lock:
                                latencies.append((time.perf_counter() - started) * 1000)

                threads = [threading.Thread(target=client, args=(s,)) for s in range(concurrency)]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
                p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
                rate = len(latencies) / elapsed  # includes warm-up time: a lower bound
                print(
                    f"| {k} | {concurrency} | {p50:.1f} | {p99:.1f} | {rate:.0f} | {rate * k:,.0f} | {bare_p50:.1f} | "
                    f"{bare_p99:.1f} | {p50 / bare_p50:.1f} |"
                )


if __name__ == "__main__":
    main()
