"""Benchmark the representation stage on a prepared data set: quality and time.

    python benchmarks/embed_stage.py --data DATA --out EMB [--name NAME]

Runs `embed items` then `embed users` (default configs, CPU) and prints a markdown table of
the alignment and user-representation metrics against their baselines, with wall times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    from aktrec.config import ItemEmbedConfig, UserEmbedConfig
    from aktrec.embed.stage import run_embed_items, run_embed_users

    started = time.perf_counter()
    items = run_embed_items(args.data, args.out, ItemEmbedConfig())
    items_s = time.perf_counter() - started
    started = time.perf_counter()
    users = run_embed_users(args.data, args.out, UserEmbedConfig())
    users_s = time.perf_counter() - started
    name = args.name or args.data.name
    print("| data | items | pairs (train/held-out) | recall@10 before | recall@10 after | items s |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {name} | {items['n_items']:,} | {items['n_train_pairs']:,}/{items['n_holdout_pairs']:,} | "
        f"{items['holdout_recall@10_before']:.4f} | {items['holdout_recall@10_after']:.4f} | {items_s:.0f} |"
    )
    print()
    print(
        "| data | users | train samples / held-out | next-item cosine (model / history mean) | "
        "next-item recall@10 (model / history mean) | category accuracy (model / history mode) | users s |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {name} | {users['n_users']:,} | {users['n_train_samples']:,}/{users['n_eval_samples']:,} | "
        f"{users['heldout_next_item_cosine']:.4f} / {users['heldout_next_item_cosine_history_mean']:.4f} | "
        f"{users['heldout_next_item_recall@10']:.4f} / {users['heldout_next_item_recall@10_history_mean']:.4f} | "
        f"{users['heldout_category_accuracy']:.3f} / {users['heldout_category_accuracy_history_mode']:.3f} | "
        f"{users_s:.0f} |"
    )


if __name__ == "__main__":
    main()
