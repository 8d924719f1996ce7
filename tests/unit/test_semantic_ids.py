"""RQ-VAE arithmetic, training behaviour, assignment, calibration and metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aktrec.config import RQVAEConfig, RQVAELoopConfig
from aktrec.semantic_ids.assign import SemanticIndex, calibrate_prefix, cluster_ids
from aktrec.semantic_ids.metrics import codebook_usage, collision_rate, purity, tail_with_head_share
from aktrec.semantic_ids.model import RQVAE, ResidualQuantizer
from aktrec.semantic_ids.train import kmeans, reseed_dead_codes, train_rqvae


def test_residual_quantization_on_hand_made_vectors():
    quantizer = ResidualQuantizer(n_levels=2, codebook_size=2, dim=2)
    quantizer.codebooks.data = torch.tensor(
        [
            [[0.0, 0.0], [4.0, 0.0]],  # level 1
            [[1.0, 1.0], [-1.0, 0.0]],
        ]
    )  # level 2
    z = torch.tensor([[5.0, 1.0], [-1.2, 0.1]], requires_grad=True)
    out = quantizer(z)
    # [5, 1]: level 1 picks [4, 0] (r = [1, 1]), level 2 picks [1, 1] (r = 0)
    # [-1.2, 0.1]: level 1 picks [0, 0], level 2 picks [-1, 0]
    assert out.codes.tolist() == [[1, 0], [0, 1]]
    assert torch.allclose(out.quantized, torch.tensor([[5.0, 1.0], [-1.0, 0.0]]))
    # codebook loss: level 1 residuals [1,1] and [-1.2,0.1]; level 2 residuals 0 and [-0.2, 0.1]
    expected = ((2.0 + 1.45) + (0.0 + 0.05)) / 2
    assert abs(out.codebook_loss.item() - expected) < 1e-5
    assert abs(out.commitment_loss.item() - expected) < 1e-5
    out.quantized.sum().backward()  # straight-through: d quantized / d z = identity
    assert torch.allclose(z.grad, torch.ones_like(z))
    assert torch.allclose(quantizer.decode_codes(out.codes), out.quantized.detach())


def planted(
    n_per_cluster: int = 40, n_clusters: int = 6, dim: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, dim)) * 3
    labels = np.repeat(np.arange(n_clusters), n_per_cluster)
    return (centers[labels] + 0.3 * rng.normal(size=(len(labels), dim))).astype(np.float32), labels


SMALL = RQVAEConfig(
    latent_dim=8, hidden_dim=32, n_levels=2, codebook_size=8, loop=RQVAELoopConfig(epochs=15, batch_size=64)
)


def test_training_is_deterministic_and_recovers_planted_clusters():
    vectors, labels = planted()
    model_a, history = train_rqvae(vectors, SMALL)
    model_b, _ = train_rqvae(vectors, SMALL)
    codes_a = model_a.encode(torch.from_numpy(vectors)).numpy()
    assert np.array_equal(codes_a, model_b.encode(torch.from_numpy(vectors)).numpy())
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]
    assert purity(codes_a[:, 0], labels) > 0.9


def test_kmeans_finds_separated_centers():
    points = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    centroids = kmeans(points, 2, 10, torch.Generator().manual_seed(0))
    assert sorted(centroids[:, 0].round().tolist()) == [0.0, 10.0]
    assert kmeans(points[:1], 3, 2, torch.Generator().manual_seed(0)).shape == (3, 2)  # fewer points than k


def test_dead_codes_are_reseeded_onto_residuals():
    model = RQVAE(4, RQVAEConfig(latent_dim=2, hidden_dim=8, n_levels=2, codebook_size=3))
    before = model.quantizer.codebooks.detach().clone()
    usage = torch.ones(2, 3)
    usage[0, 2] = 0  # code 3 of level 1 was never chosen
    batch = torch.randn(16, 4)
    assert reseed_dead_codes(model, usage, batch, torch.Generator().manual_seed(0)) == 1
    after = model.quantizer.codebooks.detach()
    assert torch.equal(after[1], before[1]) and torch.equal(after[0, :2], before[0, :2])
    residuals = model.encoder(batch).detach()
    assert torch.cdist(after[0, 2:3], residuals).min() < 1e-5  # moved onto a residual


def test_cluster_ids_calibration_and_cold_start(tmp_path):
    codes = np.array([[1, 0], [1, 1], [1, 2], [2, 0], [2, 0], [2, 1]])
    assert cluster_ids(codes, 1, 4).tolist() == [1, 1, 1, 2, 2, 2]
    assert cluster_ids(codes, 2, 4).tolist() == [4, 5, 6, 8, 8, 9]
    assert calibrate_prefix(codes, 4, target_median=3) == 1
    assert calibrate_prefix(codes, 4, target_median=1) == 2
    vectors, _ = planted(n_per_cluster=10, n_clusters=3)
    model, _ = train_rqvae(vectors, SMALL)
    index = SemanticIndex(model, SMALL, prefix=2, known_clusters=np.array([1 * 8 + 3, 5 * 8 + 0]))
    # unseen prefix (1, 7) shares its first code with known cluster 1*8+3; (6, 0) shares nothing
    assert index.clusters(np.array([[1, 7], [5, 0], [6, 0]])).tolist() == [11, 40, 11]
    index.save(tmp_path, "item")
    loaded = SemanticIndex.load(tmp_path, "item")
    assert np.array_equal(loaded.codes(vectors), index.codes(vectors))
    assert loaded.prefix == 2 and loaded.known_clusters.tolist() == [11, 40]


def test_quality_metrics_on_hand_made_codes():
    codes = np.array([[0, 1], [0, 1], [1, 0], [2, 0]])
    assert collision_rate(codes) == 0.5
    usage = codebook_usage(codes, 4)
    assert usage[0]["utilisation"] == 0.75 and usage[1]["utilisation"] == 0.5
    assert abs(usage[1]["perplexity"] - 2.0) < 1e-9
    cluster = np.array([0, 0, 1, 1])
    assert purity(cluster, np.array(["a", "a", "a", "b"])) == 0.75
    # tails: entity 0 shares cluster 0 with head entity 1; entities 2 and 3 have no head
    assert tail_with_head_share(cluster, np.array([True, False, True, True])) == pytest.approx(1 / 3)


def test_rqvae_config_rejects_degenerate_codebooks():
    from aktrec.errors import AktrecError

    with pytest.raises(AktrecError):
        RQVAEConfig(codebook_size=1)
