"""`aktrec` command line: one verb per job (docs/design.md §7). Thin: parse, call the library, report."""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer

from aktrec.config import (
    FeatureConfig,
    ItemEmbedConfig,
    MonitorConfig,
    PrepareConfig,
    ReadoutConfig,
    SemanticIdConfig,
    ServingConfig,
    SynthConfig,
    TrainConfig,
    UserEmbedConfig,
    from_dict,
    load_config,
    read_yaml,
    to_dict,
)
from aktrec.errors import AktrecError, log_to_stderr
from aktrec.typer_adapter import run_app, with_parameters

app = typer.Typer(
    help="AKT-Rec long-tail CTR prediction: data, pipeline, serving.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Input data: synthesize, import, prepare.", no_args_is_help=True)
import_app = typer.Typer(help="Import tables into the input contract (RAW).", no_args_is_help=True)
features_app = typer.Typer(help="Feast features: materialize offline and online.", no_args_is_help=True)
embed_app = typer.Typer(help="Item and user representations (paper eq. 1 and 2).", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(import_app, name="import")
app.add_typer(embed_app, name="embed")
app.add_typer(features_app, name="features")
pipeline_app = typer.Typer(
    help="The Kubeflow pipeline: compile, run locally, submit to a cluster.", no_args_is_help=True
)
app.add_typer(pipeline_app, name="pipeline")

log = logging.getLogger("aktrec")
CANARY_HELP = "0: the new release replaces the serving one; 1-99: it serves that share of traffic as a canary."
CACHE_HELP = "Keep the encoders' vectors there across runs (a directory or s3://...): only new prompts are encoded."

# A verb's output directory; `out: OutDir = ...` makes it required, as `typer.Option(...)` does.
OutDir = Annotated[
    Path, typer.Option(help="Output artifact directory; written atomically, replaces an earlier aktrec artifact.")
]


@dataclass(frozen=True)
class Setting:
    """Marks a verb's named option as the override of one setting (`settings_verb`): `path`
    dotted as `--set` spells it, `parse` turning the option's value into the setting's."""

    path: str
    parse: Callable[[Any], Any] | None = None


def setting(path: str, help: str, parse: Callable[[Any], Any] | None = None) -> Any:
    """An optional named option that overrides the setting at `path` where given."""
    option = typer.Option(None, help=help)
    option.setting = Setting(path, parse)
    return option


# The synthetic data's size and seed: `data synth` reads them as settings (default: SynthConfig's,
# the mark in the type as defaults differ), `demo` as they are.
SyntheticUsers = Annotated[int | None, Setting("n_users"), typer.Option(help="Number of synthetic users.")]
SyntheticItems = Annotated[int | None, Setting("n_items"), typer.Option(help="Number of synthetic items.")]
SyntheticImpressions = Annotated[
    int | None, Setting("n_interactions"), typer.Option(help="Number of impressions (clicks and non-clicks).")
]
SyntheticSeed = Annotated[
    int | None, Setting("seed"), typer.Option(help="Seed of the synthetic data: the same seed, the same data.")
]

# Any one setting from the command line, beside the verb's named options for the common ones.
SettingAssignments = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="KEY=VALUE: one setting, KEY its dotted path (loop.epochs), VALUE in YAML; "
        "repeatable, applied over --config, under the named options.",
    ),
]


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise AktrecError(f"--rename {pair!r}: expected SOURCE=TARGET, e.g. userId=user_id")
        mapping[source] = target
    return mapping


