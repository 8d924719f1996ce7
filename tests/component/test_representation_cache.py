"""The representation cache: a re-run encodes only prompts it has not seen with the same
encoder, gives the vectors a fresh encoding gives, and a changed encoder invalidates it; the
embedding stages read through it (items' encoder vectors, users' frozen interest states)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def encoder(tiny_text_model):
    from aktrec.config import EncoderConfig
    from aktrec.embed.encoder import ContentEncoder

    return ContentEncoder(EncoderConfig(model=str(tiny_text_model), batch_size=4))


def counting(encoder, calls: list[list[str]]):
    """`encoder.encode`, recording the texts of each call."""
    encode = encoder.encode

    def recorded(texts, images=None, progress=False):
        calls.append(list(texts))
        return encode(texts, images, progress)

    encoder.encode = recorded
    return encode


def test_a_changed_title_re_encodes_that_prompt_only(encoder, tmp_path):
    from aktrec.embed.cache import encode_with_cache

    calls: list[list[str]] = []
    fresh = counting(encoder, calls)
    titles = ["rose face cream", "lavender soap", "argan oil shampoo", "rose face cream"]
    first = encode_with_cache(encoder, titles, None, False, str(tmp_path / "cache"))
    assert calls == [["rose face cream", "lavender soap", "argan oil shampoo"]]  # each distinct prompt once
    np.testing.assert_allclose(first, fresh(titles), atol=1e-5)

    changed = ["rose face cream", "lavender soap, 200 g", "argan oil shampoo", "rose face cream"]
    second = encode_with_cache(encoder, changed, None, False, str(tmp_path / "cache"))
    assert calls[1:] == [["lavender soap, 200 g"]]
    np.testing.assert_allclose(second, fresh(changed), atol=1e-5)
    np.testing.assert_array_equal(second[[0, 2, 3]], first[[0, 2, 3]])  # read back, not recomputed

    encode_with_cache(encoder, changed, None, False, str(tmp_path / "cache"))
    assert len(calls) == 2  # nothing new: nothing encoded
    assert len(list((tmp_path / "cache").rglob("*.parquet"))) == 2 and not list((tmp_path / "cache").rglob("*.tmp"))


def test_a_changed_encoder_invalidates_everything(encoder, tiny_text_model, tmp_path):
    from aktrec.config import EncoderConfig
    from aktrec.embed.cache import encode_with_cache, function_key
    from aktrec.embed.encoder import ContentEncoder

    titles = ["rose face cream", "lavender soap"]
    encode_with_cache(encoder, titles, None, False, str(tmp_path))
    other = ContentEncoder(EncoderConfig(model=str(tiny_text_model), batch_size=4, max_length=8))
    calls: list[list[str]] = []
    counting(other, calls)
    encode_with_cache(other, titles, None, False, str(tmp_path))
    assert calls == [titles]  # other settings: another key, all encoded
    assert function_key(encoder, "pooled") != function_key(other, "pooled")

    retrained = tmp_path / "retrained"  # the same architecture with other weights
    encoder.model.embeddings.word_embeddings.weight.data.mul_(2)
    encoder.model.save_pretrained(retrained)
    encoder.tokenizer.save_pretrained(retrained)
    moved = ContentEncoder(EncoderConfig(model=str(retrained), batch_size=4))
    assert function_key(moved, "pooled") != function_key(
        ContentEncoder(EncoderConfig(model=str(tiny_text_model))), "pooled"
    )


def test_embedding_stages_read_through_the_cache_and_give_the_same_vectors(tiny_raw, tiny_text_model, tmp_path):
    from aktrec.config import (
        EncoderConfig,
        ItemEmbedConfig,
        LoopConfig,
        PrepareConfig,
        UserEmbedConfig,
        UserModelLoopConfig,
    )
    from aktrec.data.prepare import prepare, write_prepared
    from aktrec.embed.stage import read_embeddings, run_embed_items, run_embed_users

    data = tmp_path / "data"
    write_prepared(prepare(tiny_raw, PrepareConfig()), data, PrepareConfig())
    encoder = EncoderConfig(model=str(tiny_text_model), batch_size=16)
    items, users = (
        ItemEmbedConfig(encoder=encoder, loop=LoopConfig(epochs=1)),
        UserEmbedConfig(encoder=encoder, loop=UserModelLoopConfig(epochs=1)),
    )
    cache = str(tmp_path / "cache")
    vectors, shards = {}, {}
    for run in ("cold", "warm", "uncached"):
        out = tmp_path / run
        root = "" if run == "uncached" else cache
        run_embed_items(data, out, items, cache_root=root)
        run_embed_users(data, out, users, cache_root=root)
        vectors[run] = {kind: read_embeddings(out, kind)[1] for kind in ("item", "user")}
        shards[run] = sorted((tmp_path / "cache").rglob("*.parquet"))
    assert len({shard.parent for shard in shards["cold"]}) == 2  # pooled item vectors, user interest states
    assert shards["warm"] == shards["cold"]  # the same data again: nothing encoded, nothing written
    for kind in ("item", "user"):  # batches of one token length need no padding: equal to the last bit
        np.testing.assert_allclose(vectors["warm"][kind], vectors["cold"][kind], atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(vectors["uncached"][kind], vectors["cold"][kind], atol=1e-6, err_msg=kind)
