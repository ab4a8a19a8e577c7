"""Positional information: the fixed sinusoidal encoding of the paper (§3.5) and learned position embeddings.

Self-attention is permutation-invariant, so the order of the tokens has to be added to their embeddings:

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

"Encoding" here means the fixed table (no parameters); "embedding" the trained table of GPT, BERT and BART.
"""

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int, layout: str = "interleaved") -> torch.Tensor:
    """The (num_positions, dim) sinusoid table of §3.5.

    `layout="interleaved"` puts sin in the even and cos in the odd columns as the paper writes it;
    `layout="concatenated"` puts all sines first and all cosines after them (fairseq and Marian checkpoints).
    """
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    frequencies = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (ceil(dim/2),)
    angles = position * frequencies  # (P, ceil(dim/2)): pos / 10000^(2i/d)
    sin, cos = torch.sin(angles), torch.cos(angles[:, : dim // 2])
    if layout == "interleaved":
        table = torch.empty(num_positions, dim, dtype=torch.float64)
        table[:, 0::2] = sin
        table[:, 1::2] = cos
    else:
        table = torch.cat([sin, cos], dim=1)
    return table.to(torch.float32)


class SinusoidalPositionalEncoding(nn.Module):
    """Looks positions up in the fixed sinusoid table.

    The table is a non-persistent buffer: it is not saved in checkpoints and is rebuilt from the config by
    `TobigsPreTrainedModel._init_weights` (a buffer that is neither saved nor rebuilt comes back as garbage after
    `from_pretrained`).
    """

    def __init__(self, num_positions: int, dim: int, layout: str = "interleaved"):
        super().__init__()
        self.layout = layout
        self.register_buffer("pe", sinusoidal_table(num_positions, dim, layout), persistent=False)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return self.pe[position_ids]  # (B, T) -> (B, T, d_model)


class LearnedPositionalEmbedding(nn.Embedding):
    """A trained table of position vectors (GPT, BERT, BART); `offset` skips rows reserved by BART and RoBERTa
    checkpoints (RoBERTa's padding tokens read one of them, `padding_idx`: it starts at zero and is never trained)."""

    def __init__(self, num_positions: int, dim: int, offset: int = 0, padding_idx: int | None = None):
        super().__init__(num_positions + offset, dim, padding_idx=padding_idx)
        self.offset = offset

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(position_ids + self.offset)  # (B, T) -> (B, T, d_model)
