"""AKT-Rec network: CGAE embeddings, HFA aggregation, ranking tower (docs/design.md §1.4–1.6).

Modules compute; the loop lives in `train.py`. Batch tensors are the dict of
`CtrInputs.batch`; B = batch size, L = sequence length, d = embedding_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aktrec.config import CtrModelConfig
from aktrec.ctr.inputs import NUMERIC_BLOCKS, UNKNOWN
from aktrec.ctr.losses import asymmetric_info_nce, barlow_twins, orthogonality
from aktrec.embed.losses import info_nce

EMBEDDING_STD = 0.05


def width(*blocks: str) -> int:
    """Columns of numeric blocks of `ctr.inputs`: the model's input widths follow the feature
    declarations (`features.statistics`, `features.names`), never a count written here."""
    return sum(len(NUMERIC_BLOCKS[block]) for block in blocks)


@dataclass(frozen=True)
class ModelShapes:
    """Sizes fixed by the data a model is trained on (vocabularies with index 0 = unknown)."""

    n_users: int
    n_items: int
    n_user_clusters: int
    n_item_clusters: int
    user_content_dim: int
    item_content_dim: int
    sequence_length: int
    n_user_attributes: int = 1  # attribute-token vocabularies (index 0 = padding / unknown)
    n_item_attributes: int = 1


@dataclass
class IdPriors:
    """What the model knows of each vocabulary id before training: its cluster, whether it is a
    tail id, and each cluster's content-derived initial embedding (C, d)."""

    user_cluster_of: torch.Tensor
    item_cluster_of: torch.Tensor
    user_is_tail: torch.Tensor
    item_is_tail: torch.Tensor
    user_cluster_init: torch.Tensor
    item_cluster_init: torch.Tensor
    # (C, V): each cluster's mean over its members of their attribute-token shares (eq. 9 for
    # u_attr / i_attr); None when a bundle's model has no attributes.
    user_cluster_attributes: torch.Tensor | None = None
    item_cluster_attributes: torch.Tensor | None = None
    # (V, D): each item id's representation, unit length (row 0, unknown: zeros), for the
    # content affinity; None when a model does not read it.
    item_vectors: torch.Tensor | None = None


