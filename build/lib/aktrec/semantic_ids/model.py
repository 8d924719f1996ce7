"""RQ-VAE (paper eq. 3): MLP encoder, N residual codebooks of size M, MLP decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aktrec.config import RQVAEConfig


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, d) straight-through sum of the chosen code vectors
    codes: torch.Tensor  # (B, N) int64
    codebook_loss: torch.Tensor  # sum over levels of ||sg(r_{k-1}) - e_k||²
    commitment_loss: torch.Tensor  # sum over levels of ||r_{k-1} - sg(e_k)||²


class ResidualQuantizer(nn.Module):
    """id_k = argmin_j ||r_{k-1} - e_{k,j}||, r_k = r_{k-1} - e_{k,id_k}, r_0 = z."""

    def __init__(self, n_levels: int, codebook_size: int, dim: int):
        super().__init__()
        self.codebooks = nn.Parameter(torch.randn(n_levels, codebook_size, dim) * 0.1)  # (N, M, d)

    @property
    def n_levels(self) -> int:
        return self.codebooks.shape[0]

    def residuals(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Codes (B, N) and the residual entering each level, [(B, d)] * N."""
        residual, codes, entering = z, [], []
        for level in range(self.n_levels):
            entering.append(residual)
            with torch.no_grad():  # the choice of code is not differentiable
                index = torch.cdist(residual, self.codebooks[level]).argmin(dim=1)
            codes.append(index)
            residual = residual - self.codebooks[level][index]
        return torch.stack(codes, dim=1), entering

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        codes, entering = self.residuals(z)
        chosen = [self.codebooks[level][codes[:, level]] for level in range(self.n_levels)]
        codebook_loss = sum(((r.detach() - e) ** 2).sum(dim=1).mean() for r, e in zip(entering, chosen))
        commitment_loss = sum(((r - e.detach()) ** 2).sum(dim=1).mean() for r, e in zip(entering, chosen))
        quantized = torch.stack(chosen).sum(dim=0)
        return QuantizerOutput(z + (quantized - z).detach(), codes, codebook_loss, commitment_loss)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, N) codes -> (B, d) sum of their code vectors."""
        return sum(self.codebooks[level][codes[:, level]] for level in range(self.n_levels))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


@dataclass
class RQVAEOutput:
    reconstruction: torch.Tensor  # (B, D)
    codes: torch.Tensor  # (B, N)
    reconstruction_loss: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor

    def loss(self, commitment_weight: float) -> torch.Tensor:
        return self.reconstruction_loss + self.codebook_loss + commitment_weight * self.commitment_loss


class RQVAE(nn.Module):
    """(B, D) representations -> (B, N) codes and (B, D) reconstructions."""

    def __init__(self, input_dim: int, config: RQVAEConfig):
        super().__init__()
        self.input_dim = input_dim
        self.encoder = _mlp([input_dim, config.hidden_dim, config.latent_dim])
        self.quantizer = ResidualQuantizer(config.n_levels, config.codebook_size, config.latent_dim)
        self.decoder = _mlp([config.latent_dim, config.hidden_dim, input_dim])

    def forward(self, x: torch.Tensor) -> RQVAEOutput:
        quantized = self.quantizer(self.encoder(x))
        reconstruction = self.decoder(quantized.quantized)
        return RQVAEOutput(
            reconstruction=reconstruction,
            codes=quantized.codes,
            reconstruction_loss=((reconstruction - x) ** 2).sum(dim=1).mean(),
            codebook_loss=quantized.codebook_loss,
            commitment_loss=quantized.commitment_loss,
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, N) codes."""
        return self.quantizer.residuals(self.encoder(x))[0]
