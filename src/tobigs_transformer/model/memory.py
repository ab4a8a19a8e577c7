"""Transformer-XL's segment-level recurrence (Dai et al. 2019, §3.2): each layer also attends over its own input of
the previous segment(s), cached with the gradient stopped ("SG(h_{tau-1})"), so the context reaches back N x mem_len
tokens without backpropagating through time.

The memory of a forward is returned as `mems` (one (B, M, d_model) tensor per layer, M <= mem_len) and fed back by
the caller as `mems=` on the next segment; `None` starts afresh. In `generate()` the key/value cache holds the prompt
and the generated tokens, and `mems` (if given) the segments before the prompt: both are attended to.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from transformers.cache_utils import Cache
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    BaseModelOutputWithPastAndCrossAttentions,
    CausalLMOutputWithPast,
)

from .configuration_tobigs import TobigsConfig

Memory = tuple[torch.Tensor, ...]


def check_memory(config: TobigsConfig, mems: Memory | None, batch_size: int, dtype: torch.dtype | None = None,
                 device: torch.device | None = None) -> int:
    """The memory fed back must be what a forward of this model returned: one tensor per layer, (B, M, d_model) with
    the batch of the inputs, in the dtype of the model's parameters (`dtype`; any under autocast, whose kernels cast
    for themselves) and on the device of the inputs (`device`). Returns M (0 without memory).

    A memory of another dtype or device would otherwise fail inside the first layer as "mat1 and mat2 must have the
    same dtype" or "Expected all tensors to be on the same device", naming neither `mems` nor the fix."""
    if mems is None:
        return 0
    if config.mem_len == 0:
        raise ValueError("mems were given but this model keeps no memory (mem_len=0); set mem_len > 0 in the config")
    if len(mems) != config.decoder_layers:
        raise ValueError(f"mems must hold one tensor per layer ({config.decoder_layers}), got {len(mems)}")
    shape = tuple(mems[0].shape)
    if len(shape) != 3 or shape[0] != batch_size or shape[2] != config.d_model:
        raise ValueError(f"mems[0] has shape {shape}; it must be (batch={batch_size}, memory length, "
                         f"d_model={config.d_model}), as returned by the previous forward on this batch of streams")
    if any(tuple(layer.shape) != shape for layer in mems):
        raise ValueError(f"every layer's memory must have the shape of mems[0] {shape}")
    for index, layer in enumerate(mems):
        if device is not None and layer.device != device:
            raise ValueError(f"mems[{index}] is on {layer.device} but the inputs are on {device}; move the memory "
                             f"with the inputs: mems = tuple(m.to({str(device)!r}) for m in mems)")
        if dtype is not None and layer.dtype != dtype and not torch.is_autocast_enabled(layer.device.type):
            raise ValueError(f"mems[{index}] has dtype {layer.dtype} but the model's parameters are {dtype} (a memory "
                             f"kept from a model in another dtype?); cast it: mems = tuple(m.to({dtype}) for m in mems)")
    return shape[1]


def check_prompt_memory(mems: Memory, prompts: int) -> None:
    """`generate(..., mems=mems)`: row b of the memory is the context before prompt b, so the memory's batch must be
    the batch of prompts (before generate repeats both for beams and returned sequences). A memory of another batch
    is refused rather than copied into every row; a caller who means one context for every prompt says so by
    expanding it."""
    if not isinstance(mems, (tuple, list)) or not mems or not torch.is_tensor(mems[0]) or mems[0].dim() != 3:
        return  # not a memory at all: the forward's check_memory names what is wrong with it
    streams = mems[0].shape[0]
    if streams != prompts:
        raise ValueError(
            f"generate() got mems for a batch of {streams} stream(s) but {prompts} prompt(s): row b of the memory is "
            f"the context before prompt b, so the two batch sizes must match; to give every prompt the memory of one "
            f"stream, expand it yourself: mems = tuple(m.expand({prompts}, -1, -1) for m in mems)"
        )