def principal_components(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(N, D) rows -> (N, dim): centered and projected on their `dim` leading principal
    directions (zero-padded where there are fewer), scaled to a standard deviation of
    2·EMBEDDING_STD: content-derived initial embeddings on the learned ones' scale."""
    centered = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    reduced = centered @ components[:dim].T
    if reduced.shape[1] < dim:  # fewer rows or content dimensions than dim
        reduced = np.pad(reduced, ((0, 0), (0, dim - reduced.shape[1])))
    return reduced * (2 * EMBEDDING_STD / max(float(reduced.std()), 1e-8))


class ActivityGate(nn.Module):
    """G1 / G2: activity features (B, k) -> a weight in (0, 1) per row, (B, 1)."""

    def __init__(self, n_inputs: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, activity: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(activity))


class TargetAttention(nn.Module):
    """DIN attention: the candidate (B, d) weighs the sequence (B, L, d); padding (mask False)
    gets no weight and an empty sequence pools to zeros. Returns (B, d)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        logits = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
        logits = logits.masked_fill(~mask, -1e9)
        weights = torch.softmax(logits, dim=-1) * mask.any(dim=-1, keepdim=True)
        return torch.einsum("bl,bld->bd", weights, keys)


class AdaptiveEmbedding(nn.Module):
    """CGAE for one entity kind (eq. 4–6): per id a cluster embedding c and an individual
    embedding d, fused as e = r·c + (1−r)·d with r = G1(activity).

    Unknown ids (index 0) read the centroid of their cluster's c (a cluster without trained
    members: its content-derived initial vector), so a new id is served from cluster knowledge.
    `cluster_of`: (V,) cluster index per id; `is_tail`: (V,) bool; `cluster_init`: (C, d) or None;
    `activity`: the numeric block G1 reads.
    """

    def __init__(
        self,
        n_ids: int,
        n_clusters: int,
        config: CtrModelConfig,
        cluster_of: torch.Tensor,
        is_tail: torch.Tensor,
        cluster_init: torch.Tensor | None = None,
        activity: str = "user_activity",
    ) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.config = config
        self.register_buffer("cluster_of", cluster_of.long())
        self.register_buffer("is_tail", is_tail.bool())
        init = (
            cluster_init
            if cluster_init is not None and config.init_cluster_from_content
            else torch.zeros(n_clusters, dim)
        )
        self.register_buffer("cluster_init", init.float())
        self.individual = nn.Embedding(n_ids, dim, padding_idx=UNKNOWN) if config.individual_embedding else None
        self.cluster = nn.Embedding(n_ids, dim) if config.cluster_embedding else None
        self.gate = ActivityGate(width(activity)) if config.cgae_gate else None
        if self.individual is not None:
            nn.init.normal_(self.individual.weight, std=EMBEDDING_STD)
            with torch.no_grad():
                self.individual.weight[UNKNOWN].zero_()
        if self.cluster is not None:
            with torch.no_grad():
                self.cluster.weight.copy_(self.cluster_init[self.cluster_of] + EMBEDDING_STD * torch.randn(n_ids, dim))
        # Head members grouped by cluster (CSR), to pair each tail id with a head id of its cluster.
        head = torch.nonzero(~self.is_tail & (torch.arange(n_ids) != UNKNOWN)).squeeze(1)
        order = torch.argsort(self.cluster_of[head], stable=True)
        self.register_buffer("head_members", head[order])
        counts = torch.bincount(self.cluster_of[head], minlength=n_clusters)
        self.register_buffer("head_offsets", torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))

    @torch.no_grad()
    def init_ids_from(self, vectors: torch.Tensor) -> None:
        """Individual embeddings of the ids with a representation (rows of `vectors`, by id)
        from its principal components; the others keep their initialization."""
        has_content = vectors.abs().sum(1) > 0
        if self.individual is not None and int(has_content.sum()) > 1:
            components = principal_components(vectors[has_content].double().numpy(), self.individual.embedding_dim)
            self.individual.weight[has_content] = torch.from_numpy(components).float()

    def centroids(self) -> torch.Tensor:
        """(C, d) mean cluster embedding of each cluster's known ids (cluster_init if none)."""
        known = torch.arange(1, len(self.cluster_of), device=self.cluster_of.device)
        means, has_members = self._cluster_means(known, self.cluster.weight.detach())
        return torch.where(has_members, means, self.cluster_init)

    def _cluster_means(self, members: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, d) the mean of `weight`'s rows of `members` per cluster (zeros where a cluster has
        none of them), and (C, 1) whether it has any."""
        clusters = self.cluster_of[members]
        sums = torch.zeros_like(self.cluster_init).index_add(0, clusters, weight[members])
        counts = torch.bincount(clusters, minlength=len(self.cluster_init)).unsqueeze(1)
        return sums / counts.clamp(min=1), counts > 0

    def head_centroids(self) -> torch.Tensor:
        """(C, d) eq. 9 over learned embeddings: each cluster's mean learned ID embedding (the
        individual one, else the cluster one) over its head members, over all its known members
        where it has no head member, zeros where it has none; under a stop-gradient, so the
        cluster's tail ids read their head members' knowledge without pulling on it."""
        weight = (self.individual if self.individual is not None else self.cluster).weight.detach()
        head_mean, has_head = self._cluster_means(self.head_members, weight)
        known_mean, _ = self._cluster_means(
            torch.arange(1, len(self.cluster_of), device=self.cluster_of.device), weight
        )
        return torch.where(has_head, head_mean, known_mean)

    def parts(
        self, ids: torch.Tensor, clusters: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(c, d) of ids (B,), each (B, d) or None when switched off. Unknown ids read their
        cluster's centroid when `clusters` (B,) is given (sequence padding needs no fallback)."""
        c = d = None
        if self.cluster is not None:
            c = self.cluster(ids)
            unknown = ids == UNKNOWN
            if clusters is not None and unknown.any():
                c = torch.where(unknown.unsqueeze(1), self.centroids()[clusters], c)
        if self.individual is not None:
            d = self.individual(ids)
        return c, d

    def forward(self, ids: torch.Tensor, clusters: torch.Tensor | None, activity: torch.Tensor | None) -> torch.Tensor:
        """Fused embedding (B, d). Without activity (sequence items) or gate, r = 0.5."""
        c, d = self.parts(ids, clusters)
        if c is None:
            return d
        if d is None:
            return c
        r = self.mixing(ids, activity)
        return r * c + (1 - r) * d

    def mixing(self, ids: torch.Tensor, activity: torch.Tensor | None) -> torch.Tensor:
        """r (B, 1): the share of the cluster embedding in the fused one (1 for unknown ids,
        and for a model with cluster embeddings only; 0 with individual ones only)."""
        if self.cluster is None or self.individual is None:
            return torch.full((len(ids), 1), float(self.cluster is not None), device=ids.device)
        if self.gate is not None and activity is not None:
            return torch.where((ids == UNKNOWN).unsqueeze(1), 1.0, self.gate(activity))
        return torch.where((ids == UNKNOWN).unsqueeze(1), 1.0, 0.5)

    def sequence(self, ids: torch.Tensor) -> torch.Tensor:
        """Embeddings of sequence items (B, L) -> (B, L, d); padding reads as zeros."""
        return self(ids.reshape(-1), None, None).reshape(*ids.shape, -1) * (ids != UNKNOWN).unsqueeze(-1)

    def transfer_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Eq. 4 over the distinct tail ids of a batch, each paired with a random head id of its
        cluster: λ1·InfoNCE(c_head, sg(c_tail)) + λ2·InfoNCE(c_tail, sg(c_head))."""
        if self.cluster is None:
            return ids.new_zeros((), dtype=torch.float32)
        tail = torch.unique(ids[self.is_tail[ids] & (ids != UNKNOWN)])
        start = self.head_offsets[self.cluster_of[tail]]
        count = self.head_offsets[self.cluster_of[tail] + 1] - start
        tail, start, count = tail[count > 0], start[count > 0], count[count > 0]
        if len(tail) < 2:
            return ids.new_zeros((), dtype=torch.float32)
        head = self.head_members[start + (torch.rand(len(tail), device=ids.device) * count).long()]
        return asymmetric_info_nce(
            self.cluster(head),
            self.cluster(tail),
            self.config.lambda_head,
            self.config.lambda_tail,
            self.config.transfer_temperature,
            self.cluster_of[tail] if self.config.transfer_negatives == "other_clusters" else None,
        )

    def orthogonality_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Eq. 5 over the distinct known ids of a batch."""
        if self.cluster is None or self.individual is None:
            return ids.new_zeros((), dtype=torch.float32)
        known = torch.unique(ids[ids != UNKNOWN])
        return orthogonality(self.cluster(known), self.individual(known))


