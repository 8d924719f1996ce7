"""Deterministic synthetic long-tail data with real impressions (clicks and non-clicks).

Items come from a beauty-shop taxonomy, so their text (category, product noun, benefit words,
brand) carries the same signal as their latent vector; users have attributes and interests
over a few leaf categories. A click depends on the match of user and item latents, and items
of one leaf share most of their latent, so what is learned on head items of a leaf transfers
to its tail items, which is the structure AKT-Rec exploits.

Users and items arrive over time: a share of the users joins during the period and a share of
the items is released during it, so every window (validation, test) holds new users and items
next to known ones, as a live shop does: the tail and the cold start are in the evaluation, not
only in the training window.

Shapes: items N_i, users N_u, impressions N; everything is vectorized over impressions.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import yaml

from aktrec import schemas
from aktrec.config import SynthConfig
from aktrec.data.contract import normalize_interactions, normalize_items, normalize_users
from aktrec.data.raw import RawData

START = pd.Timestamp("2026-01-01", tz="UTC")
MAX_REDRAWS = 30  # of an item drawn before its release; each round redraws the unreleased share


# The shop's vocabulary, kept as data: taxonomy, brands, sizes, the user attributes' values.
SHOP = yaml.safe_load(resources.files("aktrec.data").joinpath("synth_shop.yaml").read_text(encoding="utf-8"))
# top category -> leaf -> (product nouns, benefit words, (min price, max price))
TAXONOMY: dict[str, dict[str, tuple[list[str], list[str], tuple[float, float]]]] = {
    top: {leaf: (entry["nouns"], entry["benefits"], tuple(entry["price"])) for leaf, entry in leaves.items()}
    for top, leaves in SHOP["taxonomy"].items()
}
BRAND_STEMS, BRAND_SUFFIXES, SIZES = SHOP["brand_stems"], SHOP["brand_suffixes"], SHOP["sizes"]
AGE_GROUPS, GENDERS, REGIONS = SHOP["age_groups"], SHOP["genders"], SHOP["regions"]
GENDER_LEAN: dict[str, dict[str, float]] = SHOP["gender_lean"]  # per gender: top category or leaf -> multiplier


def _leaves() -> list[tuple[str, str]]:
    return [(top, leaf) for top, leaves in TAXONOMY.items() for leaf in leaves]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def generate(config: SynthConfig = SynthConfig()) -> RawData:
    """The synthetic data set of `config` as RAW tables (deterministic for `config.seed`)."""
    rng = np.random.default_rng(config.seed)
    leaves = _leaves()
    n_leaves, dim = len(leaves), config.latent_dim
    tops = sorted(TAXONOMY)

    # Latents: leaf = its top category's direction plus its own; items add brand and noise.
    top_latent = rng.normal(size=(len(tops), dim))
    leaf_latent = _unit(0.8 * top_latent[[tops.index(t) for t, _ in leaves]] + 0.6 * rng.normal(size=(n_leaves, dim)))
    brands = [f"{stem} {suffix}" for stem in BRAND_STEMS for suffix in BRAND_SUFFIXES[:2]]
    brand_latent = rng.normal(size=(len(brands), dim))
    brand_tier = rng.lognormal(0.0, 0.3, size=len(brands))

    item_leaf = rng.integers(0, n_leaves, size=config.n_items)
    item_leaf[: min(n_leaves, config.n_items)] = np.arange(min(n_leaves, config.n_items))  # every leaf used
    item_brand = rng.integers(0, len(brands), size=config.n_items)
    item_latent = _unit(
        leaf_latent[item_leaf] + 0.3 * _unit(brand_latent[item_brand]) + 0.25 * rng.normal(size=(config.n_items, dim))
    )
    item_quality = rng.normal(0.0, 0.3, size=config.n_items)
    period = config.n_days * 86_400
    item_release = _arrival_times(rng, config.n_items, config.item_arrival_share, period)
    item_release[: min(n_leaves, config.n_items)] = 0.0  # each leaf's first item is there from day 0
    # Zipf exposure weights over a random order of items: a few head items, a long tail.
    item_weight = 1.0 / rng.permutation(np.arange(1, config.n_items + 1)) ** config.item_popularity_exponent
    items = _item_table(rng, leaves, brands, brand_tier, item_leaf, item_brand)

    # Users: attributes, 1-3 favourite leaves (leaning by gender), latent = their mix.
    gender = rng.choice(len(GENDERS), size=config.n_users, p=[0.55, 0.35, 0.10])
    lean = np.ones((len(GENDERS), n_leaves))
    for g, name in enumerate(GENDERS):
        for position, (top, leaf) in enumerate(leaves):
            lean[g, position] = GENDER_LEAN[name].get(top, 1.0) * GENDER_LEAN[name].get(leaf, 1.0)
    used = np.bincount(item_leaf, minlength=n_leaves) > 0
    leaf_probs = lean[gender] * used
    leaf_probs /= leaf_probs.sum(axis=1, keepdims=True)
    favourites = _sample_without_replacement(rng, leaf_probs, k=3)  # (N_u, 3)
    n_favourites = rng.integers(1, 4, size=config.n_users)
    fav_weight = rng.dirichlet(np.ones(3), size=config.n_users) * (np.arange(3) < n_favourites[:, None])
    fav_weight /= fav_weight.sum(axis=1, keepdims=True)
    user_latent = _unit(
        np.einsum("uk,ukd->ud", fav_weight, leaf_latent[favourites]) + 0.3 * rng.normal(size=(config.n_users, dim))
    )
    user_bias = rng.normal(0.0, 0.3, size=config.n_users)
    users = pd.DataFrame(
        {
            schemas.USER_ID: [f"u{u:07d}" for u in range(config.n_users)],
            "age_group": np.array(AGE_GROUPS)[rng.integers(0, len(AGE_GROUPS), size=config.n_users)],
            "gender": np.array(GENDERS)[gender],
            "region": np.array(REGIONS)[rng.integers(0, len(REGIONS), size=config.n_users)],
        }
    )

    # Impressions per user: heavy-tailed (log-normal) activity, at least one each.
    activity = rng.lognormal(0.0, config.user_activity_sigma, size=config.n_users)
    counts = 1 + rng.multinomial(config.n_interactions - config.n_users, activity / activity.sum())
    user = np.repeat(np.arange(config.n_users), counts)
    n = len(user)
    user_join = _arrival_times(rng, config.n_users, config.user_arrival_share, period)
    seconds = user_join[user] + rng.random(n) * (period - user_join[user])

    # Exposed item: from one of the user's favourite leaves, or from global popularity; an item
    # not yet released at the impression's time is drawn again the same way.
    from_interest = rng.random(n) < config.interest_exposure_share
    choice = (rng.random(n)[:, None] > np.cumsum(fav_weight[user], axis=1)[:, :2]).sum(axis=1)
    leaf = favourites[user, choice]
    item = np.empty(n, dtype=np.int64)
    pending = np.arange(n)
    for _ in range(MAX_REDRAWS):
        interest = from_interest[pending]
        item[pending[~interest]] = _draw_by_weight(rng, item_weight, int((~interest).sum()))
        item[pending[interest]] = _draw_within_group(rng, item_weight, item_leaf, leaf[pending[interest]], n_leaves)
        pending = pending[item_release[item[pending]] > seconds[pending]]
        if not len(pending):
            break
    # Still unreleased after every redraw (rare): the leaf's first item, there from day 0; item
    # index l is leaf l's first item by construction.
    item[pending] = item_leaf[item[pending]]

    logit = (
        config.base_click_logit
        + config.interest_affinity * np.einsum("nd,nd->n", user_latent[user], item_latent[item])
        + item_quality[item]
        + user_bias[user]
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    order = np.argsort(seconds, kind="stable")
    interactions = pd.DataFrame(
        {
            schemas.USER_ID: users[schemas.USER_ID].to_numpy()[user[order]],
            schemas.ITEM_ID: items[schemas.ITEM_ID].to_numpy()[item[order]],
            schemas.TS: START + pd.to_timedelta(np.round(seconds[order]).astype(np.int64), unit="s"),
            schemas.LABEL: label[order],
        }
    )
    interactions_table, ts_kind = normalize_interactions(interactions)
    return RawData(
        interactions=interactions_table,
        items=normalize_items(items),
        users=normalize_users(users),
        ts_kind=ts_kind,
        source=f"synth:seed={config.seed}",
    )


def _arrival_times(rng: np.random.Generator, n: int, arriving_share: float, period: float) -> np.ndarray:
    """Seconds into the period at which each of `n` entities appears: 0 for those there from
    the start, uniform over the period for the `arriving_share` that arrive later. (n,)"""
    arrives = rng.random(n) < arriving_share
    return np.where(arrives, rng.random(n) * period, 0.0)


def _sample_without_replacement(rng: np.random.Generator, probs: np.ndarray, k: int) -> np.ndarray:
    """k distinct columns per row, drawn by `probs` (Gumbel top-k). (R, C) -> (R, k)."""
    keys = np.log(np.maximum(probs, 1e-30)) + rng.gumbel(size=probs.shape)
    return np.argsort(-keys, axis=1)[:, :k]


def _draw_by_weight(rng: np.random.Generator, weight: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(weight)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(weight) - 1)


def _draw_within_group(
    rng: np.random.Generator, weight: np.ndarray, group: np.ndarray, wanted: np.ndarray, n_groups: int
) -> np.ndarray:
    """For each entry of `wanted` (a group id), an index drawn by `weight` among that group.

    Sort members by group; a draw inside group g is a point in g's slice of the cumulative
    weight, so all draws are one searchsorted.
    """
    members = np.argsort(group, kind="stable")
    cdf = np.cumsum(weight[members])
    group_total = np.bincount(group, weights=weight, minlength=n_groups)
    group_start = np.concatenate([[0.0], np.cumsum(group_total)[:-1]])
    target = group_start[wanted] + rng.random(len(wanted)) * group_total[wanted]
    position = np.minimum(np.searchsorted(cdf, target, side="right"), len(members) - 1)
    return members[position]


def _item_table(rng, leaves, brands, brand_tier, item_leaf, item_brand) -> pd.DataFrame:
    n_items = len(item_leaf)
    titles, descriptions, categories, prices = [], [], [], []
    size_pick = rng.integers(0, len(SIZES), size=n_items)
    noun_pick = rng.integers(0, 1_000, size=n_items)
    benefit_pick = rng.integers(0, 1_000, size=n_items)
    price_noise = rng.lognormal(0.0, 0.25, size=n_items)
    for i in range(n_items):
        top, leaf = leaves[item_leaf[i]]
        nouns, benefits, (low, high) = TAXONOMY[top][leaf]
        noun = nouns[noun_pick[i] % len(nouns)]
        benefit = benefits[benefit_pick[i] % len(benefits)]
        brand = brands[item_brand[i]]
        titles.append(f"{brand} {benefit.title()} {noun}, {SIZES[size_pick[i]]}")
        descriptions.append(
            f"A {benefit} {noun.lower()} by {brand}, part of our {leaf.lower()} range for everyday {top.lower()}."
        )
        categories.append(["Beauty", top, leaf])
        prices.append(
            round(float(np.clip((low + high) / 2 * brand_tier[item_brand[i]] * price_noise[i], low, high * 1.5)), 2)
        )
    return pd.DataFrame(
        {
            schemas.ITEM_ID: [f"i{i:06d}" for i in range(n_items)],
            schemas.TITLE: titles,
            schemas.DESCRIPTION: descriptions,
            schemas.CATEGORY: categories,
            schemas.BRAND: [brands[b] for b in item_brand],
            schemas.PRICE: prices,
        }
    )