def settings_verb(
    group: typer.Typer, name: str, cls: type, sections: str = ""
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declares the verb `name` of `group`, whose settings are `cls`. It gains `--config FILE` and
    the repeatable `--set KEY=VALUE`, and is called with `settings`: the file, then the
    assignments, then its options marked `Setting` that were given (not passed on themselves)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    described = f" {sections}" if sections else ""
    added = [
        inspect.Parameter(
            "config",
            keyword,
            default=typer.Option(None, help=f"YAML file with {cls.__name__} fields{described}."),
            annotation=Path | None,
        ),
        inspect.Parameter("assignments", keyword, default=None, annotation=SettingAssignments),
    ]

    def decorate(verb: Callable[..., None]) -> Callable[..., None]:
        marks = {
            option: mark
            for option, parameter in inspect.signature(verb, eval_str=True).parameters.items()
            if (mark := _setting_mark(parameter))
        }

        def with_settings(arguments: dict[str, Any]) -> dict[str, Any]:
            overrides = {}
            for option, mark in marks.items():
                value = arguments.pop(option)
                if value is not None and mark.parse:
                    value = mark.parse(value)
                if value is not None:  # not given
                    overrides[mark.path] = value
            path, assignments = arguments.pop("config"), arguments.pop("assignments")
            return {**arguments, "settings": _config(cls, path, assignments, overrides)}

        return group.command(name)(with_parameters(verb, {"settings"}, added, with_settings))

    return decorate


def _comma_separated(value: str) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in value.split(",") if part.strip()) or None


def _setting_mark(parameter: inspect.Parameter) -> Setting | None:
    """The parameter's `Setting`: on its default (`setting(...)`) or in its `Annotated` type."""
    in_type = get_args(parameter.annotation)[1:] if get_origin(parameter.annotation) is Annotated else ()
    return getattr(parameter.default, "setting", None) or next((m for m in in_type if isinstance(m, Setting)), None)


def _config(cls, path: Path | None, assignments: list[str] | None, overrides: dict[str, Any]):
    """Settings `cls` from an optional YAML file, then the `--set KEY=VALUE` assignments, then
    the named options' `overrides` (by dotted path: split.test_days)."""
    merged = to_dict(load_config(cls, path))
    for assignment in assignments or ():
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise AktrecError(f"--set {assignment!r}: expected KEY=VALUE, e.g. loop.epochs=3")
        _assign(merged, key, read_yaml(text, f"--set {key}"))
    for key, value in overrides.items():
        _assign(merged, key, value)
    return from_dict(cls, merged, where="options")


def _assign(settings: dict, key: str, value) -> None:
    """Set the dotted `key` in the settings mapping; unknown keys are left for the settings'
    validation to name, with the keys it knows."""
    *sections, name = key.split(".")
    target = settings
    for depth, section in enumerate(sections):
        target = target.setdefault(section, {})
        if not isinstance(target, dict):
            raise AktrecError(f"--set {key}: {'.'.join(sections[: depth + 1])} is a value, not a section")
    target[name] = value


def _verdict(gate: dict) -> str:
    from aktrec.ctr.gate import gate_verdict

    return gate_verdict(gate)


def _done(what: str, path: Path, started: float) -> None:
    log.info("%s written to %s (%.1fs)", what, path, time.perf_counter() - started)


@settings_verb(data_app, "synth", SynthConfig)
def data_synth(
    settings: SynthConfig,
    out: OutDir = ...,
    users: SyntheticUsers = None,
    items: SyntheticItems = None,
    interactions: SyntheticImpressions = None,
    days: int | None = setting("n_days", "Days the impressions span."),
    seed: SyntheticSeed = None,
) -> None:
    """Write a synthetic long-tail data set (real impressions) in the input contract."""
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate

    started = time.perf_counter()
    log.info(
        "generating %s impressions for %s users and %s items",
        f"{settings.n_interactions:,}",
        f"{settings.n_users:,}",
        f"{settings.n_items:,}",
    )
    write_raw(generate(settings), out, synth_config=to_dict(settings))
    _done("RAW", out, started)


@import_app.command("amazon")
def import_amazon(
    items: Path = typer.Option(..., help="RecBole .item file (tab separated, name:type headers)."),
    out: OutDir = ...,
    interactions: Path | None = typer.Option(None, help="RecBole .inter file with real review dates (unix seconds)."),
    sequences: Path | None = typer.Option(
        None,
        help="user_sequence.txt: `USER ITEM ITEM ...` per line, chronological; "
        "alone: ordinal time; with --interactions: the order inside a day.",
    ),
) -> None:
    """Import the shared Amazon review format (positives only): real dates from --interactions,
    or ordinal positions from --sequences alone."""
    from aktrec.data.amazon import import_amazon as run
    from aktrec.data.raw import write_raw

    started = time.perf_counter()
    write_raw(run(items, sequences=sequences, interactions=interactions), out)
    _done("RAW", out, started)


