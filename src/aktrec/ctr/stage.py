"""`aktrec train`: features from Feast, every configured variant trained and evaluated, the
deployed variant's bundle, metrics.json (docs/design.md §7), a comparison table and the promotion gate."""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from aktrec import schemas
from aktrec.artifacts import read_marker, staged_output, write_json
from aktrec.config import TrainConfig, to_dict
from aktrec.ctr.bundle import MODEL_KIND, predict, save_bundle
from aktrec.ctr.diagnostics import gate_means, transfer_state
from aktrec.ctr.distributed import ONE_PROCESS, Workers, process_group
from aktrec.ctr.gate import GATE_FILE, choose_deployed
from aktrec.ctr.inputs import ATTRIBUTE_BLOCKS, CONTENT_BLOCKS, CtrInputs, Vocabularies, encode
from aktrec.ctr.modules import AktRec, ModelShapes
from aktrec.ctr.tabular import CATEGORICAL_IDS, STATISTICS, affinity_columns, fit_and_score
from aktrec.ctr.train import fit
from aktrec.ctr.vocabularies import IdPriors, build_model, build_vocabularies, id_priors
from aktrec.data.prepare import PreparedData, latest_per_user, read_prepared, tail_flags_before
from aktrec.errors import DataError
from aktrec.features.attributes import item_attributes, user_attributes
from aktrec.features.repo import REPO_KIND
from aktrec.features.retrieval import historical_features, join_engine
from aktrec.metrics import MIN_GAUC_USERS, SLICES, comparison_table, markdown_table, slice_metrics
from aktrec.semantic_ids.tables import semantic_tables

log = logging.getLogger("aktrec")
POPULARITY = "popularity"  # trivial scorer reported next to the models (docs/design.md §1)
LIGHTGBM = "lightgbm"  # the tabular peer


