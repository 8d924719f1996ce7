"""Benchmark the CTR models (docs/design.md §1.1): every variant and peer over model seeds x data seeds,
with paired bootstrap CIs of each model's GAUC minus `strong_base`'s (and minus any other
model named in --against).

    python benchmarks/ctr_models.py --raw RAW --data DATA --repo REPO [--variants all]
        [--seeds 0,1,2] [--data-seeds 0,1] [--epochs 3] [--max-train-samples N] [--early-stopping auc|gauc]
        [--name NAME] [--workdir DIR] [--bootstrap 1000] [--config PIPELINE.yaml] [--against strong_base,faerec]

DATA is prepared with data seed 0's negatives; every other data seed re-prepares RAW with the
same split and its own negatives (under --workdir); data with real non-clicks has no sampled
negatives, so its data seeds repeat the same samples. The Feast repository is shared: features,
representations and semantic IDs depend on the observed events only, never on the negatives.
Selection (early stopping, on validation AUC or GAUC) reads the validation split only; the test
numbers are reported. CIs resample seed pairs and test users together.
`--config` reads the `train` section of a pipeline config (model switches, each variant's
tuned optimizer settings, LightGBM's); --epochs / --max-train-samples override its loop.
Prints mean ± std (ddof 1) over all seed pairs, GAUC support (users with both labels) and
"–" where fewer than 30 users qualify, then the CIs, then what transfer and the gates did.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec.metrics import MIN_GAUC_USERS, SLICES, comparison_table, markdown_table, per_user_auc

REFERENCE = "strong_base"


def prepared_with_seed(raw: Path, data: Path, seed: int, workdir: Path) -> Path:
    """DATA's preparation of RAW again with another negative-sampling seed (cached)."""
    from aktrec.artifacts import read_marker
    from aktrec.config import PrepareConfig, from_dict
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.data.raw import read_raw

    config = from_dict(PrepareConfig, read_marker(data, "prepared")["config"])
    if config.seed == seed:
        return data
    out = workdir / f"data-seed-{seed}"
    if not out.exists():
        config = dataclasses.replace(config, seed=seed)
        write_prepared(prepare(read_raw(raw), config), out, config, validate=False)
    return out


def user_stats(samples: pd.DataFrame, scores: np.ndarray) -> dict[str, pd.DataFrame]:
    """Per slice: AUC and weight of every user with both labels."""
    from aktrec import schemas

    tail = samples[schemas.IS_TAIL_SAMPLE].to_numpy(bool)
    out = {}
    for name, mask in zip(SLICES, (np.ones_like(tail), ~tail, tail)):
        out[name] = per_user_auc(
            samples[schemas.USER_ID].to_numpy()[mask], samples[schemas.LABEL].to_numpy()[mask], scores[mask]
        )
    return out