@import_app.command("tables")
def import_tables(
    interactions: Path = typer.Option(..., help="Interactions: user_id, item_id, ts [, label, event]."),
    out: OutDir = ...,
    items: Path | None = typer.Option(
        None, help="Items: item_id, title [, description, category, brand, price, image_uri, ...]."
    ),
    users: Path | None = typer.Option(None, help="Users: user_id [, attributes ...]."),
    rename: list[str] = typer.Option([], help="Column mapping SOURCE=TARGET, repeatable (e.g. userId=user_id)."),
    ts_format: str = typer.Option("auto", help="auto | iso | ordinal | unix-s | unix-ms."),
) -> None:
    """Import parquet/CSV/TSV tables in the data contract, validated and normalized."""
    from aktrec.data.contract import TS_FORMATS
    from aktrec.data.raw import write_raw
    from aktrec.data.tables import import_tables as run

    if ts_format not in TS_FORMATS:
        raise AktrecError(f"--ts-format {ts_format!r}: expected one of {', '.join(TS_FORMATS)}")
    started = time.perf_counter()
    write_raw(run(interactions, items, users, rename=_parse_mapping(rename), ts_format=ts_format), out)
    _done("RAW", out, started)


@settings_verb(data_app, "prepare", PrepareConfig)
def data_prepare(
    settings: PrepareConfig,
    raw: Path = typer.Option(..., help="RAW artifact directory."),
    out: OutDir = ...,
    split: str | None = setting("split.method", "time | per-user | leave-last-out (default: time)."),
    test_days: float | None = setting("split.test_days", "Time split: days at the end that form the test window."),
    test_share: float | None = setting("split.test_share", "Per-user split: each user's latest share that is test."),
    negatives: int | None = setting("negatives.ratio", "Positive-only data: sampled negatives per positive."),
    negative_sampling: str | None = setting("negatives.strategy", "uniform | popularity."),
    seed: int | None = setting("seed", "Seed of the negative sampler."),
) -> None:
    """Split, sample negatives, flag head/tail and write the data card (DATA)."""
    from aktrec.data.raw import read_raw
    from aktrec.data.stage import run_prepare

    started = time.perf_counter()
    data = run_prepare(read_raw(raw), out, settings)
    _done("DATA", out, started)
    card = data.card
    log.info(
        "train %s rows, test %s rows; tail samples in test: %.1f%%; popularity AUC on test %.3f",
        f"{card['train']['n']:,}",
        f"{card['test']['n']:,}",
        100 * card["test"]["share_tail_samples"],
        card["popularity_baseline"]["test_auc"],
    )


def _log_item_alignment(metrics: dict) -> None:
    k = [key for key in metrics if key.endswith("_before")][0]
    log.info(
        "held-out pair %s: %.4f -> %.4f",
        k.removesuffix("_before").removeprefix("holdout_"),
        metrics[k],
        metrics[k.replace("_before", "_after")],
    )


def _log_user_model(metrics: dict) -> None:
    if "heldout_next_item_cosine" in metrics:
        log.info(
            "held-out next-item cosine %.4f (history mean %.4f); category accuracy %.3f (history mode %.3f)",
            metrics["heldout_next_item_cosine"],
            metrics["heldout_next_item_cosine_history_mean"],
            metrics["heldout_category_accuracy"],
            metrics["heldout_category_accuracy_history_mode"],
        )


def _embed_verb(half: str, other: str, settings_class: type, what: str, log_metrics) -> None:
    """`aktrec embed <half>`: one EMB half, the other half in `--out` kept. Both verbs take the
    same options; the items' settings are `ItemEmbedConfig`, the users' `UserEmbedConfig`."""

    def verb(
        settings: ItemEmbedConfig | UserEmbedConfig,
        data: Path = typer.Option(..., help="DATA artifact directory (from `aktrec data prepare`)."),
        out: Path = typer.Option(..., help=f"EMB artifact directory; {other} embeddings already there are kept."),
        model: str | None = setting(
            "encoder.model",
            "Encoder or language model: local path or offline name (default: bundled all-MiniLM-L6-v2).",
        ),
        device: str | None = setting("encoder.device", "cpu, cuda, cuda:1, ..."),
        epochs: int | None = setting("loop.epochs", "Training epochs (the settings' loop.epochs)."),
        cache: str = typer.Option("", help=CACHE_HELP),
    ) -> None:
        from aktrec.embed import stage

        started = time.perf_counter()
        metrics = getattr(stage, f"run_embed_{half}")(data, out, settings, progress=True, cache_root=cache)
        _done(f"{half.removesuffix('s')} embeddings", out, started)
        log_metrics(metrics)

    verb.__doc__ = what
    settings_verb(embed_app, half, settings_class)(verb)


