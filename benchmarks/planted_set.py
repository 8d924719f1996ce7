"""Build the planted synthetic set the CTR benchmark reads: RAW, DATA, planted representations
(category centers + noise, so semantic clusters follow what drives clicks), semantic IDs and
the Feast repository, as the test suite's `build_planted` does at a larger size.

    python benchmarks/planted_set.py --out work/planted [--users 1500 --items 1500 --impressions 40000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=1_500)
    parser.add_argument("--items", type=int, default=1_500)
    parser.add_argument("--impressions", type=int, default=40_000)
    args = parser.parse_args()

    from aktrec.cli import main as aktrec
    from aktrec.config import SplitConfig, SynthConfig
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate
    from aktrec.semantic_ids.planted import build_planted_set

    root = args.out
    raw = generate(SynthConfig(n_users=args.users, n_items=args.items, n_interactions=args.impressions))
    write_raw(raw, root / "raw")
    build_planted_set(root, raw, SplitConfig(test_days=3), validate=True)
    command = ["features", "materialize", "--data", root / "data", "--sids", root / "sid", "--repo", root / "repo"]
    if aktrec([str(part) for part in command]) != 0:
        sys.exit(f"failed: aktrec {' '.join(map(str, command))}")


if __name__ == "__main__":
    main()
