"""Prompts, pair mining, InfoNCE, the interest token, and the encoders on tiny models."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from aktrec import schemas
from aktrec.config import EncoderConfig
from aktrec.embed.encoder import ContentEncoder, pool, resolve_dtype
from aktrec.embed.losses import info_nce, user_interest_loss
from aktrec.embed.modules import ProjectionHead, UserInterestModel
from aktrec.embed.pairs import mine_pairs, recall_at_k
from aktrec.embed.prompts import INTEREST_TOKEN, ActivityLevels, item_activity, item_prompt, user_prompt


def clicks(rows):
    frame = pd.DataFrame(rows, columns=[schemas.USER_ID, schemas.ITEM_ID, "t"])
    frame[schemas.TS] = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(frame.pop("t"), unit="h")
    frame[schemas.LABEL] = 1
    frame[schemas.IS_SAMPLED] = False
    return frame


def test_item_prompt_renders_content_and_activity_words():
    item = {
        schemas.TITLE: "Rose Lotion",
        schemas.CATEGORY: ["Beauty", "Skin Care"],
        schemas.BRAND: "Acme",
        schemas.PRICE: 5.5,
        schemas.DESCRIPTION: "Soft.",
    }
    text = item_prompt(item, {"clicks": "high", "ctr": "very low"})
    assert text == (
        "Product: Rose Lotion. Category: Beauty > Skin Care. Brand: Acme. Price: $5.50. "
        "Popularity: high. Click-through rate: very low. Soft."
    )
    assert item_prompt({schemas.TITLE: None, schemas.PRICE: float("nan")}, {}) == "Product: untitled."


def test_activity_levels_quantize_training_statistics():
    train = clicks([("u", "a", 0), ("u", "a", 1), ("v", "a", 2), ("v", "b", 3)])
    train.loc[3, schemas.LABEL] = 0
    stats = item_activity(train, pd.Index(["a", "b", "c"]), positives_only=False)
    assert stats.loc["a", "clicks"] == 3 and stats.loc["b", "exposures"] == 1 and stats.loc["c", "exposures"] == 0
    levels = ActivityLevels.fit(stats, 3)
    words = levels.words(stats)
    assert words.loc["a", "clicks"] == "high" and words.loc["c", "clicks"] == "low"
    assert item_activity(train, pd.Index(["a"]), positives_only=True).columns.tolist() == ["clicks"]


def test_user_prompt_puts_history_first_and_ends_with_interest_token():
    text = user_prompt({"age_group": "25-34", "gender": None}, ["Lip Gloss", "Mascara"])
    assert (
        text == "Recent clicks, oldest first: Lip Gloss; Mascara. User profile: age group 25-34. Next interest: "
        f"{INTEREST_TOKEN}"
    )
    assert user_prompt({}, []).startswith("No clicks yet. User profile: unknown.")


def test_mine_pairs_counts_windowed_cooccurrence_per_user():
    train = clicks(
        [("u", "a", 0), ("u", "b", 1), ("u", "c", 2), ("u", "a", 3), ("v", "b", 0), ("v", "a", 1), ("w", "a", 0)]
    )
    index = pd.Index(["a", "b", "c"])
    pairs = mine_pairs(train, index, window=1, min_count=1)
    counted = {(index[a], index[b]): n for a, b, n in pairs.itertuples(index=False)}
    assert counted == {("a", "b"): 2, ("b", "c"): 1, ("a", "c"): 1}  # w has one click: no pair
    assert len(mine_pairs(train, index, window=1, min_count=2)) == 1
    wide = mine_pairs(train, index, window=3, min_count=1)
    # u: 3 pairs at offset 1, 2 at offset 2, none at 3 (a with itself); v: 1
    assert wide["count"].sum() == 3 + 2 + 0 + 1


def test_recall_at_k_excludes_the_query_item():
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = [0.8, 0.6, 0, 0]
    pairs = pd.DataFrame({"a": [0], "b": [1]})
    assert recall_at_k(vectors, pairs, k=1) == 1.0
    assert recall_at_k(vectors, pd.DataFrame({"a": [2], "b": [3]}), k=1) in (0.0, 1.0)


def test_info_nce_matches_hand_computation():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    negative = torch.tensor([[-1.0, 0.0]])
    tau = 0.5

    # row 0 logits: [1, 0.6, -1] / tau, target 0; row 1: [0, 0.8, 0] / tau, target 1
    def ce(logits, target):
        logits = [x / tau for x in logits]
        return -logits[target] + math.log(sum(math.exp(x) for x in logits))

    expected = (ce([1, 0.6, -1], 0) + ce([0, 0.8, 0], 1)) / 2
    assert math.isclose(float(info_nce(anchor, positive, negative, tau)), expected, rel_tol=1e-6)
    expected_in_batch = (ce([1, 0.6], 0) + ce([0, 0.8], 1)) / 2
    assert math.isclose(float(info_nce(anchor, positive, None, tau)), expected_in_batch, rel_tol=1e-6)


def test_user_loss_is_negative_cosine_plus_weighted_category_ce():
    predicted = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    category = torch.tensor([0, -100])  # the second sample's category is unknown
    loss, parts = user_interest_loss(predicted, target, logits, category, category_weight=0.5)
    ce = -2.0 + math.log(math.exp(2.0) + 1.0)
    assert math.isclose(parts["cosine"], 0.5)
    assert math.isclose(float(loss), -0.5 + 0.5 * ce, rel_tol=1e-6)


def test_projection_head_starts_as_identity():
    x = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    assert torch.allclose(ProjectionHead(8)(x), x, atol=1e-6)


def test_pooling_modes():
    hidden = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0]])
    assert pool(hidden, mask, "cls").tolist() == [[0.0, 1.0, 2.0]]
    assert pool(hidden, mask, "last").tolist() == [[6.0, 7.0, 8.0]]
    assert pool(hidden, mask, "mean").tolist() == [[3.0, 4.0, 5.0]]


def test_interest_state_is_the_hidden_state_at_the_interest_token(tiny_text_model):
    encoder = ContentEncoder(EncoderConfig(model=str(tiny_text_model), max_length=24, dtype="float32"))
    model = UserInterestModel(encoder, item_dim=6, n_categories=3).eval()
    long_history = [f"item number {k}" for k in range(40)]
    prompts = [user_prompt({"gender": "female"}, long_history), user_prompt({}, [])]
    state = model.interest_state(prompts)
    batch = encoder.tokenize(prompts)
    hidden = encoder.model(**batch).last_hidden_state
    for row in range(2):
        ids = batch["input_ids"][row].tolist()
        assert model.interest_token_id in ids  # left truncation kept it in the long prompt
        assert torch.allclose(state[row], hidden[row, ids.index(model.interest_token_id)])
    history_mean = torch.tensor([[3.0, 4.0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    item_vector, logits = model(prompts, history_mean)
    assert item_vector.shape == (2, 6) and logits.shape == (2, 3)
    # the item-space head starts at zero: a user starts at its history's mean direction
    assert torch.allclose(item_vector[0], torch.tensor([0.6, 0.8, 0, 0, 0, 0]))
    assert torch.allclose(model.interest_states(prompts), state.detach(), atol=1e-5)


def test_vision_text_encoder_fuses_images(tiny_vision_text_model, tmp_path):
    from PIL import Image

    encoder = ContentEncoder(EncoderConfig(model=str(tiny_vision_text_model)))
    assert encoder.is_vision_text and encoder.dim == 16
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    vectors = encoder.encode(["lipstick", "lipstick", "lipstick"], [None, red, blue])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1]) and not np.allclose(vectors[1], vectors[2])
    text_only = encoder.encode(["lipstick"])
    assert np.allclose(text_only[0], vectors[0], atol=1e-5)


def test_auto_dtype_is_bfloat16_only_for_inference_on_a_gpu_that_computes_it(tiny_text_model, monkeypatch):
    from aktrec.embed.cache import function_key

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert resolve_dtype(EncoderConfig()) == "float32"  # a CPU's bf16 is not batch invariant, even where native
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda native=native: native)
        assert resolve_dtype(EncoderConfig(device="cuda")) == expected
        assert resolve_dtype(EncoderConfig(device="cuda"), for_training=True) == "float32"  # fine-tuned: float32
    assert resolve_dtype(EncoderConfig(dtype="bfloat16")) == "bfloat16"  # an explicit dtype is kept
    monkeypatch.undo()
    config = EncoderConfig(model=str(tiny_text_model))
    explicit, automatic = ContentEncoder(dataclasses.replace(config, dtype="bfloat16")), ContentEncoder(config)
    assert explicit.model.dtype == torch.bfloat16 and automatic.model.dtype == torch.float32
    # cached vectors are keyed by the dtype the encoder resolved to, not by "auto"
    assert function_key(explicit, "pooled") != function_key(automatic, "pooled")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_text_encodes_the_same_in_any_batch(tiny_text_model, dtype):
    encoder = ContentEncoder(EncoderConfig(model=str(tiny_text_model), dtype=dtype, batch_size=3))
    texts = [f"item {word} " * (k % 4 + 1) for k, word in enumerate("abcdefghijklmnop")]
    batches = encoder.same_length_batches(texts)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(texts)))
    lengths = [len(ids) for ids in encoder.tokenizer(texts)["input_ids"]]
    assert all(len(batch) <= 3 and len({lengths[i] for i in batch}) == 1 for batch in batches)
    together = encoder.encode(texts)
    # float32 kernels may round the last bit differently for another number of rows
    tolerance = 0.0 if dtype == "bfloat16" else 1e-7
    np.testing.assert_allclose(together, np.concatenate([encoder.encode([t]) for t in texts]), rtol=0, atol=tolerance)
    np.testing.assert_allclose(together[5:], encoder.encode(texts[5:]), rtol=0, atol=tolerance)


def test_encoder_refuses_models_it_cannot_load_offline():
    from aktrec.errors import AktrecError

    with pytest.raises(AktrecError, match="cannot load offline"):
        ContentEncoder(EncoderConfig(model="no-such-org/no-such-model"))


def test_user_training_keeps_the_best_validation_epoch():
    from aktrec.config import UserEmbedConfig, UserModelLoopConfig
    from aktrec.embed.train import train_user_model

    torch.manual_seed(0)
    inputs = torch.randn(50, 4)
    learnable = torch.nn.functional.normalize(inputs @ torch.randn(4, 3), dim=-1).numpy()  # the inputs predict them
    # the held-back rows (the seeded first tenth of the permutation) want the opposite: training hurts them
    targets = learnable.copy()
    targets[np.random.default_rng(0).permutation(50)[:5]] *= -1
    categories = np.random.default_rng(0).integers(0, 2, size=50)
    layer = torch.nn.Linear(4, 3)
    classifier = torch.nn.Linear(4, 2)
    initial = [p.detach().clone() for p in (*layer.parameters(), *classifier.parameters())]

    def forward(idx):
        return torch.nn.functional.normalize(layer(inputs[idx]), dim=-1), classifier(inputs[idx])

    parameters = [*layer.parameters(), *classifier.parameters()]
    # training moves away from what the held-back rows want: every epoch is worse, the start is kept
    history = train_user_model(
        forward,
        parameters,
        targets,
        categories,
        UserEmbedConfig(loop=UserModelLoopConfig(epochs=5, learning_rate=1e-1, batch_size=8)),
    )
    assert history["best_epoch"] == 0 and len(history["validation_loss"]) == 6
    assert all(torch.equal(p, q) for p, q in zip(parameters, initial))
    history = train_user_model(
        forward,
        parameters,
        learnable,
        categories,
        UserEmbedConfig(loop=UserModelLoopConfig(epochs=20, learning_rate=1e-2, batch_size=8)),
    )
    assert history["best_epoch"] > 0 and min(history["validation_loss"]) < history["validation_loss"][0]


def test_user_loss_contrastive_term_ranks_the_next_item_first():
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    no_category = torch.tensor([-100, -100])
    logits = torch.zeros(2, 2)
    hub = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), dim=-1)  # near both items
    ranking = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.2, 1.0]]), dim=-1)
    # eq. 2's cosine alone cannot tell the hub from a vector that ranks each next item first ...
    plain = [float(user_interest_loss(p, target, logits, no_category, 1.0)[0]) for p in (hub, ranking)]
    assert plain[1] < plain[0] + 0.2
    # ... the in-batch InfoNCE term can: its share of the loss is the InfoNCE by hand
    loss, parts = user_interest_loss(ranking, target, logits, no_category, 1.0, contrastive_weight=0.5, temperature=0.1)
    assert math.isclose(float(loss), -parts["cosine"] + 0.5 * float(info_nce(ranking, target, None, 0.1)), rel_tol=1e-6)
    assert parts["retrieval"] == float(loss)
    hub_loss = float(
        user_interest_loss(hub, target, logits, no_category, 1.0, contrastive_weight=0.5, temperature=0.1)[0]
    )
    assert float(loss) < hub_loss - 0.1


def test_user_vectors_skip_the_language_model_while_the_item_head_is_zero():
    from aktrec.config import UserEmbedConfig
    from aktrec.embed.users import ItemCatalog, UserEmbedder

    class TextEncoder:
        dim = 2

        def encode(self, texts):  # a user without clicks is its prompt's text vector
            return np.array([[0.0, 3.0] if "female" in text else [3.0, 0.0] for text in texts], dtype=np.float32)

    class NoLanguageModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = TextEncoder()
            self.to_item = torch.nn.Linear(4, 2)
            torch.nn.init.zeros_(self.to_item.weight)
            torch.nn.init.zeros_(self.to_item.bias)

        def interest_states(self, *args, **kwargs):
            raise AssertionError("the language model ran")

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    catalog = ItemCatalog(pd.Index(["a", "b", "c"]), np.array(["A", "B", "C"]), np.zeros(3, int), [], vectors)
    embedder = UserEmbedder(NoLanguageModel(), catalog, UserEmbedConfig())
    means = catalog.history_mean([np.array([0, 2]), np.array([], dtype=int), np.array([], dtype=int)])
    prompts = ["p1", "gender: female", "gender: male"]
    out = embedder.vectors(prompts, means)
    assert np.allclose(out[0], np.array([2.0, 1.0]) / math.sqrt(5))  # the history's mean direction
    assert np.allclose(out[1:], [[0.0, 1.0], [1.0, 0.0]])  # no clicks: the profile's text vector
    embedder.model.encoder.dim = 3  # an encoder outside the item space: the catalog's mean direction
    assert np.allclose(embedder.vectors(prompts, means)[1], np.array([1.0, 1.0]) / math.sqrt(2))
    with torch.no_grad():
        embedder.model.to_item.bias[0] = 0.1  # a trained head: the language model must read the prompts
    with pytest.raises(AssertionError, match="the language model ran"):
        embedder.vectors(prompts, means)
