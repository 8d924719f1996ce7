"""Benchmark semantic IDs and the feature store on finished artifacts of a run.

    python benchmarks/sid_features.py --data DATA --sid SID --repo REPO [--name NAME] [--samples 200]

Reads the semantic-ID and materialization metrics the stages wrote (training time, assignment
throughput, cluster quality, rows), then measures live: point-in-time retrieval with both
engines and online lookups (1 user x 50 candidates) against the repository's online store.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sid", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--name", default="run")
    parser.add_argument("--samples", type=int, default=200, help="samples for the Feast engine (it is slow)")
    args = parser.parse_args()

    from aktrec.artifacts import read_marker
    from aktrec.data.prepare import read_prepared
    from aktrec.features.retrieval import historical_features, online_features, open_store
    from aktrec.semantic_ids.tables import semantic_tables

    sid = json.loads((args.sid / "metrics.json").read_text())
    print(
        "| data | entities | codebook | prefix | clusters | median size | collision rate | tail with head | "
        "purity (random) | train s | assign vectors/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, m in sid.items():
        label, coherence = next(
            iter(m["coherence"].items()), ("-", {"purity": float("nan"), "random_purity": float("nan")})
        )
        print(
            f"| {args.name} {kind} | {m['n_entities']:,} | {m['n_levels']}x{m['codebook_size']} | "
            f"{m['cluster_prefix']} | "
            f"{m['cluster_sizes']['n_clusters']:,} | {m['cluster_sizes']['median']:.0f} | {m['collision_rate']:.2f} | "
            f"{m['tail_with_head_share']:.2f} | {label} {coherence['purity']:.3f} ({coherence['random_purity']:.3f}) | "
            f"{m['training_seconds']:.1f} | {m['assign_vectors_per_second']:,.0f} |"
        )
    print()

    features = json.loads((args.repo / "metrics.json").read_text())
    data = read_prepared(args.data)
    emb = Path(read_marker(args.repo, "feature_repo")["embeddings"])
    users, items = semantic_tables(args.sid, emb, "user"), semantic_tables(args.sid, emb, "item")
    samples = pd.concat([data.train, data.test], ignore_index=True)
    start = time.perf_counter()
    historical_features(args.repo, samples, users, items, engine="asof")
    asof_s = time.perf_counter() - start
    few = samples.sample(min(args.samples, len(samples)), random_state=0)
    start = time.perf_counter()
    historical_features(args.repo, few, users, items, engine="feast")
    feast_s = time.perf_counter() - start
    store, service = open_store(args.repo)
    rng = np.random.default_rng(0)
    latencies = []
    for _ in range(50):
        user = rng.choice(users.ids)
        candidates = rng.choice(items.ids, size=min(50, len(items.ids)), replace=False).tolist()
        start = time.perf_counter()
        online_features(store, service, user, candidates, users, items)
        latencies.append(1000 * (time.perf_counter() - start))
    print(
        "| data | snapshots | offline rows | materialize s | PIT retrieval, asof engine | PIT retrieval, Feast "
        "engine | online lookup 1x50 p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.name} | {features['n_snapshots']} | {sum(features['rows'].values()):,} | "
        f"{features['seconds_total']:.0f} | "
        f"{len(samples):,} rows in {asof_s:.1f} s | {len(few):,} rows in {feast_s:.1f} s | "
        f"{np.percentile(latencies, 50):.0f} / {np.percentile(latencies, 95):.0f} |"
    )


if __name__ == "__main__":
    main()
