"""The strict conversion engine: key maps are data, this file applies them and refuses anything approximate.

A family module (gpt2.py, bert.py, bart.py, marian.py) describes its checkpoint layout as a list of `Rule`s, each
pairing transformers' parameter name(s) with ours and naming the operation between them:

    rule("h.{i}.attn.c_attn.{p}", "decoder.layers.{i}.self_attn.qkv_proj.{p}", TRANSPOSE)
    rule(["layers.{i}.self_attn.q_proj.{p}", "...k_proj.{p}", "...v_proj.{p}"], "...qkv_proj.{p}", CAT)

`{i}` matches a layer index and `{p}` a parameter name (`weight` or `bias`). Every operation works both ways, so one
table serves `convert_from_hf` and `convert_to_hf`. `convert_state_dict` then checks, before anything is loaded,
that every source tensor is used exactly once, that every target tensor is filled, and that every shape matches; a
violation raises `ConversionError` naming the keys. This is torchtune's `convert_weights.py` idea (mapping tables plus
a function that raises on any key it does not know) made bidirectional and exhaustive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..model.configuration_tobigs import TobigsConfig
from .errors import ConversionError
from .rules import Rule, expand


@dataclass
class _Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, title: str, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        if keys:
            shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
            self.lines.append(f"{title} ({len(keys)}): {shown}")

    def raise_if_any(self, what: str) -> None:
        if self.lines:
            raise ConversionError(f"cannot convert {what} exactly:\n  " + "\n  ".join(self.lines))


def convert_state_dict(
    source: dict[str, torch.Tensor],
    target_shapes: dict[str, torch.Size],
    rules: Sequence[Rule],
    direction: str,
    config: TobigsConfig,
    what: str = "the checkpoint",
) -> dict[str, torch.Tensor]:
    """Map `source` (transformers' state dict when `direction="from_hf"`, ours when `"to_hf"`) onto the keys and
    shapes of the target model. Returns the target tensors; raises `ConversionError` unless every source tensor is
    used exactly once, every target tensor is filled (or rebuilt by the target itself) and every shape matches."""
    if direction not in ("from_hf", "to_hf"):
        raise ValueError(f"direction must be 'from_hf' or 'to_hf', got {direction!r}")
    from_hf = direction == "from_hf"
    hf_keys, ours_keys = (source, target_shapes) if from_hf else (target_shapes, source)
    concrete = expand(rules, hf_keys, ours_keys)

    problems = _Problems()
    used: dict[str, int] = {}
    produced: dict[str, torch.Tensor] = {}
    rebuilt: set[str] = set()  # target keys that the target model fills itself (Marian's sinusoid tables)
    missing_source, unknown_target, bad_shapes = [], [], []
    reported: set[str] = set()  # target keys already named by another problem
    for c in concrete:
        src_keys = list(c.hf) if from_hf else ([c.ours] if c.ours is not None else [])
        tgt_keys = ([c.ours] if c.ours is not None else []) if from_hf else list(c.hf)
        for key in src_keys:
            used[key] = used.get(key, 0) + 1
        absent = [key for key in src_keys if key not in source]
        missing_source += absent
        unknown_target += [key for key in tgt_keys if key not in target_shapes]
        if absent or any(key not in target_shapes for key in tgt_keys):
            reported.update(tgt_keys)
            continue
        with torch.no_grad():
            if from_hf:
                out = c.op.to_ours([source[key] for key in c.hf], config, list(c.hf))
                outputs = [] if out is None else [out]
            else:
                outs = c.op.to_hf(source[c.ours] if c.ours is not None else None, config, len(c.hf))
                if outs is None:
                    rebuilt.update(tgt_keys)
                    outputs = []
                else:
                    outputs = outs
        for key, tensor in zip(tgt_keys, outputs):
            if tuple(tensor.shape) != tuple(target_shapes[key]):
                bad_shapes.append(f"{key} {tuple(tensor.shape)} vs {tuple(target_shapes[key])} ({c.op.name})")
                reported.add(key)
                continue
            produced[key] = tensor

    problems.add("source tensors the key map expects but the source lacks", missing_source)
    problems.add("target tensors the key map produces but the target model lacks", unknown_target)
    problems.add("source tensors used more than once", [k for k, n in used.items() if n > 1])
    problems.add("source tensors no rule uses", [k for k in source if k not in used])
    problems.add("target tensors left unfilled",
                 [k for k in target_shapes if k not in produced and k not in rebuilt and k not in reported])
    problems.add("shape mismatches (converted vs target)", bad_shapes)
    problems.raise_if_any(what)
    return produced


def load_exactly(model: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str = "the converted model") -> None:
    """Load converted tensors and check each one arrived unchanged (a tie in the target that the source did not have
    would silently overwrite one tensor with another)."""
    result = model.load_state_dict(tensors, strict=False)
    if result.unexpected_keys:
        raise ConversionError(f"{what} has no parameters {sorted(result.unexpected_keys)}")
    state = model.state_dict()
    conflicting = [key for key, tensor in tensors.items() if not torch.equal(state[key], tensor.to(state[key].dtype))]
    if conflicting:
        raise ConversionError(
            f"{what} ties together tensors that differ in the source: {sorted(conflicting)}; "
            "check tie_word_embeddings"
        )


def require(reasons: list[str], what: str) -> None:
    """Raise one error listing every reason why a config cannot be expressed exactly."""
    if reasons:
        raise ConversionError(f"{what} cannot be converted exactly:\n  - " + "\n  - ".join(reasons))
