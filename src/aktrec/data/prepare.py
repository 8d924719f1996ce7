"""Prepare RAW into the DATA artifact: split, negatives, head/tail flags, data card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.artifacts import read_marker, staged_output, write_json, write_parquet
from aktrec.config import NegativeSamplingConfig, PrepareConfig, TailConfig, to_dict
from aktrec.data.card import build_card, render_card_markdown
from aktrec.data.raw import RawData
from aktrec.errors import DataError

PREPARED_KIND = "prepared"
MAX_SAMPLING_ROUNDS = 50
# A sampled negative belongs to the slice of the impression it was drawn for: its tail-item
# flag is its positive's item's (a helper column, not part of DATA).
SLICE_ITEM = "slice_item_id"
# Ordinal test samples move this far past every training position, so that a feature view
# not keyed by the user can hold "all of training" for them and "representation events only"
# for training samples, without one position clock shared by all users (features.compute).
ORDINAL_TEST_OFFSET = pd.Timedelta(seconds=10**9)


@dataclass
class PreparedData:
    train: pd.DataFrame  # schemas.SAMPLES columns
    test: pd.DataFrame
    items: pa.Table | None
    users: pa.Table | None
    card: dict[str, Any]
    cutoff: pd.Timestamp | None  # time split only: first instant of the test window
    source: Path | None = None  # the DATA directory it was read from (engines that read the files themselves)

    @property
    def positives_only(self) -> bool:
        """True when negatives were sampled (the raw data held clicks only)."""
        return self.card["negatives"] is not None

    @property
    def ordinal(self) -> bool:
        return self.card["timestamps"] == "ordinal"

    def ctr_samples(self) -> np.ndarray:
        """(len(train),) bool: the training rows the CTR model learns from (SplitConfig)."""
        return ctr_sample_mask(self.train, self.card["split"])

    @property
    def tail_config(self) -> TailConfig:
        """The head/tail thresholds DATA was flagged with."""
        return TailConfig(**{name: self.card["tail"][name] for name in TailConfig.__dataclass_fields__})

    def representation_events(self) -> pd.DataFrame:
        """Observed training events that representations may be built from: none of them is,
        or comes after, a CTR training sample."""
        train = self.train
        return train[~self.ctr_samples() & ~train[schemas.IS_SAMPLED].to_numpy()]


def ctr_sample_mask(train: pd.DataFrame, split: dict[str, Any]) -> np.ndarray:
    """Time split: samples at or after the representation cutoff. Per-user: each user's rows
    from the user's event at `representation_share` of the way through the user's observed
    training events on. Leave-last-out: each user's rows from the user's last observed training
    positive on. Sampled negatives share their positive's time, so they go with it. `split`: the
    data card's split section."""
    if split.get("representation_cutoff") is not None:
        return (train[schemas.TS] >= pd.Timestamp(split["representation_cutoff"])).to_numpy()
    observed = train[~train[schemas.IS_SAMPLED]]
    if split["method"] == "per-user":
        anchor = user_event_time_at(observed, split["representation_share"])
    else:
        anchor = observed[observed[schemas.LABEL] == 1].groupby(schemas.USER_ID)[schemas.TS].max()
    return (train[schemas.TS] >= train[schemas.USER_ID].map(anchor)).to_numpy()


def user_event_time_at(events: pd.DataFrame, share: float, rng: np.random.Generator | None = None) -> pd.Series:
    """Per user (index), the time of the user's event at position ⌊share·n⌋ of the user's n
    events in time order: the first event of the user's last 1 − share, rounded up. With `rng`
    the number of last events, (1 − share)·n, is rounded at random (up with probability its
    fraction), so that users with few events do not each give one and the whole is 1 − share
    of the events; a user drawn none has no time."""
    ordered = events[[schemas.USER_ID, schemas.TS]].sort_values([schemas.USER_ID, schemas.TS], kind="stable")
    users = ordered.groupby(schemas.USER_ID, sort=False)
    sizes = users[schemas.TS].transform("size").to_numpy()
    if rng is None:
        position = np.floor(share * sizes).astype(np.int64)
    else:
        user_draw = rng.random(users.ngroups)[users.ngroup().to_numpy()]
        position = sizes - np.floor((1.0 - share) * sizes + user_draw).astype(np.int64)
    at = ordered[users.cumcount().to_numpy() == position]
    return at.set_index(schemas.USER_ID)[schemas.TS]