def update_memory(memory: torch.Tensor | None, layer_input: torch.Tensor, mem_len: int) -> torch.Tensor:
    """The next memory of one layer: the last `mem_len` of [memory; this segment's input to the layer], detached so
    that no gradient flows into the previous segment (the paper's stop-gradient)."""
    states = layer_input if memory is None else torch.cat([memory, layer_input], dim=1)  # (B, M + T, d_model)
    return states[:, -mem_len:].detach()


class KeptProjection(NamedTuple):
    """One layer's memory keys/values as computed, with what they were computed from."""

    memory: torch.Tensor
    memory_version: int | None  # None: an inference tensor, which keeps no version counter
    parameters: tuple[tuple[torch.Tensor, int], ...]  # (parameter, its version) for every parameter read
    key_value: tuple[torch.Tensor, torch.Tensor]


def _version(tensor: torch.Tensor) -> int | None:
    return None if tensor.is_inference() else tensor._version


def kept_on_cache(cache: Cache | None, layer_idx: int | None, name: str) -> dict | None:
    """The {layer_idx: kept value} store called `name` on the cache object, or None where nothing may be kept: no
    cache (or layer index), gradients enabled (training: a kept value would cut the gradient to the weights), or
    under torch.compile (reuse decided by data). Kept values live as long as the cache: one generate call."""
    if cache is None or layer_idx is None or torch.is_grad_enabled() or torch.compiler.is_compiling():
        return None
    return cache.__dict__.setdefault(name, {})


def parameter_versions(parameters: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, int | None], ...]:
    """(parameter, its version counter) for each: what a kept value was computed from."""
    return tuple((p, _version(p)) for p in parameters)


def same_parameters(kept: tuple, now: tuple) -> bool:
    """Whether `parameter_versions` taken now equal the kept ones: the same tensors, none modified since."""
    return len(kept) == len(now) and all(a is b and va == vb for (a, va), (b, vb) in zip(kept, now))


def projected_memory(cache: Cache | None, layer_idx: int, memory: torch.Tensor,
                     project: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                     parameters: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The keys and values of one layer's memory, `project(memory)`, computed once per cache while the memory stays
    the same: in `generate(..., mems=mems)` the memory is the fixed context before the prompt, and re-projecting it
    at every step costs B x M x d_model x 2 d_model multiply-adds per layer for nothing.

    The projection is kept on the cache object (`kept_on_cache`) and reused when the memory is the same tensor,
    unmodified (or, e.g. the per-beam copies made at every step, equal in value: one comparison of B x M x d_model
    values against the 2 d_model times more multiply-adds it saves) and no parameter it read has changed."""
    kept = kept_on_cache(cache, layer_idx, "_tobigs_projected_memory")
    if kept is None:
        return project(memory)
    versions = parameter_versions(parameters)
    entry = kept.get(layer_idx)
    if entry is not None and same_parameters(entry.parameters, versions) and _same_memory(entry, memory):
        return entry.key_value
    key_value = project(memory)
    kept[layer_idx] = KeptProjection(memory, _version(memory), versions, key_value)
    return key_value


def _same_memory(entry: KeptProjection, memory: torch.Tensor) -> bool:
    if entry.memory is memory and entry.memory_version is not None and entry.memory_version == _version(memory):
        return True
    stored = entry.memory
    return (stored.shape == memory.shape and stored.dtype == memory.dtype and stored.device == memory.device
            and torch.equal(stored, memory))


@dataclass
class DecoderOutputWithMemory(BaseModelOutputWithPastAndCrossAttentions):
    r"""mems: the memory for the next segment, one (batch, <= mem_len, d_model) tensor per layer (None: mem_len=0)."""

    mems: Memory | None = None


@dataclass
class BaseModelOutputWithPastAndMemory(BaseModelOutputWithPast):
    r"""mems: the memory for the next segment, one (batch, <= mem_len, d_model) tensor per layer (None: mem_len=0)."""

    mems: Memory | None = None


@dataclass
class CausalLMOutputWithMemory(CausalLMOutputWithPast):
    r"""mems: the memory for the next segment, one (batch, <= mem_len, d_model) tensor per layer (None: mem_len=0);
    pass it back as `mems=` with the segment that follows."""

    mems: Memory | None = None
