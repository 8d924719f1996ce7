import math

import numpy as np

from aktrec.ctr.metrics import auc, gauc, logloss


def test_auc_matches_pair_counting_with_ties():
    labels = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.9, 0.3, 0.1, 0.5])
    # positive pairs: (0.9 vs 0.9: tie 0.5, 0.1: 1, 0.5: 1) + (0.3 vs 0.9: 0, 0.1: 1, 0.5: 0) = 3.5 of 6
    assert math.isclose(auc(labels, scores), 3.5 / 6)
    assert math.isnan(auc(np.ones(3), np.arange(3)))


def test_gauc_weights_users_by_samples_and_skips_one_class_users():
    users = np.array(["a", "a", "a", "a", "b", "b", "c"])
    labels = np.array([1, 0, 0, 1, 1, 0, 1])
    scores = np.array([0.9, 0.1, 0.5, 0.2, 0.1, 0.9, 0.5])
    # a: positives 0.9, 0.2 vs negatives 0.1, 0.5 -> 3 of 4 pairs; b: 0 of 1; c skipped.
    assert math.isclose(gauc(users, labels, scores), (4 * 0.75 + 2 * 0.0) / 6)


def test_logloss():
    assert math.isclose(logloss([1, 0], [0.8, 0.2]), -math.log(0.8))