_embed_verb(
    "items",
    "user",
    ItemEmbedConfig,
    "Embed item prompts and align them on co-occurring pairs (InfoNCE).",
    _log_item_alignment,
)
_embed_verb(
    "users", "item", UserEmbedConfig, "Fine-tune the interest-token user model and embed every user.", _log_user_model
)


@settings_verb(app, "semantic-ids", SemanticIdConfig)
def semantic_ids(
    settings: SemanticIdConfig,
    data: Path = typer.Option(..., help="DATA artifact directory."),
    embeddings: Path = typer.Option(..., help="EMB artifact directory with item and user embeddings."),
    out: OutDir = ...,
    cluster_prefix: int | None = setting("cluster_prefix", "Code prefix that defines a cluster (default: calibrated)."),
) -> None:
    """Quantize item and user representations into semantic IDs (RQ-VAE) and clusters."""
    from aktrec.semantic_ids.stage import run_semantic_ids

    started = time.perf_counter()
    metrics = run_semantic_ids(data, embeddings, out, settings)
    _done("semantic IDs", out, started)
    for kind, m in metrics.items():
        coherence = "; ".join(
            f"{name} purity {v['purity']:.3f} vs random {v['random_purity']:.3f}" for name, v in m["coherence"].items()
        )
        log.info(
            "%s: %d clusters, median size %.0f, tail-with-head %.2f; %s",
            kind,
            m["cluster_sizes"]["n_clusters"],
            m["cluster_sizes"]["median"],
            m["tail_with_head_share"],
            coherence or "no category labels",
        )


@settings_verb(features_app, "materialize", FeatureConfig)
def features_materialize(
    settings: FeatureConfig,
    data: Path = typer.Option(..., help="DATA artifact directory."),
    sids: Path = typer.Option(..., help="SID artifact directory."),
    repo: Path = typer.Option(..., help="Feast repository to (re)build: offline tables, registry, online store."),
    embeddings: Path | None = typer.Option(
        None, help="EMB directory (default: the one the semantic IDs were built from)."
    ),
    online_store: str | None = typer.Option(  # help is rich markup: a literal "[" is escaped
        None, help=r"sqlite (default) or redis://\[USER:PASSWORD@]HOST:PORT\[/DB] (rediss:// with TLS)."
    ),
) -> None:
    """Compute activity, semantic-ID, cluster-averaged, cross and sequence features into Feast."""
    from aktrec.features.repo import take_redis_credentials
    from aktrec.features.stage import run_materialize_features

    started = time.perf_counter()
    online_store = take_redis_credentials(online_store) if online_store else None
    metrics = run_materialize_features(data, sids, repo, settings, emb_dir=embeddings, online_store=online_store)
    _done("Feast repository", repo, started)
    log.info(
        "feature service %s; rows per view: %s",
        metrics["feature_service"],
        ", ".join(f"{k} {v:,}" for k, v in metrics["rows"].items()),
    )


