"""What a CTR model is built from: the vocabularies of the training samples and the catalog,
and the id priors (each id's cluster and tail flag, content-initialised cluster embeddings,
clusters' attribute shares) that AKT-Rec's modules read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from aktrec import schemas
from aktrec.config import CtrModelConfig
from aktrec.ctr.inputs import UNKNOWN, Vocabularies, Vocabulary
from aktrec.ctr.modules import AktRec, FaeRec, IdPriors, ModelShapes, principal_components
from aktrec.semantic_ids.tables import SemanticTables


def build_vocabularies(
    train: pd.DataFrame,
    users: SemanticTables,
    items: SemanticTables,
    user_attributes: list[list[str]],
    item_attributes: list[list[str]],
) -> Vocabularies:
    """Ids with training samples (they get trained embeddings); every semantic cluster; every
    attribute token of the catalog (`*_attributes`: the tokens of `users.ids` / `items.ids`)."""
    return Vocabularies(
        user=Vocabulary.build(train[schemas.USER_ID]),
        item=Vocabulary.build(train[schemas.ITEM_ID]),
        user_cluster=Vocabulary.build(np.unique(users.cluster)),
        item_cluster=Vocabulary.build(np.unique(items.cluster)),
        user_attribute=Vocabulary.build([t for tokens in user_attributes for t in tokens]),
        item_attribute=Vocabulary.build([t for tokens in item_attributes for t in tokens]),
    )


def cluster_attribute_shares(
    sem: SemanticTables, attributes: list[list[str]], clusters: Vocabulary, tokens: Vocabulary
) -> torch.Tensor:
    """(C, V): for each cluster, the mean over its members of each member's token shares, so
    that (C, V) @ token embeddings (V, d) is the cluster's mean attribute embedding."""
    shares = np.zeros((len(clusters), len(tokens)), dtype=np.float32)
    member_cluster = clusters.index(sem.cluster)
    size = np.bincount(member_cluster, minlength=len(clusters)).astype(np.float32)
    for cluster, member_tokens in zip(member_cluster, attributes):
        if member_tokens:
            np.add.at(shares[cluster], tokens.index(member_tokens), 1.0 / len(member_tokens))
    shares /= np.maximum(size, 1)[:, None]
    shares[:, UNKNOWN] = 0.0
    return torch.from_numpy(shares)


def content_cluster_init(sem: SemanticTables, clusters: Vocabulary, dim: int) -> torch.Tensor:
    """(C, dim): each cluster's mean representation, reduced by PCA and scaled to a small norm
    (index 0, the unknown cluster, stays zero)."""
    position = clusters.index(sem.cluster)
    sums = np.zeros((len(clusters), sem.embeddings.shape[1]))
    np.add.at(sums, position, sem.embeddings)
    counts = np.bincount(position, minlength=len(clusters))
    means = sums[1:] / np.maximum(counts[1:, None], 1)
    reduced = principal_components(means, dim)
    return torch.from_numpy(np.vstack([np.zeros((1, dim)), reduced]).astype(np.float32))


def id_priors(
    train: pd.DataFrame,
    vocab: Vocabularies,
    users: SemanticTables,
    items: SemanticTables,
    dim: int,
    user_attributes: list[list[str]],
    item_attributes: list[list[str]],
) -> IdPriors:
    def per_id(sem: SemanticTables, id_vocab: Vocabulary, cluster_vocab: Vocabulary, flag: str, id_column: str):
        cluster_of = cluster_vocab.index(sem.lookup(pd.Series(id_vocab.ids), sem.cluster, -1))
        tail = train.groupby(id_column)[flag].first().reindex(id_vocab.ids).fillna(True).to_numpy(bool)
        return (
            torch.from_numpy(np.concatenate([[UNKNOWN], cluster_of])),
            torch.from_numpy(np.concatenate([[True], tail])),
        )

    user_cluster_of, user_is_tail = per_id(users, vocab.user, vocab.user_cluster, schemas.IS_TAIL_USER, schemas.USER_ID)
    item_cluster_of, item_is_tail = per_id(items, vocab.item, vocab.item_cluster, schemas.IS_TAIL_ITEM, schemas.ITEM_ID)
    return IdPriors(
        user_cluster_of,
        item_cluster_of,
        user_is_tail,
        item_is_tail,
        content_cluster_init(users, vocab.user_cluster, dim),
        content_cluster_init(items, vocab.item_cluster, dim),
        cluster_attribute_shares(users, user_attributes, vocab.user_cluster, vocab.user_attribute),
        cluster_attribute_shares(items, item_attributes, vocab.item_cluster, vocab.item_attribute),
        item_vectors(items, vocab.item),
    )


def item_vectors(items: SemanticTables, ids: Vocabulary) -> torch.Tensor:
    """(V, D) the representation of each vocabulary item, unit length; row 0 (unknown) and items
    without one: zeros."""
    vectors = items.lookup(pd.Series(ids.ids), items.embeddings.astype(np.float32), 0.0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return torch.from_numpy(np.vstack([np.zeros((1, unit.shape[1]), np.float32), unit]))


def build_model(config: CtrModelConfig, shapes: ModelShapes, priors: IdPriors) -> AktRec:
    """AKT-Rec and its ablations, or the FAERec peer (`content_fusion`)."""
    return (FaeRec if config.content_fusion else AktRec)(config, shapes, priors)
