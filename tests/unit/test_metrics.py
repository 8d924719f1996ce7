import math

import numpy as np
import pandas as pd

from aktrec.config import PromotionConfig
from aktrec.ctr.gate import promotion_gate
from aktrec.metrics import auc, gauc, logloss, slice_metrics


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


def test_slices_report_their_gauc_support_and_hide_a_gauc_of_too_few_users():
    rng = np.random.default_rng(0)
    n_users = 40
    users = np.repeat([f"u{i}" for i in range(n_users)], 4)
    labels = np.tile([1, 0, 0, 0], n_users)
    tail = np.repeat(np.arange(n_users) < 10, 4)  # 10 tail users: too few for a GAUC
    samples = pd.DataFrame({"user_id": users, "label": labels, "is_tail_sample": tail})
    metrics = slice_metrics(samples, rng.random(len(users)))
    assert metrics["total"]["n_users"] == 40 and metrics["head"]["n_users"] == 30 and metrics["tail"]["n_users"] == 10
    assert not math.isnan(metrics["head"]["gauc"]) and math.isnan(metrics["tail"]["gauc"])
    assert metrics["tail"]["n"] == 40 and not math.isnan(metrics["tail"]["auc"])


def test_the_promotion_gate_reads_validation_never_test(tmp_path):
    def slices(total: float, head: float, tail: float) -> dict:
        return {name: {"auc": value} for name, value in (("total", total), ("head", head), ("tail", tail))}

    good, bad = slices(0.7, 0.7, 0.7), slices(0.4, 0.4, 0.4)
    config = PromotionConfig(min_total_auc=0.6, min_tail_auc=0.6)
    passes_on_validation = {
        "validation": {"aktrec": good, "strong_base": good},
        "models": {"aktrec": bad, "strong_base": good},
    }
    fails_on_validation = {
        "validation": {"aktrec": bad, "strong_base": good},
        "models": {"aktrec": good, "strong_base": good},
    }
    assert promotion_gate(passes_on_validation, "aktrec", config, tmp_path / "a")["promote"] is True
    refused = promotion_gate(fails_on_validation, "aktrec", config, tmp_path / "b")
    assert refused["promote"] is False and "total_auc" in refused["failure"]


def test_the_comparison_table_shows_a_gauc_of_too_few_users_as_a_dash():
    from aktrec.ctr.stage import comparison_markdown

    slices = {
        name: {"auc": 0.6, "gauc": None if name == "tail" else 0.61, "logloss": 0.5, "n": 10, "n_users": users}
        for name, users in (("total", 40), ("head", 31), ("tail", 9))
    }
    table = comparison_markdown({"aktrec": slices})
    assert "| aktrec | 0.6000 | 0.6100 | 0.6000 | 0.6100 | 0.6000 | – | 0.5000 |" in table
    assert "tail 9" in table


def test_a_slice_with_too_few_validation_samples_is_not_enough_data_and_a_setting_blocks_on_it(tmp_path):
    from aktrec.ctr.gate import gate_verdict

    def slices(tail_n: int, tail_auc: float | None) -> dict:
        return {
            "total": {"auc": 0.7, "n": 1000},
            "head": {"auc": 0.7, "n": 1000 - tail_n},
            "tail": {"auc": tail_auc, "n": tail_n},
        }

    thin = {"validation": {"aktrec": slices(12, 0.2), "strong_base": slices(12, 0.6)}}
    gate = promotion_gate(thin, "aktrec", PromotionConfig(), tmp_path / "a")
    assert gate["promote"] is True and gate["failure"] is None  # the tail's 0.2 on 12 samples is not read
    assert gate["not_enough_data"] == {"tail": "12 validation samples (< 100)"}
    assert "not enough data: tail slice (12 validation samples (< 100)), not checked" in gate_verdict(gate)

    blocked = promotion_gate(thin, "aktrec", PromotionConfig(block_on_insufficient_data=True), tmp_path / "b")
    assert blocked["promote"] is False and "tail_has_enough_data" in blocked["failure"]
    assert gate_verdict(blocked).endswith("promotion blocked")

    one_label = {"validation": {"aktrec": slices(500, None), "strong_base": slices(500, None)}}
    assert promotion_gate(one_label, "aktrec", PromotionConfig(), tmp_path / "c")["not_enough_data"] == {
        "tail": "500 validation samples with one label only"
    }
    enough = {"validation": {"aktrec": slices(500, 0.3), "strong_base": slices(500, 0.6)}}
    refused = promotion_gate(enough, "aktrec", PromotionConfig(), tmp_path / "d")
    assert refused["promote"] is False and "'tail_auc'" in refused["failure"] and not refused["not_enough_data"]


def _validation(**totals):
    """Validation metrics whose only read part is each model's total slice: name=(auc, gauc)."""
    return {name: {"total": {"auc": auc_value, "gauc": gauc_value}} for name, (auc_value, gauc_value) in totals.items()}


