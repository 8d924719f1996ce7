"""Fair tuning (docs/design.md §1.1): the same small grid of training settings for every compared
network, each configuration scored on the validation split only; prints one row per
configuration and the chosen one per model (the best validation GAUC, or AUC with --select auc;
early stopping reads the same metric).

    python benchmarks/ctr_tuning.py --data DATA --repo REPO [--variants aktrec,strong_base,base,poso,faerec]
        [--learning-rates 0.002,0.004] [--weight-decays 0,1e-5,1e-4] [--epochs 3]
        [--max-train-samples 300000] [--seed 0] [--select gauc|auc]

Test numbers are printed beside the validation ones for the record; they never choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--variants", default="aktrec,strong_base,base,poso,faerec")
    parser.add_argument("--learning-rates", default="0.002,0.004")
    parser.add_argument("--weight-decays", default="0,1e-5,1e-4")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-train-samples", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--select", choices=("gauc", "auc"), default="gauc")
    args = parser.parse_args()

    from aktrec.config import CtrTrainConfig, LightGBMConfig, TrainConfig
    from aktrec.ctr.stage import evaluate_models, load_training_data

    loop = CtrTrainConfig(
        epochs=args.epochs, max_train_samples=args.max_train_samples, seed=args.seed, early_stopping=args.select
    )
    config = TrainConfig(variants=("strong_base",), loop=loop, lightgbm=LightGBMConfig(enabled=False))
    training = load_training_data(args.data, args.repo, config)
    grid = list(
        itertools.product(
            [float(v) for v in args.learning_rates.split(",")], [float(v) for v in args.weight_decays.split(",")]
        )
    )
    print(
        f"{training.n_fit:,} fit + {training.n_valid:,} validation samples, at most {args.epochs} epochs, "
        f"seed {args.seed}; chosen by validation {args.select.upper()}\n"
    )
    print(
        "| model | learning rate | weight decay | validation AUC | validation GAUC | best epoch | test total GAUC "
        "| test tail GAUC |"
    )
    print("|---|---|---|---|---|---|---|---|")
    chosen = {}
    for variant in args.variants.split(","):
        for learning_rate, weight_decay in grid:
            trial = dataclasses.replace(
                config,
                variants=(variant,),
                deploy=variant,
                promotion=dataclasses.replace(config.promotion, compare_with=variant),
                loop=dataclasses.replace(loop, learning_rate=learning_rate, weight_decay=weight_decay),
            )
            evaluation = evaluate_models(training, trial)
            valid = evaluation.validation[variant]["total"]
            test = evaluation.test[variant]
            print(
                f"| {variant} | {learning_rate:g} | {weight_decay:g} | {valid['auc']:.4f} | {valid['gauc']:.4f} | "
                f"{evaluation.histories[variant]['best_epoch']} | {test['total']['gauc']:.4f} | "
                f"{test['tail']['gauc']:.4f} |",
                flush=True,
            )
            if variant not in chosen or valid[args.select] > chosen[variant][0]:
                chosen[variant] = (valid[args.select], learning_rate, weight_decay)
    print("\nChosen on validation: " + "; ".join(f"{v} lr {lr:g}, wd {wd:g}" for v, (_, lr, wd) in chosen.items()))


if __name__ == "__main__":
    main()