@settings_verb(app, "train", TrainConfig, "(model, train, promotion)")
def train(
    settings: TrainConfig,
    data: Path = typer.Option(..., help="DATA artifact directory (training and test samples)."),
    repo: Path = typer.Option(..., help="Materialized Feast repository (features of those samples)."),
    out: OutDir = ...,
    variants: str | None = setting(
        "variants",
        "Comma-separated variants to train and compare (default: base,strong_base,aktrec).",
        _comma_separated,
    ),
    deploy: str | None = setting(
        "deploy",
        "The variant whose bundle is written, or champion (default): the best of train.candidates on validation.",
    ),
    epochs: int | None = setting("loop.epochs", "Training epochs (early stopping may end sooner)."),
    seed: int | None = setting("loop.seed", "Seed of initialisation and batch order."),
    sids: Path | None = typer.Option(None, help="The repository's SID, where not at the path its marker records."),
    embeddings: Path | None = typer.Option(None, help="The repository's EMB, where not at its marker's path."),
) -> None:
    """Train AKT-Rec and the compared variants; write the bundle, metrics.json and the promotion gate."""
    from aktrec.ctr.stage import run_train

    started = time.perf_counter()
    if (sids is None) != (embeddings is None):
        raise typer.BadParameter("give both --sids and --embeddings, or neither", param_hint="--sids")
    sources = (sids, embeddings) if sids is not None else None
    metrics = run_train(data, repo, out, settings, progress=sys.stderr.isatty(), sources=sources)
    if metrics is None:  # a DDP process beside the main one, which reports
        return
    _done("model bundle", out, started)
    print((out / "comparison.md").read_text(), end="")
    print(f"Promotion gate: {_verdict(metrics['promotion'])}")


def _named_uris(values: list[str], option: str) -> dict[str, str]:
    named = {}
    for value in values:
        name, sep, uri = value.partition("=")
        if not sep or not name or not uri:
            raise typer.BadParameter(f"expected NAME=URI, got {value!r}", param_hint=option)
        named[name] = uri
    return named


@app.command("remote", context_settings={"allow_extra_args": True}, hidden=True)
def remote(
    ctx: typer.Context,
    inputs: list[str] = typer.Option([], "--input", help="NAME=URI of an input artifact, {NAME} in the command."),
    outputs: list[str] = typer.Option([], "--output", help="NAME=URI the output directory {NAME} is uploaded to."),
    config_text: str = typer.Option("", help="The stage's settings (YAML), {config} in the command."),
) -> None:
    """Run an aktrec command on artifacts in object storage (what launched SparkApplications and
    TrainJobs run): fetch the inputs, run it, upload the outputs."""
    from aktrec.pipeline.launch import run_remote

    code = run_remote(_named_uris(inputs, "--input"), _named_uris(outputs, "--output"), config_text, ctx.args, main)
    if code:
        raise typer.Exit(code)


@settings_verb(app, "serve", ServingConfig, "(limits, cache refresh, log)")
def serve(
    settings: ServingConfig,
    model: Path = typer.Option(..., help="Model bundle directory written by `aktrec train`."),
    repo: Path = typer.Option(..., help="Materialized Feast repository with the bundle's feature service."),
    http_port: int | None = setting("http_port", "HTTP port (default 8080)."),
    grpc_port: int | None = setting("grpc_port", "gRPC port of the v2 protocol (default 8081; 0 = no gRPC)."),
    host: str | None = setting("host", "Interface to listen on (default 127.0.0.1; 0.0.0.0 in a container)."),
    arm: str | None = setting("arm", "The rollout arm this predictor is: stable (default) or canary."),
    prediction_log: str | None = setting(
        "prediction_log.uri", "Log what is served (parquet shards) under this directory or s3:// URI; default: no log."
    ),
) -> None:
    """Run the KServe predictor: v1, v2 (Open Inference Protocol) and :explain over HTTP, v2 over gRPC."""
    from aktrec.serving.server import serve as run_server

    run_server(model, repo, settings)


@app.command("fetch")
def fetch(
    release: str = typer.Option(..., help="A published release: s3://.../releases/<id> (or a directory)."),
    out: Path = typer.Option(..., help="Where the predictor reads it (/mnt/models in the pod)."),
) -> None:
    """Download a complete release as KServe's storage initializer does (an init container on the image)."""
    from aktrec.storage import fetch as fetch_release

    started = time.perf_counter()
    _done("release", fetch_release(release, out), started)


def _time(value: str | None, option: str):
    """An ISO 8601 time option in UTC (a date or a date and time), or None."""
    if value is None:
        return None
    import pandas as pd

    try:
        parsed = pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=option) from None
    return parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")


SINCE_HELP = "First logged time to read (ISO 8601, UTC unless it says otherwise); default: the log's start."
UNTIL_HELP = "Read logged times before this one (ISO 8601); default: up to now."


