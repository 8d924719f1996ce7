import numpy as np

from aktrec import schemas
from aktrec.config import SynthConfig
from aktrec.data.card import top_share
from aktrec.data.synth import generate


def test_same_seed_same_data_other_seed_other_data(tiny_synth_config, tiny_raw):
    again = generate(tiny_synth_config)
    assert again.interactions.equals(tiny_raw.interactions)
    assert again.items.equals(tiny_raw.items)
    assert again.users.equals(tiny_raw.users)
    other = generate(SynthConfig(**{**tiny_synth_config.__dict__, "seed": 8}))
    assert not other.interactions.equals(tiny_raw.interactions)


def test_contract_shape_and_sizes(tiny_synth_config, tiny_raw):
    assert tiny_raw.interactions.num_rows == tiny_synth_config.n_interactions
    assert tiny_raw.items.num_rows == tiny_synth_config.n_items
    assert tiny_raw.users.num_rows == tiny_synth_config.n_users
    assert not tiny_raw.positives_only and tiny_raw.ts_kind == "time"
    assert {"age_group", "gender", "region"} <= set(tiny_raw.users.column_names)
    items = tiny_raw.items.to_pandas()
    assert items[schemas.TITLE].notna().all() and items[schemas.CATEGORY].map(len).eq(3).all()
    span = tiny_raw.interactions[schemas.TS].to_pandas()
    assert (span.max() - span.min()).days >= tiny_synth_config.n_days - 1


def test_long_tailed_users_and_items():
    raw = generate(SynthConfig(n_users=1_000, n_items=500, n_interactions=40_000, seed=1))
    frame = raw.interactions.to_pandas()
    item_counts = frame[schemas.ITEM_ID].value_counts()
    user_counts = frame[schemas.USER_ID].value_counts()
    assert top_share(item_counts) > 0.6  # top 20% of items take most exposures
    assert (user_counts < 5).mean() > 0.15  # many users are barely active ...
    assert user_counts.max() > 20 * user_counts.median()  # ... and a few very active
    assert 0.03 < frame[schemas.LABEL].mean() < 0.3


def test_clicks_follow_interests_shared_within_a_category():
    """A user's click rate on a leaf category in the first half predicts it in the second:
    interests are shared by the items of a category, so they transfer to its tail items."""
    raw = generate(SynthConfig(n_users=800, n_items=400, n_interactions=60_000, seed=2))
    frame = raw.interactions.to_pandas()
    leaf = raw.items.to_pandas().set_index(schemas.ITEM_ID)[schemas.CATEGORY].map(lambda c: c[-1])
    frame["leaf"] = frame[schemas.ITEM_ID].map(leaf)
    half = frame[schemas.TS] < frame[schemas.TS].quantile(0.5)
    rates = [
        frame[mask].groupby([schemas.USER_ID, "leaf"])[schemas.LABEL].agg(["mean", "size"]) for mask in (half, ~half)
    ]
    both = rates[0].join(rates[1], lsuffix="_a", rsuffix="_b", how="inner")
    both = both[(both["size_a"] >= 5) & (both["size_b"] >= 5)]
    assert len(both) > 100
    assert np.corrcoef(both["mean_a"], both["mean_b"])[0, 1] > 0.3


def test_users_and_items_arrive_over_time_so_the_test_window_holds_cold_starts():
    from aktrec.data.prepare import prepare

    config = SynthConfig(n_users=600, n_items=300, n_interactions=20_000, seed=3)
    raw = generate(config)
    frame = raw.interactions.to_pandas()
    first_seen = frame.groupby(schemas.USER_ID)[schemas.TS].min()
    days = (first_seen - first_seen.min()).dt.total_seconds() / 86_400
    # Without arrival 4% of these users are first seen in the second half and 5% of the items
    # after day 5 (measured); with it, a quarter of the users and of the items.
    assert (days > config.n_days / 2).mean() > 0.2
    assert (days > config.n_days - 3).sum() > 20  # some users only in the last days
    items_first = frame.groupby(schemas.ITEM_ID)[schemas.TS].min()
    assert ((items_first - items_first.min()).dt.days > 5).mean() > 0.2
    data = prepare(raw)
    test_users = set(data.test[schemas.USER_ID])
    cold = test_users - set(data.train[schemas.USER_ID])
    assert len(cold) > 10 and data.test[schemas.IS_TAIL_SAMPLE].mean() > 0.2
    with_both_labels = (
        data.test[data.test[schemas.IS_TAIL_SAMPLE]].groupby(schemas.USER_ID)[schemas.LABEL].nunique() == 2
    )
    assert with_both_labels.sum() >= 30  # a tail slice a GAUC can be read on
