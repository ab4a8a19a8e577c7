"""Operations between transformers' tensor(s) and ours, both ways (`to_ours`, `to_hf`): the verbs of a key map's
`Rule`s (rename, transpose, concatenate, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..model.configuration_tobigs import TobigsConfig
from ..model.positional_encoding import sinusoidal_table
from .errors import ConversionError


@dataclass(frozen=True)
class Op:
    """A reversible tensor operation between `n` transformers tensors and one tensor of ours.

    `to_ours(tensors, config, keys)` returns our tensor, or None for a tensor we do not store (it is only checked);
    `to_hf(tensor, config, count)` returns transformers' tensors, or None where transformers rebuilds them itself.
    """

    name: str
    to_ours: Callable[[list[torch.Tensor], TobigsConfig, list[str]], torch.Tensor | None]
    to_hf: Callable[[torch.Tensor | None, TobigsConfig, int], list[torch.Tensor] | None]


def _single(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0]


def _same(tensors: list[torch.Tensor], config: TobigsConfig, keys: list[str]) -> torch.Tensor:
    for key, tensor in zip(keys[1:], tensors[1:]):
        if tensor.shape != tensors[0].shape or not torch.equal(tensor, tensors[0]):
            raise ConversionError(
                f"{keys[0]} and {key} must hold the same tensor (tobigs_transformer stores it once), but they differ"
            )
    return tensors[0]


def _check_sinusoid(tensors: list[torch.Tensor], config: TobigsConfig, keys: list[str]) -> None:
    for key, tensor in zip(keys, tensors):
        expected = sinusoidal_table(tensor.shape[0], tensor.shape[1], config.sinusoidal_layout).to(tensor.dtype)
        # fp32: the tables agree to rounding; half precision: to a couple of units in the last place.
        atol = 1e-5 if tensor.dtype == torch.float32 else 2 * torch.finfo(tensor.dtype).eps
        if tuple(tensor.shape) != (config.max_position_embeddings, config.d_model) or not torch.allclose(
            tensor.float(), expected.float(), rtol=0.0, atol=atol
        ):
            raise ConversionError(
                f"{key} is not the fixed {config.sinusoidal_layout} sinusoid table of shape "
                f"({config.max_position_embeddings}, {config.d_model}) that tobigs_transformer rebuilds from the "
                "config; trained or modified position tables cannot be converted"
            )
    return None


RENAME = Op("rename", lambda t, c, k: _single(t), lambda t, c, n: [t])
# transformers' Conv1D (GPT-2) stores W as (in, out); nn.Linear as (out, in).
TRANSPOSE = Op("transpose", lambda t, c, k: _single(t).t().contiguous(), lambda t, c, n: [t.t().contiguous()])
# Separate projections stacked on the output dimension (W^Q|W^K|W^V, or W^K|W^V), split back in equal parts.
CAT = Op("cat", lambda t, c, k: torch.cat(t, dim=0), lambda t, c, n: [part.clone() for part in t.chunk(n, dim=0)])
# Several transformers names for one tensor (shared/tied embeddings, BERT's tied decoder bias): all must be equal.
SAME = Op("same", _same, lambda t, c, n: [t] * n)
# BART/Marian `final_logits_bias` is a (1, vocab) buffer; our LM head bias is (vocab,).
ROW = Op("row", lambda t, c, k: _single(t).reshape(-1), lambda t, c, n: [t.reshape(1, -1)])
# Marian's sinusoid tables: checked against ours, not stored; transformers rebuilds them in its own init.
SINUSOID = Op("sinusoid", _check_sinusoid, lambda t, c, n: None)


def _check_zero_bias(tensor: torch.Tensor, config: TobigsConfig, count: int) -> list[torch.Tensor]:
    if torch.count_nonzero(tensor):
        raise ConversionError(
            "the LM head bias (lm_head_bias=True) holds non-zero values, but the transformers class has no output "
            "bias to hold them (e.g. BartForCausalLM); it cannot be exported exactly"
        )
    return []


# An output bias of ours that the transformers class does not have (BartForCausalLM, unlike BART's seq2seq model):
# zeros when converting in, checked to be zeros when converting out.
ZERO_BIAS = Op("zero-bias", lambda t, c, k: torch.zeros(c.vocab_size), _check_zero_bias)
