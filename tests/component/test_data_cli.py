"""The data verbs end to end through the CLI entry point, on tiny data the tests write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aktrec import schemas
from aktrec.cli import main
from conftest import make_tables, write_amazon_format


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def import_tables(capsys, out: Path, interactions: Path, *options) -> tuple[int, str]:
    return run_cli(capsys, "data", "import", "tables", "--interactions", interactions, "--out", out, *options)


def import_amazon(capsys, interactions: Path, sequences: Path, items: Path, out: Path) -> tuple[int, str]:
    """`aktrec data import amazon` with real dates and the sequences' order inside a day."""
    return run_cli(
        capsys,
        "data",
        "import",
        "amazon",
        "--interactions",
        interactions,
        "--sequences",
        sequences,
        "--items",
        items,
        "--out",
        out,
    )


def test_synth_then_prepare_time_split(tmp_path, capsys):
    raw, data = tmp_path / "raw", tmp_path / "data"
    code, err = run_cli(
        capsys, "data", "synth", "--out", raw, "--users", 100, "--items", 60, "--interactions", 2_500, "--seed", 5
    )
    assert code == 0, err
    code, err = run_cli(capsys, "data", "prepare", "--raw", raw, "--out", data, "--test-days", 3)
    assert code == 0, err
    card = json.loads((data / "card.json").read_text())
    assert card["raw"]["n_interactions"] == 2_500 and card["split"]["method"] == "time"
    train = pq.read_table(data / "train.parquet")
    assert train.schema.equals(schemas.SAMPLES, check_metadata=False)
    for stage_dir in (raw, data):
        summary = json.loads((stage_dir / "validation" / "summary.json").read_text())
        assert summary["success"] is True
        assert (stage_dir / "validation" / summary["docs_index"]).is_file()
    assert "Data card" in (data / "card.md").read_text()


def test_import_tables_unseen_dataset_with_attributes_negatives_and_time(tmp_path, capsys):
    paths = make_tables(tmp_path)
    frame = pd.read_csv(paths["interactions"]).rename(columns={"user_id": "customer"})
    frame.to_csv(paths["interactions"], index=False)
    raw, data = tmp_path / "raw", tmp_path / "data"
    code, err = import_tables(
        capsys,
        raw,
        paths["interactions"],
        "--items",
        paths["items"],
        "--users",
        paths["users"],
        "--rename",
        "customer=user_id",
    )
    assert code == 0, err
    users = pq.read_table(raw / "users.parquet")
    assert {"age", "plan"} <= set(users.column_names)
    code, err = run_cli(capsys, "data", "prepare", "--raw", raw, "--out", data, "--split", "time", "--test-days", 2)
    assert code == 0, err
    card = json.loads((data / "card.json").read_text())
    assert card["labels"].startswith("explicit") and card["negatives"] is None
    assert card["raw"]["user_attributes"] == ["age", "plan"]
    assert card["test"]["n_sampled_negatives"] == 0


def test_import_amazon_format_and_leave_last_out(tmp_path, capsys):
    sequences, items = write_amazon_format(tmp_path)
    raw, data = tmp_path / "raw", tmp_path / "data"
    code, err = run_cli(capsys, "data", "import", "amazon", "--sequences", sequences, "--items", items, "--out", raw)
    assert code == 0, err
    item_table = pq.read_table(raw / "items.parquet").to_pandas().set_index(schemas.ITEM_ID)
    assert item_table.loc["I2", schemas.TITLE] == "Two-line\ntitle"
    assert list(item_table.loc["I2", schemas.CATEGORY]) == ["Beauty", "Women's", "Fragrance"]
    code, err = run_cli(
        capsys, "data", "prepare", "--raw", raw, "--out", data, "--split", "leave-last-out", "--negatives", 1
    )
    assert code == 0, err
    card = json.loads((data / "card.json").read_text())
    assert card["timestamps"] == "ordinal" and card["raw"]["n_positive_interactions"] == 11
    test = pq.read_table(data / "test.parquet").to_pandas()
    assert test[test[schemas.LABEL] == 1].set_index(schemas.USER_ID)[schemas.ITEM_ID].to_dict() == {
        "A1": "I3",
        "A2": "I3",
        "A3": "I5",
        "A4": "I1",
    }


def _corrupt(paths, table, mutate):
    frame = pd.read_csv(paths[table], dtype=str)
    frame = mutate(frame)
    frame.to_csv(paths[table], index=False)