@settings_verb(app, "monitor", MonitorConfig, "(thresholds)")
def monitor(
    settings: MonitorConfig,
    prediction_log: str = typer.Option(..., help="The predictor's prediction log (a directory or s3://...)."),
    model: Path = typer.Option(..., help="The bundle that served the rows checked (`--arm`)."),
    repo: Path = typer.Option(..., help="The pipeline's Feast repository with its offline data (feature_repo)."),
    data: Path = typer.Option(..., help="DATA the model was trained on: the training and validation reference."),
    out: OutDir = ...,
    since: str | None = typer.Option(None, help=SINCE_HELP),
    until: str | None = typer.Option(None, help=UNTIL_HELP),
    arm: str = typer.Option("stable", help="The rollout arm whose rows are checked; 'all' for every arm."),
) -> None:
    """Skew (served vs offline point-in-time features) and drift (PSI vs validation) of a window
    of the prediction log, as GX suites; exits 2 naming the feature when a threshold is crossed."""
    from aktrec.monitoring.monitor import run_monitor

    started = time.perf_counter()
    summary = run_monitor(
        prediction_log,
        model,
        repo,
        data,
        out,
        settings,
        _time(since, "--since"),
        _time(until, "--until"),
        None if arm == "all" else arm,
    )
    _done("monitor report", out / "monitor.html", started)
    drift = summary["drift"]
    feature = max(drift, key=lambda name: drift[name]["value"] / drift[name]["limit"])
    print(
        f"Monitor passed: {summary['rows']:,} logged candidates, no feature skewed beyond "
        f"{summary['thresholds']['max_skew_share']:g} of rows; largest drift {feature} "
        f"({drift[feature]['statistic']} {drift[feature]['value']:.3f}, limit {drift[feature]['limit']:g})"
    )


@settings_verb(app, "readout", ReadoutConfig, "(attribution window, CI)")
def readout(
    settings: ReadoutConfig,
    prediction_log: str = typer.Option(..., help="The predictor's prediction log (a directory or s3://...)."),
    outcomes: Path = typer.Option(
        ..., help="Clicks after the impressions: parquet or CSV with user_id, item_id, ts [, label, request_id]."
    ),
    out: OutDir = ...,
    since: str | None = typer.Option(None, help=SINCE_HELP),
    until: str | None = typer.Option(None, help=UNTIL_HELP),
) -> None:
    """Per rollout arm: impressions, CTR, calibration, AUC/GAUC on head and tail; the canary's
    CTR lift over the stable arm with a bootstrap CI."""
    from aktrec.data.contract import read_table
    from aktrec.monitoring.readout import lift_line, run_readout

    started = time.perf_counter()
    summary = run_readout(
        prediction_log,
        read_table(outcomes, "outcomes"),
        out,
        settings,
        _time(since, "--since"),
        _time(until, "--until"),
    )
    _done("readout", out / "readout.html", started)
    for arm, value in summary["arms"].items():
        total, tail = value["slices"]["total"], value["slices"]["tail"]
        print(
            f"{arm} ({', '.join(value['variants'])}): {value['requests']:,} requests, {total['impressions']:,} "
            f"impressions, CTR {total['ctr']:.4f}, AUC {total['auc']:.4f}, tail AUC {tail['auc']:.4f}"
        )
    print(lift_line(summary["lift"]))


@app.command("score")
def score(
    model: Path = typer.Option(..., help="Model bundle directory written by `aktrec train`."),
    repo: Path = typer.Option(..., help="Feast repository with its offline data (point-in-time features)."),
    requests: Path = typer.Option(..., help="Parquet of user_id, item_ids (a list) and optional ts (default: now)."),
    out: Path = typer.Option(..., help="The scores: a parquet file, written whole or not at all."),
) -> None:
    """Score requests offline (campaigns, back-fills) with the bundle and the features each
    request's time reads: the scores the online predictor answers for the same inputs."""
    import pyarrow as pa

    from aktrec.artifacts import write_parquet_file
    from aktrec.ctr.scoring import score_requests
    from aktrec.data.contract import read_table

    started = time.perf_counter()
    scores = score_requests(model, repo, read_table(requests, "requests"))
    _done(
        f"{len(scores):,} scores", write_parquet_file(pa.Table.from_pandas(scores, preserve_index=False), out), started
    )


