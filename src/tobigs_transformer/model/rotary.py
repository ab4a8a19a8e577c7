"""Rotary position embedding (Su et al. 2021, RoFormer §3.4): positions enter attention by rotating the query and the
key, not by adding a vector to the input.

Each pair of dimensions (x_i, x_{i + d/2}) of a head (the "rotate-half" pairing of transformers' Llama) is rotated by
the angle m·θ_i of its token's position m, with θ_i = 10000^(-2i/d) as in the sinusoids of §3.5:

    f(x, m)_i       = x_i cos(m θ_i) - x_{i+d/2} sin(m θ_i)
    f(x, m)_{i+d/2} = x_{i+d/2} cos(m θ_i) + x_i sin(m θ_i)

A rotation by m θ and one by n θ compose into one by (m - n) θ, so <f(q, m), f(k, n)> depends on the positions only
through m - n (RoFormer Eq. 16): the attention score is relative although the positions given are absolute.
"""

import torch
from torch import nn

ROTARY_BASE = 10000.0  # θ_i = base^(-2i/d), the paper's (and §3.5's) base


def rotary_frequencies(head_dim: int, base: float = ROTARY_BASE, device: torch.device | None = None) -> torch.Tensor:
    """θ_i = base^(-2i/d) for i = 0 .. d/2 - 1: (head_dim // 2,) in float32."""
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)


class RotaryEmbedding(nn.Module):
    """cos(m θ) and sin(m θ) for every position m, computed once per forward by the stack and shared by its layers.

    No buffer: θ is recomputed from `head_dim` (a handful of numbers), so nothing has to be saved or re-initialised
    when a checkpoint is loaded."""

    def __init__(self, head_dim: int, base: float = ROTARY_BASE):
        super().__init__()
        if head_dim % 2:
            raise ValueError(
                f"rotary positions rotate pairs of dimensions: the head dimension must be even, got {head_dim}"
            )
        self.head_dim = head_dim
        self.base = base

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """position_ids: (B or 1, T) -> cos, sin: (B or 1, T, head_dim), in `dtype`."""
        frequencies = rotary_frequencies(self.head_dim, self.base, position_ids.device)
        angles = position_ids.float().unsqueeze(-1) * frequencies  # (B, T, d/2): m θ_i
        angles = torch.cat([angles, angles], dim=-1)  # (B, T, d): the same angle for x_i and x_{i+d/2}
        return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x_1, x_2) -> (-x_2, x_1) on the two halves of the last dimension: the 90° turn of every pair."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """f(x, m) = x cos(m θ) + rotate_half(x) sin(m θ). x: (B, H, T, Dh); cos, sin: (B or 1, T, Dh)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, T, Dh): the same rotation for every head
    return x * cos + rotate_half(x) * sin