BAD_INPUTS = {
    "missing required column": (
        lambda p: _corrupt(p, "interactions", lambda f: f.drop(columns=["item_id"])),
        "interactions.item_id: required column is missing",
    ),
    "wrong type": (
        lambda p: _corrupt(p, "interactions", lambda f: f.assign(ts=["last tuesday"] * len(f))),
        "interactions.ts: not a timestamp",
    ),
    "duplicate item ids": (
        lambda p: _corrupt(p, "items", lambda f: pd.concat([f, f.head(1)])),
        "items.item_id: 1 duplicate id(s) (e.g. 'sku000')",
    ),
    "labels outside {0,1}": (
        lambda p: _corrupt(p, "interactions", lambda f: f.assign(label=["2"] + list(f["label"][1:]))),
        "interactions.label: 1 label(s) outside {0, 1} (e.g. '2')",
    ),
    "empty file": (lambda p: p["items"].write_text(""), "items: file"),
    "unreadable file": (lambda p: p["users"].write_bytes(b"\xff\xfe\x00garbage\x00\xff" * 50), "users: cannot read"),
    "non-existent path": (lambda p: p["interactions"].unlink(), "interactions: file"),
    "unknown item": (lambda p: _corrupt(p, "items", lambda f: f.iloc[1:]), "interactions.item_id:"),
    "bad price": (
        lambda p: _corrupt(p, "items", lambda f: f.assign(price=["free"] * len(f))),
        "items.price: not a number (e.g. 'free')",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_naming_table_and_column_and_writes_nothing(tmp_path, capsys, case):
    paths = make_tables(tmp_path)
    damage, expected = BAD_INPUTS[case]
    damage(paths)
    out = tmp_path / "raw"
    code, err = import_tables(capsys, out, paths["interactions"], "--items", paths["items"], "--users", paths["users"])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aktrec: error: ")
    assert expected in lines[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".raw")]  # no staging left


def test_failed_prepare_keeps_the_previous_output(tmp_path, capsys):
    paths = make_tables(tmp_path)
    raw, data = tmp_path / "raw", tmp_path / "data"
    assert import_tables(capsys, raw, paths["interactions"])[0] == 0
    assert run_cli(capsys, "data", "prepare", "--raw", raw, "--out", data, "--test-days", 2)[0] == 0
    before = (data / "train.parquet").read_bytes()
    code, err = run_cli(capsys, "data", "prepare", "--raw", raw, "--out", data, "--test-days", 400)
    assert code == 2 and "leaves no training rows" in err
    assert (data / "train.parquet").read_bytes() == before
    code, err = run_cli(capsys, "data", "prepare", "--raw", tmp_path / "nowhere", "--out", data)
    assert code == 2 and "no such raw directory" in err


def test_cli_rejects_bad_options_in_one_line(tmp_path, capsys):
    paths = make_tables(tmp_path)
    code, err = import_tables(capsys, tmp_path / "r", paths["interactions"], "--rename", "nonsense")
    assert code == 2 and "expected SOURCE=TARGET" in err
    shutil.rmtree(tmp_path / "r", ignore_errors=True)
    code, err = import_tables(capsys, tmp_path / "r", paths["interactions"], "--ts-format", "weekly")
    assert code == 2 and "--ts-format 'weekly'" in err


def test_set_reaches_any_setting_under_the_named_options(tmp_path, capsys):
    raw, data = tmp_path / "raw", tmp_path / "data"
    assert run_cli(capsys, "data", "synth", "--out", raw, "--users", 40, "--items", 30, "--interactions", 600)[0] == 0
    prepare = ("data", "prepare", "--raw", raw, "--out", data)
    code, err = run_cli(
        capsys, *prepare, "--set", "split.test_days=2", "--set", "split.representation_share=0.4", "--test-days", 3
    )
    assert code == 0, err
    split = json.loads((data / "card.json").read_text())["split"]
    assert split["test_days"] == 3.0 and split["representation_share"] == 0.4
    for assignment, message in [
        ("split.test_dayz=2", "options.split.test_dayz: unknown key; known: ['method', 'representation_share'"),
        ("split.test_days=soon", "options.split.test_days: Input should be a valid number"),
        ("seed.offset=1", "--set seed.offset: seed is a value, not a section"),
        ("split.test_days", "--set 'split.test_days': expected KEY=VALUE"),
        ("split.test_days=[1", "--set split.test_days: not valid YAML"),
    ]:
        code, err = run_cli(capsys, *prepare, "--set", assignment)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (assignment, err)
    assert json.loads((data / "card.json").read_text())["split"] == split


def write_atomic_interactions(tmp_path, rows: str):
    path = tmp_path / "Amazon.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n" + rows)
    return path


def test_import_amazon_with_real_dates_orders_a_day_by_the_sequences(tmp_path, capsys):
    sequences, items = write_amazon_format(tmp_path)
    day1, day2 = 1318896000, 1318982400
    inter = write_atomic_interactions(
        tmp_path,
        "".join(
            f"{user}\t{item}\t{ts}\n"
            for user, item, ts in [
                ("A1", "I2", day1),
                ("A1", "I1", day1),
                ("A1", "I3", day2),
                ("A2", "I2", day1),
                ("A2", "I3", day2),
                ("A3", "I1", day1),
                ("A3", "I4", day1),
                ("A3", "I2", day1),
                ("A3", "I5", day2),
                ("A4", "I5", day1),
                ("A4", "I1", day2),
            ]
        ),
    )
    raw = tmp_path / "raw"
    code, err = import_amazon(capsys, inter, sequences, items, raw)
    assert code == 0, err
    table = pq.read_table(raw / "interactions.parquet").to_pandas()
    a1 = table[table[schemas.USER_ID] == "A1"].sort_values(schemas.TS)
    assert a1[schemas.ITEM_ID].tolist() == ["I1", "I2", "I3"]  # the sequence's order inside day 1
    assert (a1[schemas.TS].dt.floor("D") == pd.to_datetime([day1, day1, day2], unit="s", utc=True)).all()
    # without the sequences: real dates, no order inside a day; `import tables` reads .inter too
    code, err = import_tables(capsys, tmp_path / "raw2", inter)
    assert code == 0, err
    assert json.loads((tmp_path / "raw2" / "_aktrec.json").read_text())["ts_kind"] == "time"


@pytest.mark.parametrize(
    "rows, message",
    [
        ("A1\tI1\tyesterday\n", "interactions.ts: not an integer unix-s timestamp"),
        ("A1\tI1\t1318896000\nA9\tI1\t1318896000\n", "(user, item) interaction(s) are not in the sequence file"),
    ],
)
def test_import_amazon_bad_interactions_file_writes_nothing(tmp_path, capsys, rows, message):
    sequences, items = write_amazon_format(tmp_path)
    inter = write_atomic_interactions(tmp_path, rows)
    out = tmp_path / "raw"
    code, err = import_amazon(capsys, inter, sequences, items, out)
    assert code == 2 and message in err and err.strip().count("\n") == 0, err
    assert not out.exists()