@pipeline_app.command("compile")
def pipeline_compile(
    out: Path = typer.Option(..., help="Where to write the KFP IR YAML."),
    gpu_image: str = typer.Option(
        "", help="Put embed-items, embed-users and train on one NVIDIA GPU each, in this (CUDA) image."
    ),
    pipeline: str = typer.Option(
        "aktrec", help="aktrec (training, the default), monitor (checks of the prediction log), readout or score."
    ),
) -> None:
    """Compile a pipeline to KFP IR YAML (the committed copies are pipelines/<name>_pipeline.yaml);
    submit a GPU variant with `pipeline submit --package`."""
    from aktrec.pipeline.runner import compile_pipeline

    log.info("pipeline compiled to %s", compile_pipeline(out, gpu_image, pipeline))


@pipeline_app.command("run")
def pipeline_run(
    raw: str = typer.Option(..., help="RAW artifact: a directory (aktrec data synth | import ...) or s3://..."),
    workdir: Path = typer.Option(..., help="Work directory: pipeline root, published artifacts, metrics, reports."),
    config: Path | None = typer.Option(
        None, help="YAML with a section per configurable stage (prepare, embed_items, ..., train), each its config."
    ),
    cache: bool = typer.Option(True, help="Reuse the outputs of steps whose inputs did not change."),
    storage_uri: str = typer.Option("", help="Publish the promoted release there (s3://... or a directory)."),
    online_store: str = typer.Option("", help="Fill this Redis with the promoted features (redis://HOST:PORT)."),
    canary_percent: int = typer.Option(0, help=CANARY_HELP),
    representation_cache: str = typer.Option("", help=CACHE_HELP),
    runner: str = typer.Option(
        "subprocess",
        help="Where the tasks run: subprocess (this environment) or docker (each in the aktrec image; "
        "`make image`, and a Docker API at DOCKER_HOST: podman's `podman system service`).",
    ),
) -> None:
    """Run the whole pipeline locally (kfp.local: SubprocessRunner, or DockerRunner with --runner docker)."""
    from aktrec.pipeline.runner import run_local

    metrics = run_local(
        raw,
        workdir,
        config,
        cache=cache,
        storage_uri=storage_uri,
        online_store=online_store,
        canary_percent=canary_percent,
        representation_cache=representation_cache,
        runner=runner,
    )
    print((workdir / "model" / "comparison.md").read_text(), end="")
    print(f"Run report: {workdir / 'reports' / 'index.html'}")
    print(f"Metrics:    {workdir / 'metrics.json'}")
    print(f"Promotion gate: {_verdict(metrics['promotion'])}")