def latest_per_user(rows: pd.DataFrame, share: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """(len(rows),) bool: per user, the rows from the user's observed event at `1 − share` of the
    way through the user's observed events on (sampled negatives go with their positive's
    time), for users who keep an earlier row. Each user's count is rounded up, or at random
    with `rng` (see `user_event_time_at`)."""
    observed = rows[~rows[schemas.IS_SAMPLED]]
    return from_user_anchor(rows, user_event_time_at(observed, 1.0 - share, rng))


def from_user_anchor(rows: pd.DataFrame, anchor: pd.Series) -> np.ndarray:
    """(len(rows),) bool: each user's rows at or after the user's `anchor` time (user -> time),
    for users with a row before it."""
    user_anchor = rows[schemas.USER_ID].map(anchor)
    has_earlier = (rows[schemas.TS] < user_anchor).groupby(rows[schemas.USER_ID]).transform("any")
    return ((rows[schemas.TS] >= user_anchor) & has_earlier).to_numpy()


def representation_cutoff(train: pd.DataFrame, config: PrepareConfig) -> pd.Timestamp | None:
    """Time split: the instant before which the first `representation_share` of observed
    training events lie (None for the per-user splits, whose rule is per user)."""
    if config.split.method != "time":
        return None
    observed = train.loc[~train[schemas.IS_SAMPLED], schemas.TS].sort_values(kind="stable")
    return observed.iloc[int(config.split.representation_share * (len(observed) - 1))]


def split(
    interactions: pd.DataFrame, config: PrepareConfig, ts_kind: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """Train and test rows of the observed interactions, and the cutoff of a time split.

    time: the last `test_days` days are the test window (the paper's protocol).
    per-user: per user, the rows from the user's event at `1 − test_share` of the way through the
    user's interactions on are test, for users who keep at least one earlier row.
    leave-last-out: per user, the rows from the user's last positive on (for positive-only
    data: the last interaction) are test, for users who keep at least one earlier row.
    """
    if config.split.method == "time":
        if ts_kind == "ordinal":
            raise DataError(
                "interactions",
                "timestamps are ordinal positions, not times: use --split leave-last-out or per-user",
                column=schemas.TS,
            )
        cutoff = interactions[schemas.TS].max() - pd.Timedelta(days=config.split.test_days)
        is_test = (interactions[schemas.TS] >= cutoff).to_numpy()
        if is_test.all() or not is_test.any():
            raise DataError(
                "interactions",
                f"a {config.split.test_days}-day test window leaves no {'training' if is_test.all() else 'test'} rows "
                f"(data spans {interactions[schemas.TS].min()} to {interactions[schemas.TS].max()})",
                column=schemas.TS,
            )
        return interactions[~is_test], interactions[is_test], cutoff
    if config.split.method == "per-user":
        is_test = latest_per_user(interactions, config.split.test_share)
    else:
        anchor = interactions[interactions[schemas.LABEL] == 1].groupby(schemas.USER_ID)[schemas.TS].max()
        is_test = from_user_anchor(interactions, anchor)
    if not is_test.any():
        raise DataError(
            "interactions",
            f"the {config.split.method} split finds no user with interactions at two or more times",
            column=schemas.USER_ID,
        )
    test = interactions[is_test]
    if ts_kind == "ordinal":
        test = test.assign(**{schemas.TS: test[schemas.TS] + ORDINAL_TEST_OFFSET})
    return interactions[~is_test], test, None


def sample_negatives(
    positives: pd.DataFrame,
    all_positive_pairs: pd.DataFrame,
    item_ids: np.ndarray,
    train_clicks: pd.Series,
    config: NegativeSamplingConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """`config.ratio` negatives per positive row, at the positive's time, never an item the
    user clicked anywhere in the data. Rejected draws are redrawn in vectorized rounds."""
    n_items = len(item_ids)
    item_index = pd.Index(item_ids)
    if config.strategy == "popularity":
        weight = (train_clicks.reindex(item_ids).fillna(0).to_numpy() + 1.0) ** config.exponent
    else:
        weight = np.ones(n_items)
    cdf = np.cumsum(weight)
    users = pd.Index(all_positive_pairs[schemas.USER_ID].unique())
    clicked = np.unique(
        users.get_indexer(all_positive_pairs[schemas.USER_ID]).astype(np.int64) * n_items
        + item_index.get_indexer(all_positive_pairs[schemas.ITEM_ID])
    )
    row_user = np.repeat(users.get_indexer(positives[schemas.USER_ID]).astype(np.int64), config.ratio)
    drawn = np.empty(len(row_user), dtype=np.int64)
    pending = np.arange(len(row_user))
    for _ in range(MAX_SAMPLING_ROUNDS):
        drawn[pending] = np.minimum(np.searchsorted(cdf, rng.random(len(pending)) * cdf[-1], side="right"), n_items - 1)
        keys = row_user[pending] * n_items + drawn[pending]
        position = np.minimum(np.searchsorted(clicked, keys), len(clicked) - 1)
        pending = pending[clicked[position] == keys]
        if len(pending) == 0:
            break
    keep = np.ones(len(row_user), dtype=bool)
    keep[pending] = False  # users who clicked (nearly) every item: no negative to be had
    source = positives.iloc[np.repeat(np.arange(len(positives)), config.ratio)[keep]]
    return pd.DataFrame(
        {
            schemas.USER_ID: source[schemas.USER_ID].to_numpy(),
            schemas.ITEM_ID: item_ids[drawn[keep]],
            schemas.TS: source[schemas.TS].to_numpy(),
            schemas.LABEL: np.zeros(int(keep.sum()), dtype=np.int8),
            schemas.IS_SAMPLED: True,
            SLICE_ITEM: source[schemas.ITEM_ID].to_numpy(),
        }
    )


def training_activity(train: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Observed training events per user and per item (sampled negatives are not events):
    the counts that head/tail thresholds apply to."""
    observed = train[~train[schemas.IS_SAMPLED]]
    return observed[schemas.USER_ID].value_counts(), observed[schemas.ITEM_ID].value_counts()


def add_tail_flags(
    samples: pd.DataFrame, user_counts: pd.Series, item_counts: pd.Series, config: PrepareConfig
) -> pd.DataFrame:
    """Tail user: fewer training interactions than the threshold; tail item likewise with
    exposures; tail sample: tail user or tail item. Unseen ids count zero (always tail). A
    sampled negative takes the item flag of the positive it was drawn for (`SLICE_ITEM`)."""
    users = samples[schemas.USER_ID].map(user_counts).fillna(0).to_numpy()
    slice_item = (
        samples[SLICE_ITEM].fillna(samples[schemas.ITEM_ID]) if SLICE_ITEM in samples else samples[schemas.ITEM_ID]
    )
    items = slice_item.map(item_counts).fillna(0).to_numpy()
    samples[schemas.IS_TAIL_USER] = users < config.tail.tail_user_max_interactions
    samples[schemas.IS_TAIL_ITEM] = items < config.tail.tail_item_max_exposures
    samples[schemas.IS_TAIL_SAMPLE] = samples[schemas.IS_TAIL_USER] | samples[schemas.IS_TAIL_ITEM]
    return samples


def tail_flags_before(samples: pd.DataFrame, earlier: pd.DataFrame, tail: TailConfig) -> pd.DataFrame:
    """`samples` with head/tail flags counted on the `earlier` training events, as the test's are
    counted on all of training: a later window (validation) is sliced by what was known before it.
    A sampled negative takes its positive's item flag: the observed row of its user at its time
    (the first, where a user has several at one instant)."""
    observed = samples[~samples[schemas.IS_SAMPLED]]
    positive_item = observed.drop_duplicates([schemas.USER_ID, schemas.TS]).set_index([schemas.USER_ID, schemas.TS])[
        schemas.ITEM_ID
    ]
    at = pd.MultiIndex.from_frame(samples[[schemas.USER_ID, schemas.TS]])
    slice_item = np.where(samples[schemas.IS_SAMPLED], positive_item.reindex(at).to_numpy(), samples[schemas.ITEM_ID])
    flagged = add_tail_flags(
        samples.assign(**{SLICE_ITEM: slice_item}), *training_activity(earlier), PrepareConfig(tail=tail)
    )
    return flagged.drop(columns=SLICE_ITEM)


def prepare(raw: RawData, config: PrepareConfig = PrepareConfig()) -> PreparedData:
    rng = np.random.default_rng(config.seed)
    interactions = raw.interactions.to_pandas()
    if raw.positives_only:
        interactions[schemas.LABEL] = np.int8(1)
    interactions[schemas.IS_SAMPLED] = False
    train, test, cutoff = split(interactions, config, raw.ts_kind)
    user_counts, item_counts = training_activity(train)
    train_clicks = train.loc[train[schemas.LABEL] == 1, schemas.ITEM_ID].value_counts()
    if raw.positives_only:
        item_ids = np.asarray(
            raw.items[schemas.ITEM_ID].to_numpy(zero_copy_only=False)
            if raw.items is not None
            else interactions[schemas.ITEM_ID].unique()
        )
        train = pd.concat(
            [train, sample_negatives(train, interactions, item_ids, train_clicks, config.negatives, rng)],
            ignore_index=True,
        )
        test = pd.concat(
            [test, sample_negatives(test, interactions, item_ids, train_clicks, config.negatives, rng)],
            ignore_index=True,
        )
    frames = []
    next_row_id = 0
    for frame in (train, test):
        frame = frame.sort_values([schemas.TS, schemas.USER_ID, schemas.IS_SAMPLED], kind="stable").reset_index(
            drop=True
        )
        frame = add_tail_flags(frame, user_counts, item_counts, config)
        frame.insert(0, schemas.ROW_ID, np.arange(next_row_id, next_row_id + len(frame), dtype=np.int64))
        next_row_id += len(frame)
        frames.append(frame[schemas.SAMPLES.names])
    train, test = frames
    card = build_card(
        raw, train, test, user_counts, item_counts, train_clicks, config, cutoff, representation_cutoff(train, config)
    )
    return PreparedData(train=train, test=test, items=raw.items, users=raw.users, card=card, cutoff=cutoff)


def write_prepared(data: PreparedData, out: Path, config: PrepareConfig, validate: bool = True) -> Path:
    with staged_output(out, PREPARED_KIND, config=to_dict(config), cutoff=data.cutoff) as staging:
        for name in schemas.PREPARED_SPLITS:
            frame = getattr(data, name)
            write_parquet(
                pa.Table.from_pandas(frame, schema=schemas.SAMPLES, preserve_index=False),
                schemas.table_file(staging, name),
            )
        for name in ("items", "users"):
            table = getattr(data, name)
            if table is not None:
                write_parquet(table, schemas.table_file(staging, name))
        write_json(data.card, staging / "card.json")
        (staging / "card.md").write_text(render_card_markdown(data.card))
        if validate:
            from aktrec.data.checks import validate_prepared

            validate_prepared(data, staging / "validation", final_dir=Path(out))
    return Path(out)


def read_prepared(path: Path) -> PreparedData:
    marker = read_marker(path, PREPARED_KIND)
    optional = {
        name: pq.read_table(schemas.table_file(path, name)) if schemas.table_file(path, name).is_file() else None
        for name in ("items", "users")
    }
    return PreparedData(
        train=pq.read_table(schemas.table_file(path, "train")).to_pandas(),
        test=pq.read_table(schemas.table_file(path, "test")).to_pandas(),
        items=optional["items"],
        users=optional["users"],
        card=json.loads((Path(path) / "card.json").read_text()),
        cutoff=pd.Timestamp(marker["cutoff"]) if marker.get("cutoff") else None,
        source=Path(path),
    )
