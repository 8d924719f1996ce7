"""`aktrec` command line: one verb per job (DESIGN §7). Thin: parse, call the library, report."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional

import click
import typer

from aktrec.errors import AktrecError

app = typer.Typer(help="AKT-Rec long-tail CTR prediction: data, pipeline, serving.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Input data: synthesize, import, prepare.", no_args_is_help=True)
import_app = typer.Typer(help="Import tables into the input contract (RAW).", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(import_app, name="import")

log = logging.getLogger("aktrec")

OUT_HELP = "Output artifact directory; written atomically, replaces an earlier aktrec artifact."


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise AktrecError(f"--rename {pair!r}: expected SOURCE=TARGET, e.g. userId=user_id")
        mapping[source] = target
    return mapping


def _done(what: str, path: Path, started: float) -> None:
    log.info("%s written to %s (%.1fs)", what, path, time.perf_counter() - started)


@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(..., help=OUT_HELP),
    users: Optional[int] = typer.Option(None, help="Number of users (default from config)."),
    items: Optional[int] = typer.Option(None, help="Number of items."),
    interactions: Optional[int] = typer.Option(None, help="Number of impressions (clicks and non-clicks)."),
    days: Optional[int] = typer.Option(None, help="Days the impressions span."),
    seed: Optional[int] = typer.Option(None, help="Random seed; same seed, same data."),
    config: Optional[Path] = typer.Option(None, help="YAML file with SynthConfig fields."),
) -> None:
    """Write a synthetic long-tail data set (real impressions) in the input contract."""
    import dataclasses

    from aktrec.config import SynthConfig, load_config
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate

    started = time.perf_counter()
    overrides = {"n_users": users, "n_items": items, "n_interactions": interactions, "n_days": days, "seed": seed}
    synth_config = dataclasses.replace(load_config(SynthConfig, config), **{k: v for k, v in overrides.items() if v is not None})
    log.info("generating %s impressions for %s users and %s items", f"{synth_config.n_interactions:,}",
             f"{synth_config.n_users:,}", f"{synth_config.n_items:,}")
    raw = generate(synth_config)
    write_raw(raw, out, synth_config=dataclasses.asdict(synth_config))
    _done("RAW", out, started)


@import_app.command("amazon")
def import_amazon(
    sequences: Path = typer.Option(..., help="user_sequence.txt: `USER ITEM ITEM ...` per line, chronological."),
    items: Path = typer.Option(..., help="RecBole .item file (tab separated, name:type headers)."),
    out: Path = typer.Option(..., help=OUT_HELP),
) -> None:
    """Import the shared Amazon review format (ordinal timestamps, positives only)."""
    from aktrec.data.amazon import import_amazon as run
    from aktrec.data.raw import write_raw

    started = time.perf_counter()
    write_raw(run(sequences, items), out)
    _done("RAW", out, started)


@import_app.command("tables")
def import_tables(
    interactions: Path = typer.Option(..., help="Interactions: user_id, item_id, ts [, label, event]."),
    out: Path = typer.Option(..., help=OUT_HELP),
    items: Optional[Path] = typer.Option(None, help="Items: item_id, title [, description, category, brand, price, image_uri, ...]."),
    users: Optional[Path] = typer.Option(None, help="Users: user_id [, attributes ...]."),
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


@data_app.command("prepare")
def data_prepare(
    raw: Path = typer.Option(..., help="RAW artifact directory."),
    out: Path = typer.Option(..., help=OUT_HELP),
    split: Optional[str] = typer.Option(None, help="time | leave-last-out (default: time)."),
    test_days: Optional[float] = typer.Option(None, help="Time split: days at the end that form the test window."),
    negatives: Optional[int] = typer.Option(None, help="Positive-only data: sampled negatives per positive."),
    negative_sampling: Optional[str] = typer.Option(None, help="uniform | popularity."),
    seed: Optional[int] = typer.Option(None, help="Seed of the negative sampler."),
    config: Optional[Path] = typer.Option(None, help="YAML file with PrepareConfig fields."),
) -> None:
    """Split, sample negatives, flag head/tail and write the data card (DATA)."""
    from aktrec.config import PrepareConfig, from_dict, load_config, to_dict
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.data.raw import read_raw

    started = time.perf_counter()
    merged = to_dict(load_config(PrepareConfig, config))
    for section, key, value in (("split", "method", split), ("split", "test_days", test_days),
                                ("negatives", "ratio", negatives), ("negatives", "strategy", negative_sampling)):
        if value is not None:
            merged[section][key] = value
    if seed is not None:
        merged["seed"] = seed
    prepare_config = from_dict(PrepareConfig, merged, where="prepare options")
    data = prepare(read_raw(raw), prepare_config)
    write_prepared(data, out, prepare_config)
    _done("DATA", out, started)
    card = data.card
    log.info("train %s rows, test %s rows; tail samples in test: %.1f%%; popularity AUC on test %.3f",
             f"{card['train']['n']:,}", f"{card['test']['n']:,}", 100 * card["test"]["share_tail_samples"],
             card["popularity_baseline"]["test_auc"])


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("work/demo"), help="Where every artifact of the run goes."),
    users: int = typer.Option(2_000, help="Synthetic users."),
    items: int = typer.Option(1_000, help="Synthetic items."),
    interactions: int = typer.Option(60_000, help="Synthetic impressions."),
    seed: int = typer.Option(0, help="Seed of the synthetic data."),
) -> None:
    """The main job: synthetic data -> every stage that exists so far -> where to look."""
    from aktrec.config import PrepareConfig, SynthConfig
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate

    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    synth_config = SynthConfig(n_users=users, n_items=items, n_interactions=interactions, seed=seed)
    log.info("[1/2] synthetic data: %s impressions", f"{interactions:,}")
    raw = generate(synth_config)
    write_raw(raw, workdir / "raw")
    log.info("[2/2] prepare: time split, head/tail flags, data card, validation")
    prepare_config = PrepareConfig()
    data = prepare(raw, prepare_config)
    write_prepared(data, workdir / "data", prepare_config)
    print((workdir / "data" / "card.md").read_text())
    print(f"Data card:  {workdir / 'data' / 'card.md'}")
    for stage, path in (("raw", workdir / "raw"), ("prepared", workdir / "data")):
        print(f"Data Docs ({stage}): {path / 'validation/gx/uncommitted/data_docs/local_site/index.html'}")
    log.info("demo finished in %.1fs", time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a failure is one line on stderr and exit code 2, never a traceback."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[aktrec] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="aktrec", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("aktrec: aborted", file=sys.stderr)
        return 130
    except AktrecError as exc:
        print(f"aktrec: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aktrec: error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
