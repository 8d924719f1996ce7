"""Run the data stages: RAW checked against the input contract's suites (`validate_raw`), and
DATA prepared from RAW (`prepare`), as the command line and the pipeline's steps call them."""

from __future__ import annotations

from pathlib import Path

from aktrec.config import PrepareConfig
from aktrec.data.checks import validate_raw
from aktrec.data.prepare import PreparedData, prepare, write_prepared
from aktrec.data.raw import RawData
from aktrec.validation.runner import ValidationReport


def run_validate_raw(raw: RawData, out_dir: Path) -> ValidationReport:
    """RAW's suites, their Data Docs and summary in `out_dir`; raises when one fails."""
    return validate_raw(raw, Path(out_dir), final_dir=Path(out_dir))


def run_prepare(raw: RawData, out: Path, config: PrepareConfig) -> PreparedData:
    """Split, sample negatives, flag head/tail and write the data card: DATA at `out`,
    validated and written atomically."""
    data = prepare(raw, config)
    write_prepared(data, Path(out), config)
    return data
