"""Attribute tokens from the contract's optional columns, and their cluster means (eq. 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from aktrec.ctr.inputs import Vocabulary
from aktrec.ctr.vocabularies import cluster_attribute_shares
from aktrec.features.attributes import item_attributes, user_attributes
from aktrec.semantic_ids.tables import SemanticTables


def test_item_tokens_are_category_levels_brand_and_price_decile():
    items = pa.table(
        {
            "item_id": ["a", "b", "c"],
            "title": ["x", "y", "z"],
            "category": [["Beauty", "Makeup", "Face", "Concealer"], ["Beauty"], None],
            "brand": ["Acme", None, " Glow "],
            "price": [1.0, 50.0, None],
        }
    )
    tokens = item_attributes(items, pd.Index(["c", "a", "zz"]))
    assert tokens[0] == ["brand=Glow"]
    assert tokens[1][:4] == ["category_1=Beauty", "category_2=Makeup", "category_3=Face", "brand=Acme"]
    assert tokens[1][4].startswith("price=q")
    assert tokens[2] == []  # an item without a table row


def test_user_tokens_from_every_profile_column_numbers_as_deciles():
    users = pa.table({"user_id": [f"u{i}" for i in range(20)], "age": np.arange(20, 40), "plan": ["free", "pro"] * 10})
    tokens = user_attributes(users, pd.Index(["u0", "u19"]))
    assert tokens == [["age=q0", "plan=free"], ["age=q9", "plan=pro"]]
    assert user_attributes(None, pd.Index(["u0"])) == [[]]


def test_cluster_shares_average_the_members_token_shares():
    sem = SemanticTables(
        ids=pd.Index(["a", "b", "c"]), codes=np.zeros((3, 1)), cluster=np.array([7, 7, 9]), embeddings=np.zeros((3, 2))
    )
    attributes = [["x", "y"], ["x"], []]
    clusters, tokens = Vocabulary.build([7, 9]), Vocabulary.build(["x", "y"])
    shares = cluster_attribute_shares(sem, attributes, clusters, tokens)
    # cluster 7: a gives x, y half each; b gives x fully -> x 0.75, y 0.25; cluster 9: no tokens
    assert torch.allclose(shares, torch.tensor([[0, 0, 0], [0, 0.75, 0.25], [0, 0, 0]]))
