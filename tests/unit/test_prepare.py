import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aktrec import schemas
from aktrec.config import NegativeSamplingConfig, PrepareConfig, SplitConfig, TailConfig
from aktrec.data.card import render_card_markdown
from aktrec.data.contract import normalize_interactions
from aktrec.data.prepare import latest_per_user, prepare
from aktrec.data.raw import RawData
from aktrec.errors import AktrecError, DataError


def raw_from(frame: pd.DataFrame, ts_format="auto") -> RawData:
    table, kind = normalize_interactions(frame, ts_format)
    return RawData(interactions=table, items=None, users=None, ts_kind=kind, source="test")


def positives_only() -> pd.DataFrame:
    rows = [("a", f"i{k}", k) for k in range(6)] + [("b", "i0", 0), ("b", "i3", 1)] + [("c", "i5", 0)]
    rows += [("d", f"i{k}", k) for k in range(6, 12)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def config(**kwargs) -> PrepareConfig:
    return PrepareConfig(**{"split": SplitConfig(method="leave-last-out"), **kwargs})


def test_leave_last_out_holds_out_each_users_last_interaction():
    data = prepare(raw_from(positives_only()), config())
    test_pos = data.test[data.test[schemas.LABEL] == 1].set_index(schemas.USER_ID)[schemas.ITEM_ID].to_dict()
    assert test_pos == {"a": "i5", "b": "i3", "d": "i11"}  # c has one interaction: train only
    assert "c" in set(data.train[schemas.USER_ID])
    assert data.cutoff is None


def test_negatives_ratio_never_clicked_and_seeded():
    frame = positives_only()
    cfg = config(negatives=NegativeSamplingConfig(ratio=3))
    data = prepare(raw_from(frame), cfg)
    clicked = set(zip(frame.user_id, frame.item_id))
    for split in (data.train, data.test):
        negatives = split[split[schemas.IS_SAMPLED]]
        assert (negatives[schemas.LABEL] == 0).all()
        assert len(negatives) == 3 * int((split[schemas.LABEL] == 1).sum())
        assert not clicked & set(zip(negatives[schemas.USER_ID], negatives[schemas.ITEM_ID]))
    # a negative shares its positive's time, so it never leaks across the split
    assert data.test.groupby(schemas.USER_ID)[schemas.TS].nunique().eq(1).all()
    again = prepare(raw_from(frame), cfg)
    pd.testing.assert_frame_equal(data.train, again.train)
    other = prepare(raw_from(frame), PrepareConfig(split=cfg.split, negatives=cfg.negatives, seed=1))
    assert not other.train[schemas.ITEM_ID].equals(data.train[schemas.ITEM_ID])


def test_popularity_sampling_prefers_popular_items():
    rng = np.random.default_rng(0)
    n_users, n_items = 400, 50
    popular = rng.zipf(1.5, size=4_000) % n_items
    frame = pd.DataFrame(
        {
            "user_id": [f"u{k % n_users}" for k in range(4_000)],
            "item_id": [f"i{p}" for p in popular],
            "ts": np.arange(4_000),
        }
    )
    frame = frame.drop_duplicates(["user_id", "item_id"])
    shares = {}
    for strategy in ("uniform", "popularity"):
        data = prepare(raw_from(frame), config(negatives=NegativeSamplingConfig(ratio=2, strategy=strategy)))
        negatives = data.train[data.train[schemas.IS_SAMPLED]]
        shares[strategy] = (negatives[schemas.ITEM_ID] == "i1").mean()
    assert shares["popularity"] > 3 * shares["uniform"]


def test_time_split_cutoff_and_tail_flags():
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [("heavy", f"i{k % 3}", ts + pd.Timedelta(hours=k), k % 2) for k in range(12)]
    rows += [("light", "i0", ts + pd.Timedelta(hours=1), 1), ("light", "i9", ts + pd.Timedelta(hours=2), 0)]
    rows += [("late", "i1", ts + pd.Timedelta(days=9), 1), ("late", "i0", ts + pd.Timedelta(days=9, hours=1), 0)]
    rows += [("heavy", "i0", ts + pd.Timedelta(days=9, hours=2), 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "label"])
    cfg = PrepareConfig(
        split=SplitConfig(method="time", test_days=1),
        tail=TailConfig(tail_user_max_interactions=5, tail_item_max_exposures=4),
    )
    data = prepare(raw_from(frame), cfg)
    assert data.cutoff == ts + pd.Timedelta(days=8, hours=2)
    assert (data.train[schemas.TS] < data.cutoff).all() and (data.test[schemas.TS] >= data.cutoff).all()
    assert not data.train[schemas.IS_SAMPLED].any()  # explicit labels: nothing sampled
    flags = data.test.set_index(schemas.USER_ID)
    assert not flags.loc["heavy", schemas.IS_TAIL_USER]  # 12 training interactions
    assert flags.loc["late", schemas.IS_TAIL_USER].all()  # unseen in training
    train_flags = data.train.set_index(schemas.ITEM_ID)
    assert not train_flags.loc["i0", schemas.IS_TAIL_ITEM].any()  # 5 exposures
    assert train_flags.loc["i9", schemas.IS_TAIL_ITEM]  # 1 exposure
    assert (
        data.train[schemas.IS_TAIL_SAMPLE] == (data.train[schemas.IS_TAIL_USER] | data.train[schemas.IS_TAIL_ITEM])
    ).all()
    row_ids = pd.concat([data.train[schemas.ROW_ID], data.test[schemas.ROW_ID]])
    assert row_ids.is_unique
    assert pa.Table.from_pandas(data.train, schema=schemas.SAMPLES, preserve_index=False).num_rows == len(data.train)


def test_per_user_split_holds_out_each_users_latest_share_and_trains_on_the_rest_of_each_users():
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [("many", f"i{k}", ts + pd.Timedelta(hours=k), k % 2) for k in range(10)]
    rows += [("few", "i0", ts + pd.Timedelta(days=5), 1), ("few", "i1", ts + pd.Timedelta(days=6), 0)]
    rows += [("once", "i2", ts + pd.Timedelta(days=1), 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "label"])
    data = prepare(raw_from(frame), PrepareConfig(split=SplitConfig(method="per-user", test_share=0.2)))
    held_out = data.test.groupby(schemas.USER_ID)[schemas.ITEM_ID].agg(set).to_dict()
    assert held_out == {"many": {"i8", "i9"}, "few": {"i1"}}  # "once" has no earlier row: training only
    assert data.cutoff is None and data.test[schemas.TS].min() < data.train[schemas.TS].max()  # per user, not global
    # Representation events: each user's first half of training events; the CTR samples the rest.
    ctr = data.train[data.ctr_samples()].groupby(schemas.USER_ID)[schemas.ITEM_ID].agg(set).to_dict()
    assert ctr == {"many": {"i4", "i5", "i6", "i7"}, "few": {"i0"}, "once": {"i2"}}
    assert set(data.representation_events()[schemas.ITEM_ID]) == {"i0", "i1", "i2", "i3"}
    assert "each user's latest 20% of interactions" in render_card_markdown(data.card)
    # Validation is per user too, so its users are known as the test's are: "many"'s latest CTR
    # sample; "few" and "once" have no earlier one.
    from aktrec.config import CtrTrainConfig, TrainConfig
    from aktrec.ctr.stage import validation_mask

    samples = data.train[data.ctr_samples()].sort_values(schemas.TS, kind="stable")
    is_valid = validation_mask(samples, data, TrainConfig(loop=CtrTrainConfig(validation_share=0.25)))
    assert samples.loc[is_valid, [schemas.USER_ID, schemas.ITEM_ID]].values.tolist() == [["many", "i7"]]
    with pytest.raises(AktrecError, match=r"split: test_share must be in \(0, 1\), got 1.0"):
        SplitConfig(method="per-user", test_share=1.0)


def test_per_user_validation_is_its_share_of_the_samples_where_users_have_few():
    """Rounding each user's latest share up would put one of every user's 3 samples (a third)
    in validation; rounded at random, the whole is close to the share, and each user's
    validated sample is still the user's latest."""
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [(f"u{u}", f"i{k}", ts + pd.Timedelta(hours=u + k), 1) for u in range(400) for k in range(3)]
    samples = pd.DataFrame(rows, columns=[schemas.USER_ID, schemas.ITEM_ID, schemas.TS, schemas.LABEL])
    samples[schemas.IS_SAMPLED] = False
    assert latest_per_user(samples, 0.1).sum() == 400
    is_valid = latest_per_user(samples, 0.1, np.random.default_rng(0))
    assert 80 <= is_valid.sum() <= 160  # 120 expected: Binomial(400, 0.3), sd 9
    assert (samples.loc[is_valid, schemas.ITEM_ID] == "i2").all()
    again = latest_per_user(samples, 0.1, np.random.default_rng(0))
    assert (is_valid == again).all()  # seeded


def test_time_split_refuses_ordinal_timestamps_and_empty_windows():
    with pytest.raises(DataError, match="interactions.ts: timestamps are ordinal"):
        prepare(raw_from(positives_only()), PrepareConfig())
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    frame = pd.DataFrame(
        {"user_id": ["a", "b"], "item_id": ["x", "y"], "ts": [ts, ts + pd.Timedelta(hours=1)], "label": [1, 0]}
    )
    with pytest.raises(DataError, match="leaves no training rows"):
        prepare(raw_from(frame), PrepareConfig(split=SplitConfig(method="time", test_days=2)))


def test_card_reports_sizes_shape_and_popularity_baseline(tiny_raw):
    card = prepare(tiny_raw, PrepareConfig(split=SplitConfig(test_days=2))).card
    assert card["raw"]["n_interactions"] == tiny_raw.interactions.num_rows
    assert card["raw"]["n_users"] == tiny_raw.users.num_rows
    assert 0 < card["tail"]["share_tail_items"] < 1
    assert 0 <= card["popularity_baseline"]["test_auc"] <= 1
    assert card["train"]["n"] + card["test"]["n"] == tiny_raw.interactions.num_rows


def test_a_sampled_negative_is_in_the_slice_of_its_positive():
    frame = positives_only()
    data = prepare(raw_from(frame), config(negatives=NegativeSamplingConfig(ratio=3)))
    for split in (data.train, data.test):
        positives = split[~split[schemas.IS_SAMPLED]].set_index([schemas.USER_ID, schemas.TS])
        negatives = split[split[schemas.IS_SAMPLED]]
        source = positives.loc[list(zip(negatives[schemas.USER_ID], negatives[schemas.TS]))]
        for flag in (schemas.IS_TAIL_USER, schemas.IS_TAIL_ITEM, schemas.IS_TAIL_SAMPLE):
            assert (negatives[flag].to_numpy() == source[flag].to_numpy()).all(), flag
    assert set(data.train.columns) == set(schemas.SAMPLES.names)  # the helper column is not part of DATA


def test_a_later_window_is_sliced_by_what_was_known_before_it():
    from aktrec.data.prepare import tail_flags_before

    t0 = pd.Timestamp("2026-01-10", tz="UTC")
    earlier = pd.DataFrame(
        {
            schemas.USER_ID: ["old"] * 6,
            schemas.ITEM_ID: ["known"] * 6,
            schemas.TS: [t0 - pd.Timedelta(days=d) for d in range(1, 7)],
            schemas.LABEL: 1,
            schemas.IS_SAMPLED: False,
        }
    )
    window = pd.DataFrame(
        {
            schemas.USER_ID: ["old", "new", "new", "new"],
            schemas.ITEM_ID: ["known", "known", "fresh", "known"],
            schemas.TS: [t0, t0, t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=1)],
            schemas.LABEL: [1, 1, 1, 0],
            schemas.IS_SAMPLED: [False, False, False, True],  # the last: a negative drawn for "fresh"
        }
    )
    flagged = tail_flags_before(window, earlier, TailConfig(tail_user_max_interactions=5, tail_item_max_exposures=5))
    assert flagged[schemas.IS_TAIL_USER].tolist() == [False, True, True, True]
    assert flagged[schemas.IS_TAIL_ITEM].tolist() == [False, False, True, True]  # the negative takes its positive's
    assert list(flagged.columns) == list(window.columns) + [
        schemas.IS_TAIL_USER,
        schemas.IS_TAIL_ITEM,
        schemas.IS_TAIL_SAMPLE,
    ]