def bootstrap_difference(runs: list[tuple[dict, dict]], users: pd.Index, draws: int, seed: int = 0) -> dict[str, tuple]:
    """Paired bootstrap over seed pairs and test users together: each draw resamples the runs
    (seed pairs, model against reference on the same seeds) and the users with replacement and
    takes the mean over the drawn runs of GAUC(model) − GAUC(reference), so the CI holds the
    seed variance as well as the users'. Returns per slice (mean difference, 2.5% and 97.5%
    quantiles, mean reference GAUC)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(users), np.full(len(users), 1 / len(users)), size=draws).astype(np.float64)  # (B, U)
    counts = np.vstack([np.ones(len(users)), counts])  # row 0: every user once, the point estimate
    drawn_runs = rng.integers(0, len(runs), size=(len(runs), draws))  # (R, B): the runs each draw averages
    out = {}
    for name in SLICES:
        differences, reference_values = [], []
        for model, reference in runs:
            a, b = model[name].reindex(users), reference[name].reindex(users)
            usable = (a["n"].notna() & b["n"].notna()).to_numpy()
            weight = np.where(usable, a["n"].fillna(0).to_numpy(), 0.0)
            auc_a, auc_b = a["auc"].fillna(0).to_numpy(), b["auc"].fillna(0).to_numpy()
            w = counts * weight  # (B + 1, U)
            total = np.maximum(w.sum(axis=1), 1e-12)
            differences.append((w @ auc_a - w @ auc_b) / total)
            reference_values.append(
                float(np.average(auc_b[usable], weights=weight[usable])) if usable.any() else np.nan
            )
        per_run = np.asarray(differences)  # (R, B + 1)
        resampled = np.take_along_axis(per_run[:, 1:], drawn_runs, axis=0).mean(axis=0)  # (B,)
        out[name] = (
            float(per_run[:, 0].mean()),
            float(np.quantile(resampled, 0.025)),
            float(np.quantile(resampled, 0.975)),
            float(np.nanmean(reference_values)),
        )
    return out


def cell(values: list, digits: int = 4) -> str:
    numbers = np.array([np.nan if v is None else v for v in values], dtype=float)
    if np.isnan(numbers).all():
        return "–"
    numbers = numbers[~np.isnan(numbers)]
    spread = f" ± {np.std(numbers, ddof=1):.{digits}f}" if len(numbers) > 1 else ""
    return f"{numbers.mean():.{digits}f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-seeds", default="0,1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--early-stopping", choices=("auc", "gauc"), default=None, help="default: the config's")
    parser.add_argument("--name", default="run")
    parser.add_argument("--workdir", type=Path, default=Path("work/bench-ctr"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--config", type=Path, default=None, help="a pipeline config (its train section)")
    parser.add_argument(
        "--against", default=REFERENCE, help="models to print paired GAUC differences against, comma separated"
    )
    args = parser.parse_args()

    from aktrec import schemas
    from aktrec.config import CTR_VARIANTS, TrainConfig
    from aktrec.ctr.stage import LIGHTGBM, POPULARITY, evaluate_models, load_training_data
    from aktrec.pipeline.steps import section, split_config

    variants = tuple(CTR_VARIANTS) if args.variants == "all" else tuple(args.variants.split(","))
    if REFERENCE not in variants:
        variants = (REFERENCE, *variants)
    order = [*variants, LIGHTGBM, POPULARITY]
    references = args.against.split(",")
    missing = [name for name in references if name not in order]
    if missing:
        parser.error(f"--against {missing[0]!r} is not among the compared models {order}")
    seeds = [int(s) for s in args.seeds.split(",")]
    data_seeds = [int(s) for s in args.data_seeds.split(",")]
    base = section("train", split_config(args.config.read_text())["train"]) if args.config else TrainConfig()
    config = dataclasses.replace(
        base,
        variants=variants,
        deploy=REFERENCE,
        promotion=dataclasses.replace(base.promotion, compare_with=REFERENCE),
        loop=dataclasses.replace(
            base.loop,
            epochs=args.epochs,
            max_train_samples=args.max_train_samples,
            early_stopping=args.early_stopping or base.loop.early_stopping,
        ),
    )
    started = time.perf_counter()
    measured: dict[str, list[dict]] = {}
    per_user: dict[str, list[dict]] = {}
    diagnostics: dict[str, list[dict]] = {}
    description = ""
    for data_seed in data_seeds:
        data = prepared_with_seed(args.raw, args.data, data_seed, args.workdir / args.name.replace(" ", "-"))
        training = load_training_data(data, args.repo, config)
        test = training.samples["test"]
        test_users = pd.Index(pd.unique(test[schemas.USER_ID]))
        unseen = 1 - np.isin(test[schemas.USER_ID], training.samples["fit"][schemas.USER_ID]).mean()
        description = (
            f"{training.n_fit:,} fit + {training.n_valid:,} validation CTR samples, {len(test):,} test samples "
            f"(head {int((~test[schemas.IS_TAIL_SAMPLE]).sum()):,}, tail {int(test[schemas.IS_TAIL_SAMPLE].sum()):,}; "
            f"{unseen:.0%} of them with a user no model has an ID embedding for)"
        )
        for seed in seeds:
            seeded = dataclasses.replace(config, loop=dataclasses.replace(config.loop, seed=seed))
            evaluation = evaluate_models(training, seeded)
            for name, metrics in evaluation.test.items():
                history = evaluation.histories.get(name, {})
                measured.setdefault(name, []).append(
                    {
                        "test": metrics,
                        "valid_auc": evaluation.validation[name]["total"]["auc"],
                        "valid_gauc": evaluation.validation[name]["total"]["gauc"],
                        "valid_tail_gauc": evaluation.validation[name]["tail"]["gauc"],
                        "seconds": history.get("seconds"),
                        "epoch": history.get("best_epoch", history.get("best_iteration")),
                        "id_dropout": history.get("id_dropout"),
                    }
                )
            for name, found in evaluation.diagnostics.items():
                diagnostics.setdefault(name, []).append(found)
            for name, scores in evaluation.test_scores.items():
                per_user.setdefault(name, []).append(
                    {"data_seed": data_seed, "stats": user_stats(test, scores), "users": test_users}
                )
    seconds = time.perf_counter() - started

    print(
        f"{args.name}: {description}; model seeds {seeds} x data seeds {data_seeds} (negatives re-drawn); "
        f"at most {args.epochs} epochs, early stopping on validation "
        f"{config.loop.early_stopping.upper()}; {seconds / 60:.0f} min in all\n"
    )
    header, rows = comparison_table(
        {name: measured[name] for name in order if name in measured},
        value=lambda runs, part, metric: cell([r["test"][part][metric] for r in runs]),
        extra={
            "GAUC users total / head / tail": lambda runs: " / ".join(
                f"{int(np.mean([r['test'][part]['n_users'] for r in runs])):,}" for part in SLICES
            ),
            "validation AUC": lambda runs: cell([r["valid_auc"] for r in runs]),
            "validation GAUC": lambda runs: cell([r["valid_gauc"] for r in runs]),
            "validation tail GAUC": lambda runs: cell([r["valid_tail_gauc"] for r in runs]),
            "best epoch": lambda runs: cell([r["epoch"] for r in runs], 1),
            "ID dropout kept": lambda runs: cell([r["id_dropout"] for r in runs], 2),
            "train s": lambda runs: cell([r["seconds"] for r in runs], 0),
        },
    )
    print(markdown_table(header, rows), end="")

    for reference in references:
        print_differences(reference, [n for n in order if n in per_user], per_user, measured, args.bootstrap)
    print_diagnostics(diagnostics)


def print_differences(
    reference: str, order: list[str], per_user: dict[str, list[dict]], measured: dict[str, list[dict]], draws: int
) -> None:
    """Every other model's GAUC minus REFERENCE's per slice, paired by seed pair and bootstrapped
    over seed pairs and test users; "–" where REFERENCE's GAUC has fewer than MIN_GAUC_USERS users."""
    print(
        f"\nGAUC minus {reference}'s, paired by seed pair, mean over all seed pairs; 95% CI from a bootstrap "
        f"over seed pairs and test users together ({draws} draws); relative to the reference's GAUC in brackets\n"
    )
    print("| model | " + " | ".join(f"Δ {s} GAUC" for s in SLICES) + " |")
    print("|---|---|---|---|")
    reference_runs = per_user[reference]
    supported = {s: min(r["test"][s]["n_users"] for r in measured[reference]) >= MIN_GAUC_USERS for s in SLICES}
    for name in [n for n in order if n != reference]:
        pairs = [(run["stats"], base["stats"]) for run, base in zip(per_user[name], reference_runs)]
        result = bootstrap_difference(pairs, reference_runs[0]["users"], draws)
        cells = [
            f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] ({d / ref:+.1%})" if supported[s] else "–"
            for s, (d, lo, hi, ref) in ((s, result[s]) for s in SLICES)
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_diagnostics(diagnostics: dict[str, list[dict]]) -> None:
    """Per variant, mean over seed pairs: the item table's tail-to-cluster-head cosine and tail
    cluster-embedding norm before -> after training, and each gate's mean on head | tail test
    samples."""
    print(
        "\nTransfer and gates (mean over seed pairs): item tail ids' cosine to their cluster's head mean and "
        "their cluster-embedding norm, before -> after training; gate means on head | tail test samples "
        "(r: cluster share of CGAE, α: cluster level's share of HFA)\n"
    )
    print("| model | item tail→head cosine | item tail ‖c‖ | user tail→head cosine | user r | item r | α |")
    print("|---|---|---|---|---|---|---|")

    def mean(runs: list[dict], *path: str) -> float | None:
        values = []
        for run in runs:
            for key in path:
                run = run.get(key) if isinstance(run, dict) else None
            if run is not None:
                values.append(run)
        return float(np.mean(values)) if values else None

    def moved(runs: list[dict], table: str, key: str) -> str:
        before = mean(runs, "transfer", "before_training", table, key)
        after = mean(runs, "transfer", "after_training", table, key)
        return "–" if before is None or after is None else f"{before:.3f} → {after:.3f}"

    def gate(runs: list[dict], name: str) -> str:
        head, tail = mean(runs, "test_gate_means", name, "head"), mean(runs, "test_gate_means", name, "tail")
        return "–" if head is None or tail is None else f"{head:.3f} \\| {tail:.3f}"

    for name, runs in diagnostics.items():
        cells = [
            moved(runs, "items", "tail_to_cluster_head_cosine"),
            moved(runs, "items", "tail_cluster_norm"),
            moved(runs, "users", "tail_to_cluster_head_cosine"),
            gate(runs, "user_cluster_share"),
            gate(runs, "item_cluster_share"),
            gate(runs, "cluster_level_share"),
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