class ContentFusion(nn.Module):
    """FAERec: e = g ⊙ e_id + (1 − g) ⊙ P(content), g = σ(W[e_id; P(content)]) per dimension,
    with an item-level (InfoNCE) and a feature-level (Barlow Twins) alignment of e_id and
    P(content)."""

    def __init__(self, content_dim: int, config: CtrModelConfig) -> None:
        super().__init__()
        self.project = nn.Linear(content_dim, config.embedding_dim)
        self.gate = nn.Linear(2 * config.embedding_dim, config.embedding_dim)
        self.config = config

    def forward(self, id_embedding: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        projected = self.project(content)
        g = torch.sigmoid(self.gate(torch.cat([id_embedding, projected], dim=-1)))
        return g * id_embedding + (1 - g) * projected

    def alignment_loss(
        self, id_embedding: torch.Tensor, content: torch.Tensor, is_tail: torch.Tensor, curriculum: float
    ) -> torch.Tensor:
        """The item-level alignment from the start; the feature-level one, the harder objective,
        weighted by `curriculum` (0 -> 1 over training) and computed within each popularity group
        (head rows, tail rows: each group's dimensions standardized on its own, so the head's
        statistics do not set the tail's)."""
        projected = self.project(content)
        contrastive = info_nce(F.normalize(id_embedding, dim=-1), F.normalize(projected, dim=-1), None, 0.2)
        groups = [group for group in (~is_tail, is_tail) if int(group.sum()) >= 2]
        barlow = sum(
            barlow_twins(id_embedding[group], projected[group], self.config.fusion_barlow_off_diagonal)
            for group in groups
        ) / max(len(groups), 1)
        return (
            self.config.fusion_contrastive_weight * contrastive + curriculum * self.config.fusion_barlow_weight * barlow
        )


class Tower(nn.Module):
    """Ranking network F (eq. 11): an MLP or an MMoE (one task: experts mixed by a softmax gate)."""

    def __init__(self, n_inputs: int, config: CtrModelConfig) -> None:
        super().__init__()
        self.config = config
        n_experts = config.n_experts if config.ranker == "mmoe" else 1
        self.experts = nn.ModuleList(self._mlp(n_inputs, config.tower) for _ in range(n_experts))
        self.mixer = nn.Linear(n_inputs, n_experts) if n_experts > 1 else None
        self._add_personalization()  # a peer's hook, here so parameters keep their initialization order
        self.out = nn.Linear(config.tower[-1], 1)

    def _add_personalization(self) -> None:
        """Nothing in AKT-Rec's tower; POSO's gates."""

    @staticmethod
    def _mlp(n_inputs: int, widths: tuple[int, ...]) -> nn.ModuleList:
        sizes = [n_inputs, *widths]
        return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def _expert(self, layers: nn.ModuleList, x: torch.Tensor, user_activity: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = F.relu(layer(x))
        return x

    def forward(self, x: torch.Tensor, user_activity: torch.Tensor) -> torch.Tensor:
        """(B, n_inputs) -> logits (B,)."""
        x = F.dropout(x, self.config.dropout, self.training)
        outputs = torch.stack([self._expert(layers, x, user_activity) for layers in self.experts], dim=1)
        if self.mixer is None:
            hidden = outputs[:, 0]
        else:
            hidden = torch.einsum("be,beh->bh", torch.softmax(self.mixer(x), dim=-1), outputs)
        return self.out(F.dropout(hidden, self.config.dropout, self.training)).squeeze(-1)


class PosoTower(Tower):
    """The POSO peer's tower: every hidden layer scaled by 2·σ(W·user activity)."""

    def _add_personalization(self) -> None:
        self.personal = nn.ModuleList(nn.Linear(width("user_activity"), units) for units in self.config.tower)

    def _expert(self, layers: nn.ModuleList, x: torch.Tensor, user_activity: torch.Tensor) -> torch.Tensor:
        for layer, personal in zip(layers, self.personal):
            x = F.relu(layer(x)) * 2 * torch.sigmoid(personal(user_activity))
        return x


class AktRec(nn.Module):
    """The whole network. `forward(batch)` -> click logits (B,); `auxiliary_loss(batch)` -> the
    training-only terms (L_trans + λ·L_ortho)."""

    def __init__(self, config: CtrModelConfig, shapes: ModelShapes, priors: IdPriors) -> None:
        super().__init__()
        self.config, self.shapes = config, shapes
        d = config.embedding_dim
        self.users = AdaptiveEmbedding(
            shapes.n_users,
            shapes.n_user_clusters,
            config,
            priors.user_cluster_of,
            priors.user_is_tail,
            priors.user_cluster_init,
        )
        self.items = AdaptiveEmbedding(
            shapes.n_items,
            shapes.n_item_clusters,
            config,
            priors.item_cluster_of,
            priors.item_is_tail,
            priors.item_cluster_init,
            activity="item_activity",
        )
        n_attributes = 2 * d if config.attributes else 0
        if config.attributes:  # u_attr / i_attr: the mean of an entity's attribute-token embeddings
            self.user_attribute = nn.Embedding(shapes.n_user_attributes, d, padding_idx=UNKNOWN)
            self.item_attribute = nn.Embedding(shapes.n_item_attributes, d, padding_idx=UNKNOWN)
            nn.init.normal_(self.user_attribute.weight, std=EMBEDDING_STD)
            nn.init.normal_(self.item_attribute.weight, std=EMBEDDING_STD)
            with torch.no_grad():
                self.user_attribute.weight[UNKNOWN].zero_()
                self.item_attribute.weight[UNKNOWN].zero_()
            self.register_buffer("user_cluster_attributes", priors.user_cluster_attributes)
            self.register_buffer("item_cluster_attributes", priors.item_cluster_attributes)
        if config.content_affinity or config.content_history or config.content_fusion or config.init_ids_from_content:
            self.register_buffer("item_vectors", priors.item_vectors.float())  # unit rows already
        if config.init_ids_from_content:
            self.items.init_ids_from(self.item_vectors)
        self._add_content_fusion(shapes)  # a peer's hook, here so parameters keep their initialization order
        n_products = d if config.interaction_features else 0  # one u ⊙ i product per user/item pair
        if config.instance_level:
            history = 2 * d if config.content_history else d  # a click: its ID embedding [and its content]
            if config.content_history:
                self.history_content = nn.Linear(shapes.item_content_dim, d)
            self.user_attention = TargetAttention(history, config.attention_hidden)
            cross = ["cross_user_item_cluster"] if config.cluster_cross_features else []
            n_instance = width("user_activity", "item_activity", *cross) + 2 * d + history + n_products + n_attributes
            n_instance += N_AFFINITY if config.content_affinity else 0
            if config.content_features:
                self.user_content = nn.Linear(shapes.user_content_dim, d)
                self.item_content = nn.Linear(shapes.item_content_dim, d)
                n_instance += 2 * d + n_products
            self.instance = nn.Sequential(nn.Linear(n_instance, config.aggregate_dim), nn.ReLU())
        if config.cluster_level:
            self.cluster_attention = TargetAttention(d, config.attention_hidden)
            self.user_cluster_content = nn.Linear(shapes.user_content_dim, d)
            self.item_cluster_content = nn.Linear(shapes.item_content_dim, d)
            n_cluster = (
                width("user_cluster_stats", "item_cluster_stats", "cross_cluster") + 3 * d + n_products + n_attributes
            )
            n_cluster += 2 * d + n_products if config.learned_cluster_average else 0
            self.cluster = nn.Sequential(nn.Linear(n_cluster, config.aggregate_dim), nn.ReLU())
        self.level_gate = (
            ActivityGate(width("user_activity", "item_activity", "cross_user_item_cluster"))
            if config.hfa_gate
            else None
        )
        self.tower = (PosoTower if config.activity_gated_tower else Tower)(config.aggregate_dim, config)

    def _add_content_fusion(self, shapes: ModelShapes) -> None:
        """Nothing in AKT-Rec; FAERec's fusion of ID and content embeddings."""

    def at_progress(self, progress: float) -> None:
        """Training's progress in [0, 1], each step; AKT-Rec's losses do not depend on it."""

    def embeddings(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused user and candidate-item embeddings, (B, d) each."""
        user = self.users(batch["user"], batch["user_cluster"], batch["user_activity"])
        item = self.items(batch["item"], batch["item_cluster"], batch["item_activity"])
        return user, item

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        user, item = self.embeddings(batch)
        levels = []
        if self.config.instance_level:
            sequence = batch["user_sequence"]
            pooled = self.user_attention(*self._history(item, sequence, batch["item_content"]), sequence != UNKNOWN)
            parts = [batch["user_activity"], batch["item_activity"], *self._pair(user, item), pooled]
            if self.config.cluster_cross_features:
                parts.append(batch["cross_user_item_cluster"])
            if self.config.content_affinity:
                parts.append(content_affinity(self.item_vectors, sequence, batch["item_content"]))
            if self.config.content_features:
                parts += self._pair(self.user_content(batch["user_content"]), self.item_content(batch["item_content"]))
            if self.config.attributes:
                parts += [
                    _mean_tokens(self.user_attribute, batch["user_attributes"]),
                    _mean_tokens(self.item_attribute, batch["item_attributes"]),
                ]
            levels.append(self.instance(torch.cat(parts, dim=-1)))
        if self.config.cluster_level:
            sequence = batch["cluster_sequence"]
            pooled = self.cluster_attention(item, self.items.sequence(sequence), sequence != UNKNOWN)
            parts = [
                batch["user_cluster_stats"],
                batch["item_cluster_stats"],
                batch["cross_cluster"],
                *self._pair(
                    self.user_cluster_content(batch["user_cluster_content"]),
                    self.item_cluster_content(batch["item_cluster_content"]),
                ),
                pooled,
            ]
            if self.config.learned_cluster_average:
                parts += self._pair(
                    self.users.head_centroids()[batch["user_cluster"]],
                    self.items.head_centroids()[batch["item_cluster"]],
                )
            if self.config.attributes:  # eq. 9: the clusters' mean attribute embeddings
                parts += [
                    self.user_cluster_attributes[batch["user_cluster"]] @ self.user_attribute.weight,
                    self.item_cluster_attributes[batch["item_cluster"]] @ self.item_attribute.weight,
                ]
            levels.append(self.cluster(torch.cat(parts, dim=-1)))
        if len(levels) == 1:
            fused = levels[0]
        else:
            instance, cluster = levels
            alpha = self.level_mixing(batch)
            fused = alpha * cluster + (1 - alpha) * instance  # eq. 10
        return self.tower(fused, batch["user_activity"])

    def _history(
        self, item: torch.Tensor, sequence: torch.Tensor, item_content: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The DIN query (B, h) and keys (B, L, h): the candidate's and the visible clicks' ID
        embeddings, each with its projected unit representation when `content_history` is on."""
        keys = self._sequence_embeddings(sequence)
        if not self.config.content_history:
            return item, keys
        content = self.history_content(F.normalize(item_content, dim=-1))
        return torch.cat([item, content], dim=-1), torch.cat(
            [keys, self.history_content(self.item_vectors[sequence])], -1
        )

    def _sequence_embeddings(self, sequence: torch.Tensor) -> torch.Tensor:
        """The visible clicks' embeddings (B, L, d) the DIN history attends over."""
        return self.items.sequence(sequence)

    def _pair(self, user: torch.Tensor, item: torch.Tensor) -> list[torch.Tensor]:
        """A user and an item vector (B, d) as tower inputs, with their product u ⊙ i when
        `interaction_features` is on (a user-item match the MLP would otherwise have to learn
        from concatenation; within one user's candidates it is what ranks them)."""
        return [user, item, user * item] if self.config.interaction_features else [user, item]

    def level_mixing(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """α (B, 1): the cluster level's share of the aggregate (eq. 10); 1 or 0 when only one
        level is on, 0.5 without the gate, 0 for head samples with `head_instance_only`."""
        rows = (len(batch["user"]), 1)
        if not (self.config.instance_level and self.config.cluster_level):
            return torch.full(rows, float(self.config.cluster_level), device=batch["user"].device)
        if self.level_gate is None:
            alpha = torch.full(rows, 0.5, device=batch["user"].device)
        else:
            alpha = self.level_gate(
                torch.cat([batch["user_activity"], batch["item_activity"], batch["cross_user_item_cluster"]], dim=-1)
            )
        if self.config.head_instance_only:  # unknown ids count as tail
            tail = self.users.is_tail[batch["user"]] | self.items.is_tail[batch["item"]]
            alpha = alpha * tail.unsqueeze(1)
        return alpha

    @torch.no_grad()
    def gates(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per row, how much of the score came from cluster knowledge: the CGAE gates r of user
        and item (eq. 6) and the HFA gate α (eq. 10), each (B,)."""
        return {
            "user_cluster_share": self.users.mixing(batch["user"], batch["user_activity"]).squeeze(1),
            "item_cluster_share": self.items.mixing(batch["item"], batch["item_activity"]).squeeze(1),
            "cluster_level_share": self.level_mixing(batch).squeeze(1),
        }

    def auxiliary_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = self.users.transfer_loss(batch["user"]) + self.items.transfer_loss(batch["item"])
        if self.config.cluster_embedding and self.config.individual_embedding:
            loss = loss + self.config.lambda_ortho * (
                self.users.orthogonality_loss(batch["user"]) + self.items.orthogonality_loss(batch["item"])
            )
        return loss


class FaeRec(AktRec):
    """The FAERec peer over AKT-Rec's instance-level blocks: every item embedding the network
    reads, the candidate's and each clicked item's in the history, is its ID embedding fused
    with its content by a dimension-wise gate (`ContentFusion`); item ID embeddings start from
    the content's principal components (`init_ids_from_content`); the item-level and the
    popularity-grouped feature-level alignment are scheduled by a cosine curriculum. Users are
    fused with their content too."""

    def _add_content_fusion(self, shapes: ModelShapes) -> None:
        self.fusion = nn.ModuleDict(
            {
                "user": ContentFusion(shapes.user_content_dim, self.config),
                "item": ContentFusion(shapes.item_content_dim, self.config),
            }
        )
        self.curriculum = 0.0  # the feature-level alignment's weight factor

    def at_progress(self, progress: float) -> None:
        self.curriculum = cosine_curriculum(progress)

    def embeddings(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        user, item = super().embeddings(batch)
        return (
            self.fusion["user"](user, batch["user_content"]),
            self.fusion["item"](item, F.normalize(batch["item_content"], dim=-1)),  # a new item's too
        )

    def _sequence_embeddings(self, sequence: torch.Tensor) -> torch.Tensor:
        if not self.config.fusion_history:
            return super()._sequence_embeddings(sequence)
        fused = self.fusion["item"](super()._sequence_embeddings(sequence), self.item_vectors[sequence])
        return fused * (sequence != UNKNOWN).unsqueeze(-1)

    def auxiliary_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """AKT-Rec's terms and the alignment over the distinct known items of the batch."""
        loss = super().auxiliary_loss(batch)
        known = torch.nonzero(batch["item"] != UNKNOWN).squeeze(1)
        distinct = torch.unique(batch["item"][known])
        if len(distinct) < 2:
            return loss
        id_embedding = self.items(distinct, None, None)
        return loss + self.fusion["item"].alignment_loss(
            id_embedding, self.item_vectors[distinct], self.items.is_tail[distinct], self.curriculum
        )


N_AFFINITY = 3  # the columns of `content_affinity`


def content_affinity(item_vectors: torch.Tensor, sequence: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """(B, N_AFFINITY): how close each candidate's representation is to the user's visible
    clicks (its sequence, as of the sample's time): the cosine with their mean, the largest
    cosine with one of them, and log(1 + how many have a representation); zeros without any.
    `item_vectors`: (V, D) unit rows by vocabulary index; `sequence`: (B, L), 0 = padding;
    `candidate`: (B, D)."""
    clicked = item_vectors[sequence]
    present = (sequence != UNKNOWN) & (clicked.abs().sum(-1) > 0)
    unit = F.normalize(candidate, dim=-1)
    count = present.sum(1, keepdim=True)
    nearest = torch.einsum("bld,bd->bl", clicked, unit).masked_fill(~present, -2.0).max(1, keepdim=True).values
    mean = (clicked * present.unsqueeze(-1)).sum(1) / count.clamp(min=1)
    with_mean = (F.normalize(mean, dim=-1) * unit).sum(-1, keepdim=True)
    seen = count > 0
    return torch.cat([with_mean * seen, torch.where(seen, nearest, 0.0), torch.log1p(count.float())], dim=1)


def _mean_tokens(embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) token ids, 0 = padding -> (B, d) mean of the present tokens' embeddings (0 if none)."""
    present = (tokens != UNKNOWN).sum(dim=1, keepdim=True).clamp(min=1)
    return embedding(tokens).sum(dim=1) / present


def cosine_curriculum(progress: float) -> float:
    """FAERec's alignment weight over training: 0 at the start, rising to 1 along a half cosine."""
    return 0.5 * (1 - math.cos(math.pi * min(max(progress, 0.0), 1.0)))
