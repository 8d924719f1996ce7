"""Soak the live predictor: memory and latency over time under a realistic mix of ids.

    python benchmarks/serving_soak.py --model MODEL --repo REPO [--online-store sqlite|redis]
        [--minutes 30] [--warmup-minutes 2] [--concurrency 8] [--candidates 100] [--workers 2]

Starts `aktrec serve` (WORKERS processes, as `serving_load.py` does) and drives it with
CONCURRENCY closed-loop clients (threads with keep-alive connections; each sends its next v1
request as soon as the last one answered). The mix, per request: 80% a known user with known
candidates; 10% a known user whose candidates include one to ten never-seen items described by
a title (cold start, fresh ids every time); 10% garbage (a never-seen user and candidates, fresh
random strings). Every id a client invents is new, so a cache keyed by what clients send would
grow without end. The resident memory of all predictor processes is sampled every 10 s.
Prints per minute: requests, errors, p50/p99 latency and RSS; then RSS at the end of warm-up,
its maximum after it and the growth.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
from serving_load import online_store

SAMPLE_SECONDS = 10


def request_body(rng: np.random.Generator, users: list[str], items: list[str], candidates: int) -> dict:
    """One v1 body of the mix (see the module docstring)."""
    kind = rng.random()
    if kind < 0.1:  # garbage: nothing known
        garbage = [uuid.uuid4().hex for _ in range(candidates)]
        return {"instances": [{"user_id": f"zz-{uuid.uuid4().hex}", "item_ids": garbage}]}
    instance = {"user_id": users[rng.integers(len(users))], "item_ids": list(rng.choice(items, size=candidates))}
    if kind < 0.2:  # new items with text
        new = [f"new-{uuid.uuid4().hex[:12]}" for _ in range(rng.integers(1, 11))]
        instance["item_ids"][: len(new)] = new
        instance["items"] = [{"item_id": item, "title": f"Soak item {item} with a short title"} for item in new]
    return {"instances": [instance]}


def client_loop(url: str, users, items, candidates: int, seed: int, stop: threading.Event, log: list) -> None:
    """Closed loop until `stop`: (finish time, latency ms, HTTP status) per request into `log`."""
    rng = np.random.default_rng(seed)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    while not stop.is_set():
        body = json.dumps(request_body(rng, users, items, candidates))
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/models/aktrec:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        log.append((time.monotonic(), (time.perf_counter() - started) * 1000, status))


def predictor_rss(root: psutil.Process) -> float:
    """MiB resident in the `aktrec serve` process under this one and every process it started
    (its workers)."""
    for process in root.children(recursive=True):  # parents before their children
        try:
            if "serve" in process.cmdline():
                return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20
        except psutil.NoSuchProcess:
            continue
    raise RuntimeError("no `aktrec serve` process under this one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--online-store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--warmup-minutes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="predictor processes (the image's default: 2)")
    args = parser.parse_args()

    import tempfile

    from aktrec.ctr.bundle import load_bundle
    from aktrec.serving.local import running_predictor

    bundle = load_bundle(args.model)
    users, items = list(bundle.vocab.user.ids), list(bundle.vocab.item.ids)
    with online_store(args.online_store, args.repo) as repo, tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "serving.yaml"
        config.write_text(f"workers: {args.workers}\n")
        with running_predictor(args.model, repo, ["--config", str(config)], lifetime_s=(args.minutes + 10) * 60) as url:
            print(
                f"{len(users):,} users, {len(items):,} items; {args.online_store} online store; {args.workers} "
                f"predictor process(es); {args.concurrency} clients, {args.candidates} candidates per request; "
                f"{args.minutes} min (warm-up {args.warmup_minutes} min)\n"
            )
            stop, log, rss = threading.Event(), [], []
            clients = [
                threading.Thread(
                    target=client_loop, args=(url, users, items, args.candidates, n, stop, log), daemon=True
                )
                for n in range(args.concurrency)
            ]
            start = time.monotonic()
            for client in clients:
                client.start()
            root = psutil.Process()
            while (now := time.monotonic()) - start < args.minutes * 60:
                rss.append((now, predictor_rss(root)))
                time.sleep(SAMPLE_SECONDS)
            stop.set()
            for client in clients:
                client.join(timeout=90)
    print("| minute | requests | errors | p50 ms | p99 ms | RSS MiB |")
    print("|---|---|---|---|---|---|")
    finished = np.array([(t - start, ms, status) for t, ms, status in log])
    samples = np.array([(t - start, mib) for t, mib in rss])
    for minute in range(args.minutes):
        window = finished[(finished[:, 0] >= minute * 60) & (finished[:, 0] < (minute + 1) * 60)]
        memory = samples[samples[:, 0] < (minute + 1) * 60, 1][-1]
        errors = int((window[:, 2] != 200).sum())
        p50, p99 = np.percentile(window[:, 1], [50, 99])
        print(f"| {minute + 1} | {len(window):,} | {errors} | {p50:.0f} | {p99:.0f} | {memory:,.0f} |")
    warm = samples[samples[:, 0] <= args.warmup_minutes * 60, 1][-1]
    after = samples[samples[:, 0] > args.warmup_minutes * 60, 1]
    errors = int((finished[:, 2] != 200).sum())
    print(
        f"\nRSS after warm-up {warm:,.0f} MiB, at most {after.max():,.0f} MiB after it "
        f"({(after.max() / warm - 1) * 100:+.1f}%); {len(finished):,} requests, {errors} errors"
    )


if __name__ == "__main__":
    main()
