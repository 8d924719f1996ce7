"""CTR model parts: losses against hand-computed values, stop-gradients, gates, switches."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from aktrec.config import CTR_VARIANTS, CtrModelConfig, CtrTrainConfig, TrainConfig
from aktrec.ctr.bundle import predict
from aktrec.ctr.diagnostics import embedding_transfer, gate_means
from aktrec.ctr.inputs import CONTENT_BLOCKS, NUMERIC_BLOCKS, UNKNOWN, CtrInputs, Vocabulary, _sequence_matrix, squash
from aktrec.ctr.losses import asymmetric_info_nce, barlow_twins, orthogonality
from aktrec.ctr.modules import (
    EMBEDDING_STD,
    ActivityGate,
    AdaptiveEmbedding,
    ModelShapes,
    TargetAttention,
    cosine_curriculum,
    principal_components,
)
from aktrec.ctr.train import drop_ids, fit
from aktrec.ctr.vocabularies import IdPriors, build_model
from aktrec.errors import AktrecError

CONTENT_NAMES = tuple(CONTENT_BLOCKS)
SHAPES = ModelShapes(
    n_users=9,
    n_items=13,
    n_user_clusters=4,
    n_item_clusters=5,
    user_content_dim=6,
    item_content_dim=7,
    sequence_length=4,
    n_user_attributes=3,
    n_item_attributes=6,
)


def priors(seed: int = 0) -> IdPriors:
    g = torch.Generator().manual_seed(seed)
    return IdPriors(
        user_cluster_of=torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(1, 4, (8,), generator=g)]),
        item_cluster_of=torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(1, 5, (12,), generator=g)]),
        user_is_tail=torch.tensor([True] + [i % 2 == 0 for i in range(8)]),
        item_is_tail=torch.tensor([True] + [i % 3 == 0 for i in range(12)]),
        user_cluster_init=torch.randn(4, 16, generator=g) * 0.1,
        item_cluster_init=torch.randn(5, 16, generator=g) * 0.1,
        user_cluster_attributes=torch.rand(4, 3, generator=g),
        item_cluster_attributes=torch.rand(5, 6, generator=g),
        item_vectors=torch.cat([torch.zeros(1, 7), F.normalize(torch.randn(12, 7, generator=g), dim=-1)]),
    )


def batch(n: int = 32, seed: int = 0, p: IdPriors | None = None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    p = p or priors()
    user = torch.randint(1, SHAPES.n_users, (n,), generator=g)
    item = torch.randint(1, SHAPES.n_items, (n,), generator=g)
    out = {
        "user": user,
        "item": item,
        "user_cluster": p.user_cluster_of[user],
        "item_cluster": p.item_cluster_of[item],
        "user_sequence": torch.randint(0, SHAPES.n_items, (n, 4), generator=g),
        "cluster_sequence": torch.randint(0, SHAPES.n_items, (n, 4), generator=g),
        "user_content": torch.randn(n, 6, generator=g),
        "item_content": torch.randn(n, 7, generator=g),
        "user_cluster_content": torch.randn(n, 6, generator=g),
        "item_cluster_content": torch.randn(n, 7, generator=g),
        "user_attributes": torch.randint(0, SHAPES.n_user_attributes, (n, 2), generator=g),
        "item_attributes": torch.randint(0, SHAPES.n_item_attributes, (n, 3), generator=g),
        "label": (torch.rand(n, generator=g) < 0.3).float(),
    }
    for name, columns in NUMERIC_BLOCKS.items():
        out[name] = torch.rand(n, len(columns), generator=g)
    return out


def test_asymmetric_info_nce_matches_hand_computation():
    head = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tail = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t = 0.5
    # InfoNCE(a, p) = mean_i -log softmax_j(a_i·p_j / t)[i] on unit vectors
    tn = tail / tail.norm(dim=1, keepdim=True)

    def nce(a, p):
        logits = (a @ p.T / t).numpy()
        return float(np.mean([-logits[i, i] + np.log(np.exp(logits[i]).sum()) for i in range(2)]))

    expected = 0.1 * nce(head, tn) + 0.7 * nce(tn, head)
    assert asymmetric_info_nce(head, tail, 0.1, 0.7, t).item() == pytest.approx(expected, rel=1e-5)


def test_stop_gradient_blocks_tail_to_head_and_head_to_tail():
    head = torch.randn(5, 4, requires_grad=True)
    tail = torch.randn(5, 4, requires_grad=True)
    # λ2's term (tail pulled to sg(head)) must not move head embeddings ...
    asymmetric_info_nce(head, tail, 0.0, 1.0, 0.2).backward()
    assert torch.count_nonzero(head.grad) == 0 and torch.count_nonzero(tail.grad) > 0
    head.grad, tail.grad = None, None
    # ... and λ1's term (head pulled to sg(tail)) must not move tail embeddings.
    asymmetric_info_nce(head, tail, 1.0, 0.0, 0.2).backward()
    assert torch.count_nonzero(tail.grad) == 0 and torch.count_nonzero(head.grad) > 0


def test_transfer_loss_moves_tail_embeddings_more_than_head_ones():
    config = CtrModelConfig(lambda_head=0.05, lambda_tail=0.5)
    p = priors()
    embedding = AdaptiveEmbedding(
        SHAPES.n_items, SHAPES.n_item_clusters, config, p.item_cluster_of, p.item_is_tail, p.item_cluster_init
    )
    torch.manual_seed(0)
    embedding.transfer_loss(torch.arange(1, SHAPES.n_items)).backward()
    grad = embedding.cluster.weight.grad.norm(dim=1)
    tail, head = p.item_is_tail.clone(), ~p.item_is_tail
    tail[0] = False
    assert grad[tail].sum() > 0
    assert grad[head].mean() < grad[tail].mean()


def test_orthogonality_and_barlow_twins_by_hand():
    c = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    d = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    assert orthogonality(c, d).item() == pytest.approx((0.0 + 0.5) / 2)
    a = torch.tensor([[1.0, 2.0], [3.0, 1.0], [2.0, 3.0]])
    assert barlow_twins(a, a, 0.0).item() == pytest.approx(
        (1 - 2 / 3) ** 2 * 2, rel=1e-3
    )  # std is unbiased: diag = (n-1)/n
    assert barlow_twins(a, a, 1.0).item() > barlow_twins(a, a, 0.0).item()


def test_gates_and_attention_shapes_and_ranges():
    gate = ActivityGate(9)
    r = gate(torch.randn(7, 9) * 10)
    assert r.shape == (7, 1) and bool(((r > 0) & (r < 1)).all())
    attention = TargetAttention(16, 8)
    keys = torch.randn(3, 4, 16)
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4])
    pooled = attention(torch.randn(3, 16), keys, mask)
    assert pooled.shape == (3, 16)
    assert torch.all(pooled[1] == 0)  # empty sequence pools to zeros
    changed = keys.clone()
    changed[0, 2:] = 100.0  # padding does not leak into the result
    assert torch.allclose(attention(torch.zeros(3, 16), changed, mask)[0], attention(torch.zeros(3, 16), keys, mask)[0])
    assert (
        cosine_curriculum(0.0) == 0.0
        and cosine_curriculum(1.0) == pytest.approx(1.0)
        and cosine_curriculum(0.5) == pytest.approx(0.5)
    )


def test_unknown_ids_read_their_cluster_centroid():
    p = priors()
    model = build_model(CtrModelConfig(), SHAPES, p)
    ids = torch.tensor([UNKNOWN, UNKNOWN])
    clusters = torch.tensor([2, 3])
    fused = model.items(ids, clusters, torch.rand(2, len(NUMERIC_BLOCKS["item_activity"])))
    members = p.item_cluster_of[1:] == 2
    expected = model.items.cluster.weight[1:][members].mean(0)
    assert torch.allclose(fused[0], expected, atol=1e-6)
    assert fused.shape == (2, 16)


def test_learned_cluster_average_is_the_head_members_mean_under_a_stop_gradient():
    p = priors()
    p.item_cluster_of[p.item_cluster_of == 4] = 3  # cluster 4 has no member, cluster 3 no head member
    p.item_is_tail[p.item_cluster_of == 3] = True
    model = build_model(CtrModelConfig(learned_cluster_average=True), SHAPES, p)
    centroids = model.items.head_centroids()
    weight = model.items.individual.weight
    for cluster in range(1, SHAPES.n_item_clusters):
        members = torch.nonzero(p.item_cluster_of[1:] == cluster).squeeze(1) + 1
        head = members[~p.item_is_tail[members]]
        expected = weight[head if len(head) else members].mean(0) if len(members) else torch.zeros(16)
        torch.testing.assert_close(centroids[cluster], expected)
    assert not centroids.requires_grad
    without = build_model(CtrModelConfig(), SHAPES, p)
    assert model.cluster[0].in_features == without.cluster[0].in_features + 3 * 16


@pytest.mark.parametrize("variant", sorted(CTR_VARIANTS))
def test_every_variant_is_a_switch_of_one_model_and_trains(variant):
    config = TrainConfig(variants=tuple(CTR_VARIANTS), deploy="aktrec").variant(variant)
    torch.manual_seed(0)
    model = build_model(config, SHAPES, priors())
    b = batch()
    logits = model(b)
    assert logits.shape == (32,) and torch.isfinite(logits).all()
    aux = model.auxiliary_loss(b)
    assert torch.isfinite(aux)
    parameters = {name for name, _ in model.named_parameters()}
    assert ("users.cluster.weight" in parameters) == config.cluster_embedding
    assert ("users.individual.weight" in parameters) == config.individual_embedding
    assert ("cluster.0.weight" in parameters) == config.cluster_level
    assert ("instance.0.weight" in parameters) == config.instance_level
    assert ("level_gate.net.0.weight" in parameters) == config.hfa_gate
    assert ("fusion.item.gate.weight" in parameters) == config.content_fusion
    assert ("tower.personal.0.weight" in parameters) == config.activity_gated_tower


def test_faerec_fuses_every_item_it_reads_starts_from_content_and_aligns_by_popularity_group():
    config = TrainConfig(variants=("strong_base", "faerec"), deploy="faerec").variant("faerec")
    p = priors()
    torch.manual_seed(0)
    model = build_model(config, SHAPES, p)
    # Item ID embeddings start from the content's principal components (the unknown row stays zero).
    expected = principal_components(p.item_vectors[1:].double().numpy(), config.embedding_dim)
    assert torch.allclose(model.items.individual.weight[1:], torch.from_numpy(expected).float())
    assert float(model.items.individual.weight[1:].detach().std(correction=0)) == pytest.approx(2 * EMBEDDING_STD)
    assert not model.items.individual.weight[UNKNOWN].any()
    # The history's clicks are fused with their content; padding stays zero.
    sequence = torch.tensor([[0, 3, 5, 3]])
    keys = model._sequence_embeddings(sequence)
    assert not keys[0, 0].any() and torch.equal(keys[0, 1], keys[0, 3])
    fused = model.fusion["item"](model.items.individual.weight[3:4], model.item_vectors[3:4])
    assert torch.allclose(keys[0, 1], fused[0])
    unfused = dataclasses.replace(model.config, fusion_history=False)
    model.config = unfused
    assert torch.equal(model._sequence_embeddings(sequence), model.items.sequence(sequence))
    model.config = dataclasses.replace(unfused, fusion_history=True)
    # A new item's candidate embedding reads its content.
    rows = batch(2)
    rows["item"] = torch.tensor([UNKNOWN, UNKNOWN])
    rows["item_content"] = torch.stack([p.item_vectors[3], p.item_vectors[5]])
    _, items = model.embeddings(rows)
    assert not torch.allclose(items[0], items[1])
    # The feature-level alignment is scheduled by the curriculum and computed per popularity group.
    fusion, ids, content = model.fusion["item"], torch.randn(6, 16), torch.randn(6, 7)
    is_tail = torch.tensor([True, False, True, False, True, False])
    with torch.no_grad():
        item_level = fusion.alignment_loss(ids, content, is_tail, 0.0)
        projected = fusion.project(content)
        by_group = (
            barlow_twins(ids[~is_tail], projected[~is_tail], config.fusion_barlow_off_diagonal)
            + barlow_twins(ids[is_tail], projected[is_tail], config.fusion_barlow_off_diagonal)
        ) / 2
        scheduled = fusion.alignment_loss(ids, content, is_tail, 0.5) - item_level
    assert float(scheduled) == pytest.approx(0.5 * config.fusion_barlow_weight * float(by_group), rel=1e-5)


def test_head_instance_only_keeps_the_cluster_level_off_head_samples():
    config = TrainConfig(variants=tuple(CTR_VARIANTS), deploy="aktrec").variant("aktrec_head_instance_only")
    p = priors()
    torch.manual_seed(0)
    model = build_model(config, SHAPES, p)
    rows = batch(64, p=p)
    head = ~(p.user_is_tail[rows["user"]] | p.item_is_tail[rows["item"]])
    assert head.any() and (~head).any()
    alpha = model.level_mixing(rows).squeeze(1)
    gate = model.level_gate(
        torch.cat([rows["user_activity"], rows["item_activity"], rows["cross_user_item_cluster"]], dim=-1)
    ).squeeze(1)
    assert not alpha[head].any() and torch.equal(alpha[~head], gate[~head])
    before = model(rows)
    with torch.no_grad():
        model.cluster[0].weight.add_(1.0)  # the cluster level changes: head samples' scores do not
    after = model(rows)
    assert torch.equal(before[head], after[head]) and not torch.allclose(before[~head], after[~head])


def test_mmoe_ranker_and_config_errors():
    model = build_model(CtrModelConfig(ranker="mmoe", n_experts=3), SHAPES, priors())
    assert len(model.tower.experts) == 3 and model(batch()).shape == (32,)
    with pytest.raises(AktrecError, match="lambda_head"):
        CtrModelConfig(lambda_head=1.0, lambda_tail=0.1)
    with pytest.raises(AktrecError, match="at least one of instance_level"):
        CtrModelConfig(instance_level=False, cluster_level=False)
    with pytest.raises(AktrecError, match="unknown variant 'nope'"):
        TrainConfig(variants=("base", "nope"))
    with pytest.raises(AktrecError, match="promotion.compare_with"):
        TrainConfig(variants=("aktrec",))
    with pytest.raises(AktrecError, match="dropout must be in"):
        CtrModelConfig(dropout=1.0)


def test_tower_dropout_acts_while_training_only():
    torch.manual_seed(0)
    plain = build_model(CtrModelConfig(), SHAPES, priors())
    torch.manual_seed(0)
    dropped = build_model(CtrModelConfig(dropout=0.5), SHAPES, priors())
    b = batch()
    dropped.train()
    assert not torch.equal(dropped(b), dropped(b))  # a new mask each pass
    plain.eval()
    dropped.eval()
    torch.testing.assert_close(dropped(b), plain(b))  # same weights, no dropout at inference


def test_sequence_matrix_keeps_the_newest_items_right_aligned():
    vocab = Vocabulary(pd.Index(["a", "b", "c"]))
    column = pd.Series([["a", "b", "c", "a"], [], ["zz", "b"], None], dtype=object)
    out = _sequence_matrix(column, vocab, 3)
    assert out.tolist() == [[2, 3, 1], [0, 0, 0], [0, 0, 2], [0, 0, 0]]
    assert squash(np.array([0.0, math.e - 1, -(math.e - 1)])).tolist() == pytest.approx([0.0, 1.0, -1.0])


class _Inputs:
    """Minimal CtrInputs stand-in over a fixed batch (fit only needs batch() and label)."""

    def __init__(self, data: dict[str, torch.Tensor]):
        self.data = data
        self.label = data["label"].numpy()

    def __len__(self):
        return len(self.label)

    def batch(self, index):
        index = torch.as_tensor(np.asarray(index))
        return {k: v[index] for k, v in self.data.items()}


def test_fit_learns_a_planted_signal_and_keeps_the_best_epoch():
    data = batch(512, seed=1)
    data["label"] = (data["item_activity"][:, 2] > 0.5).float()  # clicks follow the item's ctr feature
    valid = batch(256, seed=2)
    valid["label"] = (valid["item_activity"][:, 2] > 0.5).float()
    torch.manual_seed(0)
    model = build_model(CtrModelConfig(), SHAPES, priors())
    history = fit(
        model,
        _Inputs(data),
        _Inputs(valid),
        CtrTrainConfig(epochs=8, batch_size=64, learning_rate=1e-2, patience=8, early_stopping="auc"),
    )
    assert history["valid_auc"] > 0.9
    assert history["valid_auc"] == max(h["valid_auc"] for h in history["history"])
    scores = predict(model, _Inputs(valid))
    assert scores.shape == (256,) and ((scores > 0) & (scores < 1)).all()


def test_fit_stops_on_validation_gauc_when_asked_and_records_both(caplog):
    data = batch(256, seed=1)
    data["label"] = (data["item_activity"][:, 2] > 0.5).float()
    valid = batch(256, seed=2)
    valid["label"] = (valid["item_activity"][:, 2] > 0.5).float()
    users = np.repeat(np.arange(32), 8)
    config = CtrTrainConfig(epochs=4, batch_size=64, learning_rate=1e-2, patience=4, early_stopping="gauc")

    def train(**kwargs):
        torch.manual_seed(0)
        model = build_model(CtrModelConfig(), SHAPES, priors())
        return fit(model, _Inputs(data), _Inputs(valid), config, **kwargs)

    history = train(valid_users=users)
    epochs = history["history"]
    assert history["early_stopping"] == "gauc" and all("valid_gauc" in h and "valid_auc" in h for h in epochs)
    best = max(epochs, key=lambda h: h["valid_gauc"])
    assert history["best_epoch"] == best["epoch"] and history["valid_gauc"] == best["valid_gauc"]
    with pytest.raises(AktrecError, match="needs the user of every validation sample"):
        train()
    # Fewer than MIN_GAUC_USERS users with both labels: GAUC is not read, AUC is, and the log says so.
    few_users = np.where(np.arange(256) < 64, np.arange(256) // 8, 1000 + np.arange(256))
    history = train(valid_users=few_users)
    assert history["early_stopping"] == "auc"
    assert history["best_epoch"] == max(history["history"], key=lambda h: h["valid_auc"])["epoch"]
    assert "early stopping on validation AUC: GAUC needs 30 validation users with both labels" in caplog.text


def test_id_dropout_reads_a_share_of_ids_as_unknown_and_nothing_else():
    rows = batch(4000, seed=3)
    assert drop_ids(rows, 0.0, torch.Generator().manual_seed(0)) is rows
    dropped = drop_ids(rows, 0.25, torch.Generator().manual_seed(0))
    again = drop_ids(rows, 0.25, torch.Generator().manual_seed(0))
    for key in ("user", "item"):
        unknown = dropped[key] == UNKNOWN
        assert abs(float(unknown.float().mean()) - 0.25) < 0.03  # the ids of `batch` are all known
        assert torch.equal(dropped[key][~unknown], rows[key][~unknown]) and torch.equal(dropped[key], again[key])
    assert not torch.equal(dropped["user"] == UNKNOWN, dropped["item"] == UNKNOWN)  # drawn independently
    assert all(dropped[key] is rows[key] for key in rows if key not in ("user", "item"))
    with pytest.raises(AktrecError, match="id_dropout must be in"):
        CtrTrainConfig(id_dropout=1.0)
    with pytest.raises(AktrecError, match="or a non-empty list"):
        CtrTrainConfig(id_dropout=())
    assert CtrTrainConfig(id_dropout=(0.0, 0.3)).id_dropout_grid() == (0.0, 0.3)
    assert CtrTrainConfig(id_dropout=0.3).id_dropout_grid() == (0.3,)
    # A grid is the train step's to resolve (one network per share); the loop trains at one.
    model = build_model(CtrModelConfig(), SHAPES, priors())
    with pytest.raises(AktrecError, match="fit trains at one id_dropout share, got the grid"):
        fit(model, _Inputs(rows), _Inputs(rows), CtrTrainConfig(id_dropout=(0.0, 0.3)))


def test_transfer_diagnostic_by_hand_and_after_transfer_steps():
    config = CtrModelConfig(embedding_dim=2, lambda_head=0.0, lambda_tail=1.0, transfer_temperature=0.1)
    # id 1 heads cluster 1, id 2 cluster 2; tail ids 3 (cluster 1) and 4 (cluster 2) point to the
    # other cluster's head; tail id 5's cluster 3 has no head id
    embedding = AdaptiveEmbedding(
        6,
        4,
        config,
        torch.tensor([0, 1, 2, 1, 2, 3]),
        torch.tensor([True, False, False, True, True, True]),
        torch.zeros(4, 2),
    )
    with torch.no_grad():
        embedding.cluster.weight.copy_(torch.tensor([[0, 0], [1, 0], [0, 1], [0.2, 1], [1, 0.2], [3, 4]]))
    found = embedding_transfer(embedding)
    assert found["tail_ids"] == 3 and found["tail_ids_with_head_in_cluster"] == 2
    assert found["tail_to_cluster_head_cosine"] == pytest.approx(0.2 / math.sqrt(1.04))
    assert found["head_cluster_norm"] == pytest.approx(1.0)
    assert found["tail_cluster_norm"] == pytest.approx((2 * math.sqrt(1.04) + 5) / 3)
    # λ2's steps pull the tail ids toward their cluster's head ids: the diagnostic must rise.
    optimizer = torch.optim.SGD(embedding.parameters(), lr=0.5)
    for _ in range(20):
        optimizer.zero_grad()
        embedding.transfer_loss(torch.arange(1, 6)).backward()
        optimizer.step()
    assert embedding_transfer(embedding)["tail_to_cluster_head_cosine"] > 0.9
    no_cluster = AdaptiveEmbedding(
        6, 3, CtrModelConfig(cluster_embedding=False, cgae_gate=False), torch.zeros(6).long(), torch.ones(6).bool()
    )
    assert embedding_transfer(no_cluster) is None


def test_gate_means_split_head_and_tail_samples():
    model = build_model(CtrModelConfig(), SHAPES, priors())
    rows = batch(40)
    inputs = CtrInputs(
        ids={name: rows[name].numpy() for name in ("user", "item", "user_cluster", "item_cluster")},
        numeric={name: rows[name].numpy() for name in NUMERIC_BLOCKS},
        sequences={
            name: rows[name].numpy()
            for name in ("user_sequence", "cluster_sequence", "user_attributes", "item_attributes")
        },
        tables={name: rows[name].numpy() for name in CONTENT_NAMES},
        rows={name: np.arange(40) for name in CONTENT_NAMES},
        label=rows["label"].numpy(),
    )
    is_tail = np.arange(40) % 4 == 0
    means = gate_means(model, inputs, is_tail, batch_size=16)
    gates = model.gates(rows)
    for name, values in gates.items():
        assert means[name]["head"] == pytest.approx(float(values[~torch.from_numpy(is_tail)].mean()), rel=1e-5)
        assert means[name]["tail"] == pytest.approx(float(values[torch.from_numpy(is_tail)].mean()), rel=1e-5)
    assert gate_means(model, inputs, np.zeros(40, bool))["cluster_level_share"]["tail"] is None


def test_same_cluster_pairs_are_no_negatives_of_each_other():
    head = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=-1)
    tail = F.normalize(torch.tensor([[1.0, 0.2], [0.8, 0.0], [0.1, 1.0]]), dim=-1)
    clusters = torch.tensor([4, 4, 7])
    t = 0.2
    logits = (tail @ head.T / t).numpy()
    # pairs 0 and 1 share cluster 4: each row's softmax leaves the other out
    kept = [[0, 2], [1, 2], [0, 1, 2]]
    expected = np.mean([-logits[i, i] + np.log(np.exp(logits[i, kept[i]]).sum()) for i in range(3)])
    assert asymmetric_info_nce(head, tail, 0.0, 1.0, t, clusters).item() == pytest.approx(expected, rel=1e-5)
    assert (
        asymmetric_info_nce(head, tail, 0.0, 1.0, t).item()
        > asymmetric_info_nce(head, tail, 0.0, 1.0, t, clusters).item()
    )


def test_content_affinity_reads_the_visible_clicks_only():
    from aktrec.ctr.modules import content_affinity

    vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # item 3 has no representation
    sequence = torch.tensor([[0, 1, 2], [0, 0, 1], [0, 0, 0], [0, 3, 3]])  # 0 = padding
    candidate = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [1.0, 0.0]])
    mean, nearest, clicks = content_affinity(vectors, sequence, candidate).T
    torch.testing.assert_close(mean, torch.tensor([2**-0.5, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(nearest, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(clicks, torch.log1p(torch.tensor([2.0, 1.0, 0.0, 0.0])))


def test_content_history_attends_over_the_clicks_representations():
    """With `content_history` the DIN keys carry each click's representation: changing a clicked
    item's vector moves the scores of the rows that clicked it, and of no other row."""
    config = CtrModelConfig(**{**CTR_VARIANTS["strong_base"], "content_affinity": False, "content_history": True})
    data = batch(64, seed=3)
    clicked = data["user_sequence"] == 5
    torch.manual_seed(0)
    model = build_model(config, SHAPES, priors()).eval()
    with torch.no_grad():
        before = model(data)
        model.item_vectors[5] = -model.item_vectors[5]
        after = model(data)
    moved = ~torch.isclose(before, after)
    assert moved.any() and torch.equal(moved, clicked.any(dim=1))
    without = build_model(dataclasses.replace(config, content_history=False), SHAPES, priors())
    assert not hasattr(without, "item_vectors") and not hasattr(without, "history_content")