@pipeline_app.command("submit")
def pipeline_submit(
    host: str = typer.Option(
        ..., help="Kubeflow Pipelines API, e.g. https://kubeflow.example.com/pipeline (token: $KFP_TOKEN)."
    ),
    raw_uri: str = typer.Option(..., help="RAW artifact in object storage (s3://, gs://, minio://)."),
    config: Path | None = typer.Option(None, help="YAML with per-stage sections (as for `pipeline run`)."),
    experiment: str = typer.Option("aktrec", help="Experiment to file the run under."),
    run_name: str | None = typer.Option(None, help="Run name (default aktrec-<timestamp>)."),
    storage_uri: str = typer.Option(..., help="Where the deploy step publishes releases for KServe (s3://...)."),
    online_store: str = typer.Option(
        ..., help="The Redis the deploy step fills, as the cluster sees it (redis://...)."
    ),
    package: Path | None = typer.Option(None, help="A compiled IR YAML to submit instead of compiling now."),
    canary_percent: int = typer.Option(0, help=CANARY_HELP),
    representation_cache: str = typer.Option("", help=CACHE_HELP),
) -> None:
    """Submit a run of the pipeline to a Kubeflow cluster."""
    from aktrec.pipeline.runner import submit

    run_id = submit(
        host,
        raw_uri,
        config,
        experiment,
        run_name,
        storage_uri,
        online_store,
        package,
        canary_percent,
        representation_cache,
    )
    print(f"submitted run {run_id} to {host}")


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("work/demo"), help="Where every artifact of the run goes."),
    users: SyntheticUsers = 1_000,
    items: SyntheticItems = 500,
    interactions: SyntheticImpressions = 30_000,
    seed: SyntheticSeed = 0,
) -> None:
    """The main job: synthetic data -> the whole pipeline locally -> the predictor -> one request."""
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate
    from aktrec.pipeline.runner import run_local
    from aktrec.serving.local import example_request, running_predictor

    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    log.info(
        "[1/3] synthetic data: %s impressions, %s users, %s items", f"{interactions:,}", f"{users:,}", f"{items:,}"
    )
    write_raw(
        generate(SynthConfig(n_users=users, n_items=items, n_interactions=interactions, seed=seed)), workdir / "raw"
    )
    log.info(
        "[2/3] the pipeline on the local KFP runner: validate, prepare, embed, semantic IDs, features, train, report"
    )
    metrics = run_local(workdir / "raw", workdir)
    print((workdir / "model" / "comparison.md").read_text(), end="")
    print(tail_gain_line(metrics))
    promoted = metrics["promotion"]["promote"]
    deployed = f" (deployed to {workdir / 'deployment'})" if promoted else ""
    print(f"Promotion gate {_verdict(metrics['promotion'])}{deployed}")
    # The predictor serves what was deployed; without a deployment, the trained bundle for a look.
    served = workdir / "deployment" / "model" if promoted else workdir / "model"
    log.info("[3/3] the predictor (KServe, 127.0.0.1) serving %s, and one v1 request", served)
    with running_predictor(served, workdir / "feature_repo") as url:
        request, response = example_request(url, workdir / "data")
    print(f"POST {url}{ServingConfig().v1_predict_path}")
    print(f"  request:  {json.dumps(request)}")
    print(f"  response: {json.dumps(response)}")
    print(f"Run report: {workdir / 'reports' / 'index.html'}")
    print(f"Metrics:    {workdir / 'metrics.json'}")
    print(f"Serve it yourself: aktrec serve --model {served} --repo {workdir / 'feature_repo'}")
    print(
        f"Then query it:     curl -s -H 'Content-Type: application/json' "
        f"http://127.0.0.1:8080{ServingConfig().v1_predict_path} -d '<a request like the one above>'"
    )
    log.info("demo finished in %.0fs", time.perf_counter() - started)


def tail_gain_line(metrics: dict) -> str:
    """One line: what AKT-Rec (the deployed model, or `aktrec` where strong_base won the
    champion's place) gained on the tail test slice over strong_base (GAUC where enough users
    have both labels, else AUC), and which model serves when it is not the one compared."""
    deployed, models = metrics["promotion"]["model"], metrics["models"]
    compared = "aktrec" if deployed == "strong_base" and "aktrec" in models else deployed
    served = "" if compared == deployed else f"; {deployed} serves ({metrics['champion']['why']})"
    if "strong_base" not in models or compared == "strong_base":
        return f"{deployed} was not compared with strong_base in this run"
    ours, theirs = models[compared]["tail"], models["strong_base"]["tail"]
    metric = "gauc" if ours["gauc"] is not None and theirs["gauc"] is not None else "auc"
    if ours[metric] is None or theirs[metric] is None:
        return f"Tail (test): too few samples with both labels to compare {compared} with strong_base{served}"
    change = ours[metric] - theirs[metric]
    return (
        f"Tail (test, {ours['n_users']} users, {ours['n']:,} samples): {compared} {metric.upper()} {ours[metric]:.4f}"
        f" vs strong_base {theirs[metric]:.4f} ({change:+.4f}, {change / theirs[metric]:+.1%}){served}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: a usage or domain failure is one line on stderr and exit code 2. Anything
    else is a bug and keeps its traceback; AKTREC_DEBUG=1 shows the traceback of domain
    failures too."""
    log_to_stderr()
    try:
        return run_app(app, argv, "aktrec")
    except AktrecError as exc:
        if os.environ.get("AKTREC_DEBUG"):
            raise
        print(f"aktrec: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aktrec: error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
