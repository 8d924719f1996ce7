"""The prediction log: what the predictor served, one row per scored candidate (schemas.PREDICTION_LOG
and the feature values the model read), as parquet shards under a directory or s3:// URI.

The request path only samples and enqueues; a writer thread turns requests into rows and writes
a shard when it is full or old enough (`PredictionLogConfig`). A shard appears whole or not at
all: written to a hidden temporary file and renamed (locally), or uploaded as one object. A
full queue or a failing sink drops records and says so in the server log; it never fails or
slows a request beyond the enqueue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.config import PredictionLogConfig
from aktrec.errors import ArtifactError
from aktrec.storage import filesystem, is_remote, join_uri

log = logging.getLogger("aktrec")
WARN_EVERY_S = 60.0
CONVERT_ROWS = 2_000  # rows converted at a time by the writer thread
_STOP = object()


@dataclass
class LoggedRequest:
    """One answered request as the scoring thread hands it over (arrays are the batch's slices)."""

    request_id: str
    instance: int
    user_id: str
    item_ids: list[str]
    scores: np.ndarray
    unknown_user: bool
    unknown_items: np.ndarray
    described_items: np.ndarray
    is_tail: np.ndarray
    features: dict[str, np.ndarray]


def digest(value) -> str:
    """A short fingerprint of a list-valued feature (a vector as float32 values, a sequence of
    ids or attributes as text): equal on both sides of a skew check without logging the list."""
    array = np.asarray(value if value is not None else [])
    if not array.size:
        return ""
    data = array.astype(np.float32).tobytes() if array.dtype.kind in "biuf" else "\x1f".join(map(str, array)).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class PredictionLogger:
    def __init__(
        self,
        config: PredictionLogConfig,
        release: str,
        arm: str,
        variant: str,
        scalar_features: list[str],
        list_features: list[str],
    ) -> None:
        self.config, self.release, self.arm, self.variant = config, release, arm, variant
        self.scalar_features, self.list_features = scalar_features, list_features
        self.queue: queue.Queue = queue.Queue(maxsize=config.queue_requests)
        self.pending: list[tuple[pd.Timestamp, LoggedRequest]] = []
        self.pending_rows, self.oldest = 0, 0.0
        self.converted: list[pa.Table] = []  # rows of the shard being filled
        self.converted_rows = 0
        self.shards = self.written_shards = self.dropped_requests = self.failed_shards = 0
        self.warned = -WARN_EVERY_S
        self.random = random.Random()
        self.prefix = f"{arm}-{socket.gethostname()}-{os.getpid()}"
        self.writer = threading.Thread(target=self._run, name="aktrec-prediction-log", daemon=True)
        self.writer.start()
        log.info("logging %.0f%% of requests to %s (arm %s)", 100 * config.sample_rate, config.uri, arm)

    def log(self, requests: list[LoggedRequest]) -> None:
        """Enqueue one call's requests (request path: no conversion, no I/O)."""
        if self.config.sample_rate < 1 and self.random.random() >= self.config.sample_rate:
            return
        answered = pd.Timestamp.now(tz="UTC")
        for request in requests:
            try:
                self.queue.put_nowait((answered, request))
            except queue.Full:
                self.dropped_requests += 1
                self._warn(f"prediction log queue full: {self.dropped_requests} request(s) dropped so far")

    def _warn(self, message: str) -> None:
        if time.monotonic() - self.warned >= WARN_EVERY_S:
            self.warned = time.monotonic()
            log.warning(message)

    def _run(self) -> None:
        while True:
            started = self.pending or self.converted
            wait = self.config.shard_seconds - (time.monotonic() - self.oldest) if started else None
            try:
                item = self.queue.get(timeout=None if wait is None else max(wait, 0.01))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush()
                return
            if item is not None:
                if not self.pending and not self.converted:
                    self.oldest = time.monotonic()
                self.pending.append(item)
                self.pending_rows += len(item[1].item_ids)
                if self.pending_rows >= CONVERT_ROWS:
                    self._convert()
            rows = self.pending_rows + self.converted_rows
            if rows and (rows >= self.config.shard_rows or time.monotonic() - self.oldest >= self.config.shard_seconds):
                self._flush()

    def _convert(self) -> None:
        """Turn the pending requests into rows now, a few thousand at a time: converting a whole
        shard at once would hold Python's lock long enough to stall the scoring thread."""
        pending, self.pending, rows = self.pending, [], self.pending_rows
        self.pending_rows = 0
        try:
            self.converted.append(self.rows(pending))
            self.converted_rows += rows
        except Exception as exc:  # noqa: BLE001 - whatever the rows hold, serving goes on
            log.debug("prediction log rows failed", exc_info=True)
            self.failed_shards += 1
            self._warn(f"prediction log: {len(pending)} request(s) could not be logged ({exc})")

    def _flush(self) -> None:
        if self.pending:
            self._convert()
        if not self.converted:
            return
        converted, self.converted, self.converted_rows = self.converted, [], 0
        try:
            self._write(pa.concat_tables(converted, promote_options="default"))
            self.written_shards += 1
        except Exception as exc:  # noqa: BLE001 - whatever the sink does, serving goes on
            log.debug("prediction log shard failed", exc_info=True)
            self.failed_shards += 1
            rows = sum(table.num_rows for table in converted)
            self._warn(f"prediction log: a shard of {rows} row(s) was not written ({exc})")

    def rows(self, pending: list[tuple[pd.Timestamp, LoggedRequest]]) -> pa.Table:
        """The log rows of answered requests (one per candidate)."""
        sizes = [len(request.item_ids) for _, request in pending]
        requests = [request for _, request in pending]

        def repeat(values) -> np.ndarray:
            return np.repeat(np.asarray(values, dtype=object), sizes)

        columns = {
            schemas.REQUEST_ID: repeat([r.request_id for r in requests]),
            schemas.TS: np.repeat(np.array([ts.to_datetime64() for ts, _ in pending], dtype="datetime64[us]"), sizes),
            schemas.RELEASE: np.full(sum(sizes), self.release, dtype=object),
            schemas.ARM: np.full(sum(sizes), self.arm, dtype=object),
            schemas.VARIANT: np.full(sum(sizes), self.variant, dtype=object),
            schemas.INSTANCE: np.repeat(np.array([r.instance for r in requests], dtype=np.int32), sizes),
            schemas.POSITION: np.concatenate([np.arange(size, dtype=np.int32) for size in sizes]),
            schemas.USER_ID: repeat([r.user_id for r in requests]),
            schemas.ITEM_ID: np.array([item for r in requests for item in r.item_ids], dtype=object),
            schemas.SCORE: np.concatenate([r.scores for r in requests]).astype(np.float32),
            schemas.UNKNOWN_USER: np.repeat(np.array([r.unknown_user for r in requests], dtype=bool), sizes),
            schemas.UNKNOWN_ITEM: np.concatenate([r.unknown_items for r in requests]).astype(bool),
            schemas.DESCRIBED_ITEM: np.concatenate([r.described_items for r in requests]).astype(bool),
            schemas.IS_TAIL: np.concatenate([r.is_tail for r in requests]).astype(bool),
        }
        arrays = [pa.array(values, type=schemas.PREDICTION_LOG.field(name).type) for name, values in columns.items()]
        fields = list(schemas.PREDICTION_LOG)
        for feature in self.scalar_features:
            values = np.concatenate([r.features[feature] for r in requests])
            numeric = values.dtype.kind in "biuf"  # else a categorical value (a user attribute)
            array = pa.array(values.astype(np.float64) if numeric else [str(v) for v in values])
            arrays.append(array)
            fields.append(pa.field(feature, array.type))
        for feature in self.list_features:
            # A user's lists repeat on every candidate, an item's on every request that shows it
            # (the predictor hands out the same objects): one digest per distinct object.
            values = np.concatenate([r.features[feature] for r in requests])
            _, first, inverse = np.unique(
                np.fromiter(map(id, values), np.int64, len(values)), return_index=True, return_inverse=True
            )
            digests = np.array([digest(values[n]) for n in first], dtype=object)[inverse]
            arrays.append(pa.array(digests, type=pa.string()))
            fields.append(pa.field(schemas.DIGEST_PREFIX + feature, pa.string()))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _write(self, table: pa.Table) -> None:
        now = pd.Timestamp.now(tz="UTC")
        self.shards += 1
        name = f"{now:%Y%m%dT%H%M%S}-{self.prefix}-{self.shards:06d}.parquet"
        directory = join_uri(self.config.uri, f"date={now:%Y-%m-%d}")
        if is_remote(self.config.uri):
            fs, path = filesystem(directory)
            with tempfile.TemporaryDirectory(prefix="aktrec-log-") as scratch:
                local = Path(scratch) / name
                pq.write_table(table, local, compression="zstd")
                fs.put_file(str(local), f"{path}/{name}")  # one object: readers see it whole or not at all
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        hidden = Path(directory) / f".{name}.tmp"
        pq.write_table(table, hidden, compression="zstd")
        os.replace(hidden, Path(directory) / name)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is pending and stop the writer (at shutdown)."""
        try:
            self.queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            log.warning("prediction log: queue still full at shutdown; its requests are dropped")
            return
        self.writer.join(timeout_s)
        log.info(
            "prediction log: %d shard(s) written, %d request(s) dropped, %d shard(s) failed",
            self.written_shards,
            self.dropped_requests,
            self.failed_shards,
        )


def _shards(uri: str, since: pd.Timestamp | None, until: pd.Timestamp | None) -> list[str]:
    """The log's shard files whose date partition may hold rows in [since, until]."""
    if is_remote(uri):
        fs, root = filesystem(uri)
        paths = [f"{fs.unstrip_protocol(p)}" for p in fs.find(root) if p.endswith(".parquet")]
    else:
        root = Path(uri)
        if not root.is_dir():
            raise ArtifactError(f"prediction log {uri}: no such directory")
        paths = [str(p) for p in sorted(root.rglob("*.parquet"))]
    out = []
    for path in paths:
        name, day = Path(path).name, Path(path).parent.name
        if name.startswith("."):
            continue
        if day.startswith("date="):
            date = pd.Timestamp(day.removeprefix("date="), tz="UTC")
            if (since is not None and date + pd.Timedelta(days=1) <= since) or (until is not None and date > until):
                continue
        out.append(path)
    return sorted(out)


def read_prediction_log(uri: str, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """The logged rows with `since <= ts < until` (either open), oldest first; an error naming
    the URI and the window when there are none."""
    frames = []
    for path in _shards(uri, since, until):
        if is_remote(path):
            fs, key = filesystem(path)
            with fs.open(key, "rb") as file:
                frames.append(pq.read_table(file).to_pandas())
        else:
            frames.append(pq.read_table(path).to_pandas())
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schemas.PREDICTION_LOG.names)
    if since is not None:
        rows = rows[rows[schemas.TS] >= since]
    if until is not None:
        rows = rows[rows[schemas.TS] < until]
    if rows.empty:
        window = (
            f" between {since or 'the start'} and {until or 'now'}" if since is not None or until is not None else ""
        )
        raise ArtifactError(f"prediction log {uri}: no logged predictions{window}")
    missing = [name for name in schemas.PREDICTION_LOG.names if name not in rows]
    if missing:
        raise ArtifactError(f"prediction log {uri}: not a prediction log (missing columns {missing})")
    return rows.sort_values(
        [schemas.TS, schemas.REQUEST_ID, schemas.INSTANCE, schemas.POSITION], kind="stable"
    ).reset_index(drop=True)
