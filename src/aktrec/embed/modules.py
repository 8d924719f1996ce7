"""Modules of the representation stage: the item projection head and the user interest model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aktrec.embed.cache import VectorCache, function_key
from aktrec.embed.encoder import ContentEncoder
from aktrec.embed.prompts import INTEREST_TOKEN
from aktrec.progress import tracked


class ProjectionHead(nn.Module):
    """Residual MLP on unit vectors: e + W2·GELU(W1·e), renormalized. (B, D) -> (B, D).

    W2 starts at zero, so before training the head is the identity and aligned embeddings
    start from the encoder's own.
    """

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        nn.init.zeros_(self.down.weight)
        nn.init.zeros_(self.down.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x + self.down(nn.functional.gelu(self.up(x))), dim=-1)


class UserInterestModel(nn.Module):
    """A language model reads the user prompt; the hidden state of the appended interest token
    is mapped into the item embedding space and to next-item category logits (eq. 2).

    The item-space output is a correction added to the mean embedding of the history's items
    (zero for a user without clicks); it starts at zero, so training starts from that average
    and learns what the language model reads beyond it (profile, order, titles). The category
    logits read both the interest state and that mean.

    prompts (B,), history means (B, D) -> (ê: (B, D) unit vectors, category logits: (B, C)).
    """

    def __init__(self, encoder: ContentEncoder, item_dim: int, n_categories: int):
        super().__init__()
        self.encoder = encoder
        tokenizer = encoder.tokenizer
        if INTEREST_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [INTEREST_TOKEN]})
            encoder.model.resize_token_embeddings(len(tokenizer))
        tokenizer.truncation_side = "left"  # keep the interest token and the profile, drop old clicks
        self.interest_token_id = tokenizer.convert_tokens_to_ids(INTEREST_TOKEN)
        hidden = encoder.model.config.hidden_size
        self.to_item = nn.Linear(hidden, item_dim)
        nn.init.zeros_(self.to_item.weight)
        nn.init.zeros_(self.to_item.bias)
        self.to_category = nn.Linear(hidden, max(n_categories, 1))
        self.history_to_category = nn.Linear(item_dim, max(n_categories, 1), bias=False)
        self.cache_root = ""  # where frozen interest states are cached ("" = nowhere)

    def interest_state(self, prompts: Sequence[str]) -> torch.Tensor:
        """(B,) prompts -> (B, H) hidden state at the interest token."""
        batch = self.encoder.tokenize(prompts)
        hidden = self.encoder.model(**batch).last_hidden_state
        is_interest = batch["input_ids"] == self.interest_token_id
        if not bool(is_interest.any(dim=1).all()):
            raise ValueError("a user prompt lost its interest token to truncation")
        position = is_interest.int().argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), position].float()

    def heads(self, state: torch.Tensor, history_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H) interest states, (B, D) history means -> ((B, D) unit vectors, (B, C) logits)."""
        logits = self.to_category(state) + self.history_to_category(history_mean)
        return nn.functional.normalize(history_mean + self.to_item(state), dim=-1), logits

    def forward(self, prompts: Sequence[str], history_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.interest_state(prompts), history_mean)

    @torch.no_grad()
    def interest_states(self, prompts: Sequence[str], progress: bool = False) -> torch.Tensor:
        """Batched inference of `interest_state`: (N,) prompts -> (N, H); through the cache
        under `cache_root` (set by the stage, never saved) while the language model is frozen."""
        frozen = not any(parameter.requires_grad for parameter in self.encoder.model.parameters())
        if not (self.cache_root and frozen):
            return self._interest_states(prompts, progress)
        token = self.encoder.model.get_input_embeddings().weight[self.interest_token_id]
        key = function_key(self.encoder, "interest-state", token.detach().float().cpu().numpy().tobytes())
        vectors = VectorCache(self.cache_root, key).vectors(
            prompts, lambda todo: self._interest_states(todo, progress).numpy()
        )
        return torch.from_numpy(vectors)

    def _interest_states(self, prompts: Sequence[str], progress: bool) -> torch.Tensor:
        self.eval()
        states = torch.zeros(len(prompts), self.encoder.model.config.hidden_size)
        for chunk in tracked(self.encoder.same_length_batches(prompts), "interest-states", bar=progress):
            states[chunk] = self.interest_state([prompts[i] for i in chunk]).cpu()
        return states
