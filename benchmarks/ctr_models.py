"""Benchmark the CTR variants: base, AKT-Rec, its ablations and the peers, over several seeds.

    python benchmarks/ctr_models.py --data DATA --repo REPO [--variants all] [--seeds 0,1,2]
        [--epochs 3] [--max-train-samples N] [--name NAME]

Features are retrieved and encoded once; every (variant, seed) trains from scratch on them
with early stopping on the latest training samples, and is evaluated on DATA's test samples.
Prints a markdown table of mean ± std of total/head/tail AUC and GAUC, and training seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--name", default="run")
    args = parser.parse_args()

    from aktrec.config import CTR_VARIANTS, CtrTrainConfig, TrainConfig
    from aktrec.ctr.stage import load_training_data, popularity_metrics, train_variant

    variants = tuple(CTR_VARIANTS) if args.variants == "all" else tuple(args.variants.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    config = TrainConfig(variants=variants, deploy=variants[0], promotion=dataclasses.replace(TrainConfig().promotion, require_base=False),
                         train=CtrTrainConfig(epochs=args.epochs, max_train_samples=args.max_train_samples))
    started = time.perf_counter()
    training = load_training_data(args.data, args.repo, config)
    prepared_s = time.perf_counter() - started
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for seed in seeds:
        for variant in variants:
            seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
            _, metrics, history = train_variant(training, variant, seeded)
            results[variant].append({**{f"{s}_{k}": metrics[s][k] for s in ("total", "head", "tail") for k in ("auc", "gauc")},
                                     "seconds": history["seconds"], "epochs": history["best_epoch"]})
    popularity = popularity_metrics(training)

    print(f"{args.name}: {training.n_fit:,} training samples ({training.n_valid:,} for early stopping), "
          f"{len(training.data.test):,} test samples (head {popularity['head']['n']:,}, tail {popularity['tail']['n']:,}); "
          f"seeds {seeds}; at most {args.epochs} epochs; features retrieved and encoded in {prepared_s:.0f}s\n")
    columns = [f"{s}_{k}" for s in ("total", "head", "tail") for k in ("auc", "gauc")]
    print("| model | " + " | ".join(c.replace("_", " ").replace("auc", "AUC").replace("gAUC", "GAUC") for c in columns)
          + " | best epoch | train s |")
    print("|---|" + "---|" * (len(columns) + 2))
    for variant, runs in results.items():
        cells = []
        for column in columns:
            values = np.array([r[column] for r in runs], dtype=float)
            cells.append(f"{np.nanmean(values):.4f} ± {np.nanstd(values):.4f}")
        print(f"| {variant} | " + " | ".join(cells) + f" | {np.mean([r['epochs'] for r in runs]):.1f} | "
              f"{np.mean([r['seconds'] for r in runs]):.0f} |")
    print("| popularity | " + " | ".join(f"{popularity[c.split('_')[0]][c.split('_')[1]]:.4f}" for c in columns) + " | – | – |")


if __name__ == "__main__":
    main()