def test_the_champion_is_the_best_trained_candidate_on_validation_gauc():
    from aktrec.config import TrainConfig
    from aktrec.ctr.gate import rank_candidates

    config = TrainConfig(variants=("base", "strong_base", "aktrec"))
    ranked, scores, metric = rank_candidates(
        _validation(aktrec=(0.70, 0.61), strong_base=(0.69, 0.63), base=(0.9, 0.9)), config
    )
    assert ranked == ["strong_base", "aktrec"] and metric == "gauc"  # base is no candidate
    assert scores == {"aktrec": 0.61, "strong_base": 0.63}
    assert (
        "strong_base"
        not in TrainConfig(
            variants=("base", "aktrec"), promotion=PromotionConfig(compare_with="base")
        ).trained_candidates()
    )
    # A candidate without GAUC (too few users with both labels): every candidate is read by AUC.
    ranked, _, metric = rank_candidates(_validation(aktrec=(0.70, None), strong_base=(0.69, 0.63)), config)
    assert ranked[0] == "aktrec" and metric == "auc"
    # The FAERec peer is a default candidate where it is trained.
    with_faerec = TrainConfig(variants=("strong_base", "aktrec", "faerec"))
    assert with_faerec.trained_candidates() == ["aktrec", "faerec", "strong_base"]
    validation = _validation(aktrec=(0.7, 0.6), strong_base=(0.7, 0.6), faerec=(0.7, 0.62))
    assert rank_candidates(validation, with_faerec)[0][0] == "faerec"
    # Ties go to the earlier candidate.
    assert rank_candidates(_validation(aktrec=(0.7, 0.6), strong_base=(0.7, 0.6)), config)[0] == [
        "aktrec",
        "strong_base",
    ]


def test_a_champion_that_fails_the_gate_leaves_its_place_to_the_best_candidate_that_passes(tmp_path):
    from aktrec.config import TrainConfig
    from aktrec.ctr.gate import choose_deployed

    def model(gauc: float, head_auc: float, tail_auc: float = 0.7) -> dict:
        return {
            "total": {"auc": 0.7, "gauc": gauc, "n": 1000},
            "head": {"auc": head_auc, "n": 600},
            "tail": {"auc": tail_auc, "n": 400},
        }

    config = TrainConfig(variants=("strong_base", "aktrec", "aktrec_no_cluster_emb"))
    # AKT-Rec scores best but costs the head 0.02 (the gate allows 0.005), its ablation 0.01.
    costly = {
        "aktrec": model(0.68, 0.70),
        "aktrec_no_cluster_emb": model(0.675, 0.71),
        "strong_base": model(0.67, 0.72),
    }
    chosen, champion, gate = choose_deployed({"validation": costly}, config, tmp_path / "a")
    assert chosen == "strong_base" and gate["promote"] is True and gate["model"] == "strong_base"
    assert list(champion["failed_gate"]) == ["aktrec", "aktrec_no_cluster_emb"]
    assert "'head_auc_change'" in champion["failed_gate"]["aktrec"]
    assert champion["why"].endswith(
        "that passes the promotion gate (aktrec and aktrec_no_cluster_emb scored higher and failed it)"
    )
    assert (tmp_path / "a" / "strong_base").is_dir()  # the deployed gate's Data Docs
    # Where the best passes, it is deployed and nothing else is tried.
    chosen, champion, gate = choose_deployed(
        {"validation": {**costly, "aktrec": model(0.68, 0.72)}}, config, tmp_path / "b"
    )
    assert chosen == "aktrec" and gate["promote"] and champion["failed_gate"] == {}
    assert [path.name for path in (tmp_path / "b").iterdir()] == ["aktrec"]
    # Where none passes (the compared model fails an absolute minimum too), the best is refused.
    low_tail = {name: model(value["total"]["gauc"], 0.72, tail_auc=0.4) for name, value in costly.items()}
    chosen, champion, gate = choose_deployed({"validation": low_tail}, config, tmp_path / "c")
    assert chosen == "aktrec" and gate["promote"] is False and "'tail_auc'" in gate["failure"]
    assert champion["why"].endswith("none of them passes the promotion gate")
    # A fixed deploy is no champion, and its gate decides alone.
    chosen, champion, gate = choose_deployed({"validation": costly}, TrainConfig(deploy="aktrec"), tmp_path / "d")
    assert (chosen, champion, gate["promote"]) == ("aktrec", None, False)


def test_a_champion_needs_a_trained_candidate():
    import pytest

    from aktrec.config import TrainConfig
    from aktrec.errors import AktrecError

    with pytest.raises(AktrecError, match="none of them is among variants"):
        TrainConfig(variants=("base", "strong_base"), candidates=("aktrec",))


def test_an_unmeasured_gauc_is_nan_before_the_metrics_are_written():
    from aktrec.config import TrainConfig
    from aktrec.ctr.gate import rank_candidates

    validation = _validation(aktrec=(0.5, math.nan), strong_base=(0.65, math.nan))
    ranked, scores, metric = rank_candidates(validation, TrainConfig())
    assert ranked[0] == "strong_base" and metric == "auc" and not any(math.isnan(value) for value in scores.values())
