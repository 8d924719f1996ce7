"""Artifact directories: written to a staging place, moved into place only when complete.

Every stage writes one directory (RAW, DATA, EMB, ...). A marker file records what wrote it,
which lets a re-run replace an old artifact safely and refuses to clobber anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aktrec import __version__
from aktrec.errors import ArtifactError

MARKER = "_aktrec.json"


def _marker_of(path: Path) -> dict[str, Any] | None:
    marker = path / MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text())


def read_marker(path: Path, kind: str) -> dict[str, Any]:
    """The marker of a finished artifact of `kind`, or a clear error saying why not."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such {kind} directory")
    marker = _marker_of(path)
    if marker is None:
        raise ArtifactError(f"{path}: not an aktrec artifact directory (no {MARKER})")
    if marker.get("kind") != kind:
        raise ArtifactError(f"{path}: holds a {marker.get('kind')!r} artifact, expected {kind!r}")
    return marker


@contextlib.contextmanager
def staged_output(out: Path, kind: str, **provenance: Any) -> Iterator[Path]:
    """Yield a staging directory that replaces `out` only if the block finishes.

    On any exception the staging directory is removed and an existing `out` is untouched. An
    existing `out` is replaced only when it is an aktrec artifact (or empty): a typo in `--out`
    must never delete someone's data.
    """
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            raise ArtifactError(f"{out}: exists and is not a directory")
        if any(out.iterdir()) and _marker_of(out) is None:
            raise ArtifactError(f"{out}: exists, is not empty and is not an aktrec artifact; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        yield staging
        marker = {
            "kind": kind,
            "aktrec_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **provenance,
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=2, default=str))
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; an old `out` is kept aside until the rename succeeded."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def list_array(matrix) -> pa.ListArray:
    """(N, D) numpy array -> N list values of length D (one Arrow column, no Python loop)."""
    import numpy as np

    offsets = np.arange(0, matrix.size + 1, max(matrix.shape[1], 1), dtype=np.int32)[: len(matrix) + 1]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.ascontiguousarray(matrix).reshape(-1)))


def list_matrix(column: pa.ChunkedArray | pa.Array):
    """A column of equal-length lists -> (N, D) numpy array (the inverse of `list_array`)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = len(column[0]) if len(column) else 0
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), width)


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def write_parquet_file(table: pa.Table, path: Path) -> Path:
    """`table` as the parquet file `path`, whole or not at all: written beside it under a hidden
    name and renamed over it (an existing file stays until the new one is complete)."""
    path = Path(path).absolute()
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory; give a .parquet file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        write_parquet(table, hidden)
        os.replace(hidden, path)
    except BaseException:
        hidden.unlink(missing_ok=True)
        raise
    return path


def write_json(obj: Any, path: Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
