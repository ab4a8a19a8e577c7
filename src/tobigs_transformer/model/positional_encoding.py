"""Positional information: the fixed sinusoidal encoding of the paper (§3.5) and learned position embeddings.

Self-attention is permutation-invariant, so the order of the tokens has to be added to their embeddings:

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

"Encoding" here means the fixed table (no parameters); "embedding" the trained table of GPT, BERT and BART.
"""

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int, layout: str = "interleaved",
                     dtype: torch.dtype | None = None) -> torch.Tensor:
    """The (num_positions, dim) sinusoid table of §3.5, computed in float64 and rounded once to `dtype` (default:
    torch's default dtype, which `from_pretrained(dtype=...)` sets while it builds the model, so the table is born in
    the dtype of the parameters around it).

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
    return table.to(torch.get_default_dtype() if dtype is None else dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Looks positions up in the fixed sinusoid table.

    The table is a non-persistent buffer: it is not saved in checkpoints and is rebuilt from the config by
    `TobigsPreTrainedModel._init_weights` (a buffer that is neither saved nor rebuilt comes back as garbage after
    `from_pretrained`). It follows the parameters' dtype (built in the default dtype, cast by `.to(dtype)`); the
    lookup is also cast to the dtype of the embeddings it is added to, so a table left in another dtype cannot turn
    a half-precision model's hidden states back to float32.
    """

    def __init__(self, num_positions: int, dim: int, layout: str = "interleaved"):
        super().__init__()
        self.layout = layout
        self.register_buffer("pe", sinusoidal_table(num_positions, dim, layout), persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """(B, T) -> (B, T, d_model), in `dtype` (default: the table's)."""
        rows = self.pe[position_ids]
        # Compared first: even a no-op .to costs a few microseconds per call, the float32 path pays nothing.
        return rows if dtype is None or rows.dtype == dtype else rows.to(dtype)


class LearnedPositionalEmbedding(nn.Embedding):
    """A trained table of position vectors (GPT, BERT, BART); `offset` skips rows reserved by BART and RoBERTa
    checkpoints (RoBERTa's padding tokens read one of them, `padding_idx`: it starts at zero and is never trained)."""

    def __init__(self, num_positions: int, dim: int, offset: int = 0, padding_idx: int | None = None):
        super().__init__(num_positions + offset, dim, padding_idx=padding_idx)
        self.offset = offset

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        if self.offset:  # BART's 2 reserved rows; GPT/BERT (offset 0) skip the addition, one op per forward
            position_ids = position_ids + self.offset
        return super().forward(position_ids)  # (B, T) -> (B, T, d_model)


def positions_from_mask(attention_mask: torch.Tensor, past_length: int, seq_length: int) -> torch.Tensor:
    """Position of each new token counted over real (unpadded) tokens only, so a left-padded prompt gets the same
    positions as the prompt alone. Padding positions keep their plain index (their outputs are never used)."""
    plain = torch.arange(attention_mask.shape[-1], device=attention_mask.device).expand_as(attention_mask)
    counted = attention_mask.long().cumsum(-1) - 1
    position_ids = torch.where(attention_mask.bool(), counted, plain)
    return position_ids[:, past_length : past_length + seq_length]  # (B, T)


def positions_skipping_padding(input_ids: torch.Tensor, pad_token_id: int, pad_position: int) -> torch.Tensor:
    """RoBERTa's (fairseq's) positions, read from the ids: real tokens count 0, 1, ... over the non-padding ids, and
    padding gets `pad_position` (the table's padding row, counted from its offset)."""
    real = input_ids != pad_token_id
    counted = real.long().cumsum(-1) - 1
    return torch.where(real, counted, torch.full_like(counted, pad_position))  # (B, T)


def compute_position_ids(
    input_ids: torch.Tensor | None,
    seq_length: int,
    device: torch.device,
    attention_mask: torch.Tensor | None = None,
    past_length: int | torch.Tensor = 0,
    pad_token_id: int | None = None,
    pad_position: int | None = None,
) -> torch.Tensor:
    """The position of each new token when the caller gives none: (B, T), or (1, T) when every row counts the same.

    One rule per family: RoBERTa (`pad_position` set) counts the non-padding ids; otherwise a 2-D mask is counted
    (left padding does not shift the prompt) and without one the tokens continue after the cached ones."""
    if pad_position is not None:
        if input_ids is not None:
            return positions_skipping_padding(input_ids, pad_token_id, pad_position)
        # as RoBERTa: embeddings give no padding to skip, the positions are sequential
        return torch.arange(seq_length, device=device).unsqueeze(0)  # (1, T)
    if attention_mask is not None and attention_mask.dim() == 2:
        return positions_from_mask(attention_mask, past_length, seq_length)
    # past_length may be a tensor (static cache): add it rather than pass it to arange, for torch.compile.
    position_ids = torch.arange(seq_length, device=device) + past_length
    return position_ids.unsqueeze(0)  # (1, T), broadcast over the batch