def finite(obj: Any) -> Any:
    """NaN (e.g. AUC of a slice with one class) as JSON null."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def comparison_markdown(models: dict[str, dict[str, Any]]) -> str:
    """Head/tail table of every model: AUC and GAUC per slice, total logloss."""

    def cell(value) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    header, rows = comparison_table(
        models,
        value=lambda model, part, metric: cell(model[part][metric]),
        extra={"logloss": lambda model: cell(model["total"]["logloss"])},
    )
    support = next(iter(models.values()))
    return (
        markdown_table(header, rows)
        + "\nTest samples, reported only (selection reads validation). GAUC over the users with both labels: "
        + ", ".join(f"{part} {support[part]['n_users']:,}" for part in SLICES)
        + f"; shown as – below {MIN_GAUC_USERS} users.\n"
    )


@dataclass
class TrainingData:
    """Everything the variants share: encoded fit/validation/test inputs, vocabularies, priors."""

    data: PreparedData
    inputs: dict[str, CtrInputs]  # "fit", "valid", "test"
    samples: dict[str, pd.DataFrame]  # the same splits' sample rows
    tabular: dict[str, pd.DataFrame]  # the same splits' ids, statistics and attributes (the tabular peer's inputs)
    vocab: Vocabularies
    content_dims: dict[str, int]
    shapes: ModelShapes
    priors: IdPriors
    repo_marker: dict[str, Any]
    n_fit: int
    n_valid: int


def comparison_notes(metrics: dict[str, Any], histories: dict[str, Any]) -> str:
    """comparison.md: the test table, which model is deployed and why, LightGBM's settings and
    the ID dropout each network kept."""
    champion = metrics["champion"]
    why = f": the champion, {champion['why']}" if champion else " (train.deploy)"
    tuned = histories.get(LIGHTGBM)
    lightgbm_line = (
        f"LightGBM: {tuned['settings']}, the best validation GAUC of {len(tuned['tries'])} tries.\n" if tuned else ""
    )
    kept_shares = [
        f"{name} {history['id_dropout']}" for name, history in histories.items() if "id_dropout_tries" in history
    ]
    dropout_line = f"ID dropout kept on validation: {', '.join(kept_shares)}.\n" if kept_shares else ""
    return (
        f"{comparison_markdown(metrics['models'])}\nDeployed: {metrics['deploy']}{why}.\n{lightgbm_line}{dropout_line}"
    )


def source_artifacts(repo_marker: dict[str, Any], sources: tuple[Path, Path] | None) -> tuple[Path, Path]:
    """The SID and EMB the repository was built from: `sources` where they were copied to
    (another pod), else where its marker records them."""
    return sources or (Path(repo_marker["sids"]), Path(repo_marker["embeddings"]))


def load_training_data(
    data_dir: Path, repo: Path, config: TrainConfig, sources: tuple[Path, Path] | None = None
) -> TrainingData:
    """DATA's CTR training samples (a validation split held out for early stopping and the
    gate) and test samples with their point-in-time features from REPO, encoded for the model."""
    started = time.perf_counter()
    repo_marker = read_marker(repo, REPO_KIND)
    sid_dir, emb_dir = source_artifacts(repo_marker, sources)
    data = read_prepared(data_dir)
    users, items = semantic_tables(sid_dir, emb_dir, "user"), semantic_tables(sid_dir, emb_dir, "item")
    samples = ctr_training_samples(data, config)
    is_valid = validation_mask(samples, data, config)
    n_valid = int(is_valid.sum())
    if len(samples) - n_valid < 2 or samples.loc[is_valid, schemas.LABEL].nunique() < 2:
        raise DataError(
            "train",
            f"{len(samples)} CTR training samples leave no usable validation slice "
            "(it needs both labels); use more data or a larger validation_share",
            column=schemas.LABEL,
        )
    engine = join_engine(repo_marker["config"])
    train_frame = historical_features(repo, samples, users, items, engine)
    test_frame = historical_features(repo, data.test, users, items, engine)
    retrieved = time.perf_counter()
    fit_rows, valid_rows = samples[~is_valid], samples[is_valid]
    # Validation's tail as the test's: counted on what was known before its window (time split),
    # on all of training but validation (per-user split, as the test's on all of training).
    if data.card["split"]["method"] == "per-user":
        known = data.train[~data.train[schemas.ROW_ID].isin(valid_rows[schemas.ROW_ID])]
        valid_rows = tail_flags_before(valid_rows, known, data.tail_config)
    elif not data.ordinal:
        known = data.train[data.train[schemas.TS] < valid_rows[schemas.TS].min()]
        valid_rows = tail_flags_before(valid_rows, known, data.tail_config)
    user_tokens, item_tokens = user_attributes(data.users, users.ids), item_attributes(data.items, items.ids)
    vocab = build_vocabularies(fit_rows, users, items, user_tokens, item_tokens)
    content_dims = {name: (users if name.startswith("user") else items).embeddings.shape[1] for name in CONTENT_BLOCKS}
    feature_config = repo_marker["config"]
    sequence_length = max(feature_config["user_sequence_length"], feature_config["cluster_sequence_length"])
    inputs = {
        name: encode(
            frame.assign(**{schemas.LABEL: rows[schemas.LABEL].to_numpy()}), vocab, content_dims, sequence_length
        )
        for name, frame, rows in (
            ("fit", train_frame[~is_valid], fit_rows),
            ("valid", train_frame[is_valid], valid_rows),
            ("test", test_frame, data.test),
        )
    }
    shapes = ModelShapes(
        len(vocab.user),
        len(vocab.item),
        len(vocab.user_cluster),
        len(vocab.item_cluster),
        content_dims["user_content"],
        content_dims["item_content"],
        sequence_length,
        len(vocab.user_attribute),
        len(vocab.item_attribute),
    )
    priors = id_priors(fit_rows, vocab, users, items, config.model.embedding_dim, user_tokens, item_tokens)
    log.info(
        "features of %s training and %s test samples retrieved in %.1fs, encoded in %.1fs",
        f"{len(samples):,}",
        f"{len(data.test):,}",
        retrieved - started,
        time.perf_counter() - retrieved,
    )
    slim = [*CATEGORICAL_IDS, *STATISTICS, *(column for column, _ in ATTRIBUTE_BLOCKS.values())]
    reads_affinity = config.model.content_affinity  # LightGBM reads what the networks read
    tabular = {
        name: frame.assign(**(affinity_columns(inputs[name], priors.item_vectors) if reads_affinity else {}))
        for name, frame in (
            ("fit", train_frame.loc[~is_valid, slim]),
            ("valid", train_frame.loc[is_valid, slim]),
            ("test", test_frame[slim]),
        )
    }
    return TrainingData(
        data,
        inputs,
        {"fit": fit_rows, "valid": valid_rows, "test": data.test},
        tabular,
        vocab,
        content_dims,
        shapes,
        priors,
        repo_marker,
        len(fit_rows),
        n_valid,
    )


def ctr_training_samples(data: PreparedData, config: TrainConfig) -> pd.DataFrame:
    """The CTR training samples training reads (at most `max_train_samples`), in time order;
    `validation_mask` splits them."""
    samples = subsample(data.train[data.ctr_samples()], config)
    return samples.sort_values(schemas.TS, kind="stable").reset_index(drop=True)


def validation_mask(samples: pd.DataFrame, data: PreparedData, config: TrainConfig) -> np.ndarray:
    """The validation split, before the test as the split puts it: the latest `validation_share`
    of the samples by time (time split); each user's latest share of the user's samples,
    rounded at random (seeded) so that the whole is `validation_share` where users have few
    samples (per-user split: its users are known, as the test's are). Leave-last-out of ordinal
    data has no shared clock (each user's CTR sample is the last before that user's test): a
    seeded `validation_share` of the users."""
    share = config.loop.validation_share
    rng = np.random.default_rng(config.loop.subsample_seed)
    if data.card["split"]["method"] == "per-user":
        return latest_per_user(samples, share, rng)
    if not data.ordinal:
        return np.arange(len(samples)) >= len(samples) - max(1, int(len(samples) * share))
    users = samples[schemas.USER_ID].unique()
    chosen = rng.choice(users, size=max(1, int(len(users) * share)), replace=False)
    return samples[schemas.USER_ID].isin(chosen).to_numpy()


def subsample(train: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """At most `max_train_samples` training samples, drawn uniformly (seeded) over samples or
    over whole users; never by time, which would keep only the late clicks of heavy users."""
    limit = config.loop.max_train_samples
    if not limit or len(train) <= limit:
        return train
    rng = np.random.default_rng(config.loop.subsample_seed)
    if config.loop.subsample == "samples":
        return train.iloc[np.sort(rng.choice(len(train), size=limit, replace=False))]
    sizes = train[schemas.USER_ID].value_counts()
    order = sizes.index.to_numpy()[rng.permutation(len(sizes))]
    kept = order[np.cumsum(sizes.reindex(order).to_numpy()) <= limit]
    return train[train[schemas.USER_ID].isin(kept)]


def unseen_by_models(training: TrainingData) -> dict[str, Any]:
    """How many test users and items no model has an ID embedding for (not in the fit samples)."""
    test, vocab = training.data.test, training.vocab
    user_unknown = vocab.user.index(test[schemas.USER_ID]) == 0
    item_unknown = vocab.item.index(test[schemas.ITEM_ID]) == 0
    return {
        "users": int(test.loc[user_unknown, schemas.USER_ID].nunique()),
        "of_users": int(test[schemas.USER_ID].nunique()),
        "items": int(test.loc[item_unknown, schemas.ITEM_ID].nunique()),
        "of_items": int(test[schemas.ITEM_ID].nunique()),
        "share_samples_unknown_user": float(user_unknown.mean()),
        "share_samples_unknown_item": float(item_unknown.mean()),
    }


@dataclass
class Evaluation:
    """Every compared model of one training run: metrics per slice on validation (what
    selection reads) and test (reported only), training histories, test scores, the trained
    networks and what transfer and the gates did (`diagnostics`), by variant."""

    validation: dict[str, dict[str, Any]]
    test: dict[str, dict[str, Any]]
    histories: dict[str, Any]
    test_scores: dict[str, np.ndarray]
    networks: dict[str, AktRec]
    diagnostics: dict[str, dict[str, Any]]


def train_network(
    training: TrainingData, config: TrainConfig, variant: str, progress: bool, workers: Workers
) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """Train `variant` once per share of the ID dropout grid, each from the same seeded start,
    and keep the network its early stopping scores best on validation (ties: the earlier share).
    Returns the network, its transfer state before training and its history (with every try
    where the grid has more than one share)."""
    loop = config.training(variant)
    best, tries = None, []
    for share in loop.id_dropout_grid():
        torch.manual_seed(loop.seed)
        model = build_model(config.variant(variant), training.shapes, training.priors)
        untrained = transfer_state(model)
        history = fit(
            model,
            training.inputs["fit"],
            training.inputs["valid"],
            replace(loop, id_dropout=share),
            progress,
            variant,
            workers,
            training.samples["valid"][schemas.USER_ID].to_numpy(),
        )
        history["id_dropout"] = share
        tries.append({key: history[key] for key in ("id_dropout", "valid_auc", "valid_gauc", "best_epoch")})
        # Every DDP process holds the same validation history, so all keep the same share.
        score = history[f"valid_{history['early_stopping']}"]
        score = -math.inf if score is None else score
        if best is None or score > best[0]:
            best = (score, model, untrained, history)
    _, model, untrained, history = best
    if len(tries) > 1:
        history["id_dropout_tries"] = tries
        log.info(
            "%s: ID dropout %s, the best validation %s of %s",
            variant,
            history["id_dropout"],
            history["early_stopping"].upper(),
            [tried["id_dropout"] for tried in tries],
        )
    return model, untrained, history


def evaluate_models(
    training: TrainingData, config: TrainConfig, progress: bool = False, workers: Workers = ONE_PROCESS
) -> Evaluation:
    """Train every variant of `config` (seeded by `config.loop.seed`) and the LightGBM peer,
    and score them and the popularity scorer on validation and test. Under DDP every process
    trains the networks; only the main process scores them and runs the peers."""
    if config.loop.threads:
        torch.set_num_threads(config.loop.threads)
    result = Evaluation({}, {}, {}, {}, {}, {})
    for variant in config.variants:
        model, untrained, result.histories[variant] = train_network(training, config, variant, progress, workers)
        result.networks[variant] = model
        if not workers.is_main:
            continue
        result.test_scores[variant] = predict(model, training.inputs["test"])
        result.validation[variant] = slice_metrics(training.samples["valid"], predict(model, training.inputs["valid"]))
        result.test[variant] = slice_metrics(training.samples["test"], result.test_scores[variant])
        result.diagnostics[variant] = {
            "transfer": {"before_training": untrained, "after_training": transfer_state(model)},
            "test_gate_means": gate_means(
                model, training.inputs["test"], training.samples["test"][schemas.IS_TAIL_SAMPLE].to_numpy()
            ),
        }
        test = result.test[variant]
        log.info(
            "%s: test AUC %.4f (head %.4f, tail %.4f), %.1fs",
            variant,
            test["total"]["auc"],
            test["head"]["auc"],
            test["tail"]["auc"],
            result.histories[variant]["seconds"],
        )
    if not workers.is_main:
        return result
    if config.lightgbm.enabled:
        labels = {name: rows[schemas.LABEL].to_numpy() for name, rows in training.samples.items()}
        scores, result.histories[LIGHTGBM] = fit_and_score(training.tabular, labels, config.lightgbm, config.loop.seed)
        result.test_scores[LIGHTGBM] = scores["test"]
        result.validation[LIGHTGBM] = slice_metrics(training.samples["valid"], scores["valid"])
        result.test[LIGHTGBM] = slice_metrics(training.samples["test"], scores["test"])
    popularity = popularity_metrics(training)
    result.test[POPULARITY], result.validation[POPULARITY] = popularity["test"], popularity["validation"]
    return result


def popularity_metrics(training: TrainingData) -> dict[str, dict[str, Any]]:
    """The trivial scorer: the candidate item's clicks in the training events the split may
    see (representation events and fit samples for validation, all training for test), as the
    data card computes it."""

    def clicks_in(rows: pd.DataFrame) -> pd.Series:
        return rows.loc[rows[schemas.LABEL] == 1, schemas.ITEM_ID].value_counts()

    out = {}
    before_validation = pd.concat([training.data.representation_events(), training.samples["fit"]])
    for split, counted in (("validation", before_validation), ("test", training.data.train)):
        rows = training.samples["valid" if split == "validation" else "test"]
        scores = rows[schemas.ITEM_ID].map(clicks_in(counted)).fillna(0).to_numpy(dtype=np.float64)
        out[split] = slice_metrics(rows, scores, probabilities=False)
    return out


def run_train(
    data_dir: Path,
    repo: Path,
    out: Path,
    config: TrainConfig,
    progress: bool = False,
    sources: tuple[Path, Path] | None = None,
) -> dict[str, Any] | None:
    """Train `config.variants` on DATA's training samples (features from REPO, point in time),
    evaluate on DATA's test samples, write the bundle of the deployed variant (`config.deploy`,
    or the champion on validation) to OUT atomically.

    Under torchrun the processes train together (DDP); the main one writes OUT and returns the
    metrics, the others return None. `sources`: (SID, EMB) where not at the repository's paths."""
    started = time.perf_counter()
    training = load_training_data(data_dir, repo, config, sources)
    with process_group() as workers:
        evaluation = evaluate_models(training, config, progress, workers)
    if not workers.is_main:
        return None
    tail = training.data.card["tail"]
    metrics = finite(
        {
            "dataset": {
                "name": training.data.card.get("name"),
                "n_train": int(len(training.data.train)),
                "n_test": int(len(training.data.test)),
                "n_train_used": training.n_fit,
                "n_validation": training.n_valid,
                "tail_user_max_interactions": tail["tail_user_max_interactions"],
                "tail_item_max_exposures": tail["tail_item_max_exposures"],
                "test_unseen_by_models": unseen_by_models(training),
            },
            "models": evaluation.test,
            "validation": evaluation.validation,
            "training": evaluation.histories,
            "diagnostics": evaluation.diagnostics,
            "training_processes": workers.world_size,
        }
    )
    marker = training.repo_marker
    with tempfile.TemporaryDirectory(prefix="aktrec-gates-") as gate_docs:
        deploy, champion, gate = choose_deployed(metrics, config, Path(gate_docs))
        if champion:
            log.info("champion: %s, %s", deploy, champion["why"])
        metrics.update(deploy=deploy, champion=champion, promotion=gate)
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        with staged_output(
            out,
            MODEL_KIND,
            data=str(Path(data_dir).absolute()),
            repo=str(Path(repo).absolute()),
            variant=deploy,
            feature_service=marker["feature_service"],
        ) as staging:
            save_bundle(
                staging,
                deploy,
                evaluation.networks[deploy],
                training.vocab,
                training.content_dims,
                marker["feature_service"],
                *source_artifacts(marker, sources),
                {"train_config": to_dict(config), "feature_config": marker["config"]},
            )
            shutil.copytree(Path(gate_docs) / deploy, staging / "validation", dirs_exist_ok=True)
            write_json(metrics, staging / "metrics.json")
            write_json(gate, staging / GATE_FILE)
            (staging / "comparison.md").write_text(comparison_notes(metrics, evaluation.histories))
    return metrics
