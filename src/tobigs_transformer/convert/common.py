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

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..model.configuration_tobigs import ACTIVATIONS, TobigsConfig
from ..model.positional_encoding import sinusoidal_table

# Placeholders of the key patterns and what they match.
PLACEHOLDERS = {"i": r"\d+", "p": r"weight|bias"}


class ConversionError(ValueError):
    """A checkpoint or config that cannot be converted exactly; the message names the offending keys or fields."""


# ---------------------------------------------------------------------------------------------------------------
# Operations: how transformers' tensor(s) become ours (`to_ours`) and back (`to_hf`).
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# Rules and their expansion into concrete key pairs.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """transformers' key pattern(s) <-> our key pattern (None: a tensor we do not store), and the operation."""

    hf: tuple[str, ...]
    ours: str | None
    op: Op = RENAME

    def with_prefixes(self, hf_prefix: str, ours_prefix: str) -> Rule:
        return Rule(tuple(hf_prefix + key for key in self.hf), None if self.ours is None else ours_prefix + self.ours,
                    self.op)


def rule(hf: str | Sequence[str], ours: str | None, op: Op = RENAME) -> Rule:
    return Rule((hf,) if isinstance(hf, str) else tuple(hf), ours, op)


def module_rules(
    hf_prefix: str, ours_prefix: str, modules: dict[str, str | Sequence[str]], op: Op = RENAME
) -> tuple[Rule, ...]:
    """A key table as data: one rule per module and all its parameters, `modules` mapping our module name (under
    `ours_prefix`) to transformers' (under `hf_prefix`). Several transformers modules for one of ours are stacked
    (`CAT`: separate W^Q, W^K, W^V into our fused `qkv_proj`); `op` applies to the others (`TRANSPOSE` for Conv1D).

        module_rules("h.{i}.", "decoder.layers.{i}.", {"ffn_layer_norm": "ln_2"})
        == (rule("h.{i}.ln_2.{p}", "decoder.layers.{i}.ffn_layer_norm.{p}"),)
    """
    rules = []
    for ours, hf in modules.items():
        names = (hf,) if isinstance(hf, str) else tuple(hf)
        rules.append(rule([f"{hf_prefix}{name}.{{p}}" for name in names], f"{ours_prefix}{ours}.{{p}}",
                          CAT if len(names) > 1 else op))
    return tuple(rules)


def _compile(pattern: str) -> re.Pattern:
    regex = re.escape(pattern)
    for name, body in PLACEHOLDERS.items():
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>{body})")
    return re.compile(regex + r"\Z")


def _bindings(pattern: str, keys: Iterable[str]) -> set[tuple]:
    regex = _compile(pattern)
    return {tuple(sorted(m.groupdict().items())) for key in keys if (m := regex.match(key))}


@dataclass(frozen=True)
class ConcreteRule:
    hf: tuple[str, ...]
    ours: str | None
    op: Op


def expand(rules: Sequence[Rule], hf_keys: Iterable[str], ours_keys: Iterable[str]) -> list[ConcreteRule]:
    """Instantiate each rule for every placeholder value (layer index, weight/bias) that occurs in either state dict.

    Looking at both sides means a tensor present on one side only shows up as missing instead of being skipped."""
    hf_keys, ours_keys = list(hf_keys), list(ours_keys)
    concrete = []
    for r in rules:
        found: set[tuple] = set()
        for pattern in r.hf:
            found |= _bindings(pattern, hf_keys)
        if r.ours is not None:
            found |= _bindings(r.ours, ours_keys)
        for binding in sorted(found):
            values = dict(binding)
            concrete.append(
                ConcreteRule(tuple(p.format(**values) for p in r.hf),
                             None if r.ours is None else r.ours.format(**values), r.op)
            )
    return concrete


# ---------------------------------------------------------------------------------------------------------------
# The strict conversion itself.
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# What a family module declares.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassPair:
    """One transformers class and its tobigs twin: the prefixes their shared body sits under and the head's rules.

    `ours_kwargs(hf_model)` / `hf_kwargs(our_model)` give extra constructor arguments (BERT's optional pooler)."""

    hf_class: str
    ours_class: str
    hf_prefix: str = ""
    ours_prefix: str = ""
    head_rules: tuple[Rule, ...] = ()
    ours_kwargs: Callable | None = None
    hf_kwargs: Callable | None = None


@dataclass(frozen=True)
class Family:
    """A transformers model family that converts exactly: its key map, its class pairs and its config mapping.

    `config_from_hf(hf_config) -> dict` returns TobigsConfig fields (raising for what has no exact equivalent);
    `config_to_hf(config) -> PreTrainedConfig` the reverse; `incompatibilities(config) -> list[str]` says why a
    TobigsConfig cannot be written as this family (empty when it can)."""

    name: str
    model_types: tuple[str, ...]
    base_rules: tuple[Rule, ...] | Callable[[TobigsConfig], tuple[Rule, ...]]
    pairs: tuple[ClassPair, ...]
    config_from_hf: Callable
    config_to_hf: Callable
    incompatibilities: Callable

    def pair_for_hf(self, hf_class_name: str) -> ClassPair:
        for pair in self.pairs:
            if pair.hf_class == hf_class_name:
                return pair
        raise ConversionError(
            f"{hf_class_name} is not supported; {self.name} converts "
            f"{', '.join(p.hf_class for p in self.pairs)}"
        )

    def pair_for_ours(self, ours_class_name: str, hf_class_name: str | None = None) -> ClassPair:
        for pair in self.pairs:
            if pair.ours_class == ours_class_name and hf_class_name in (None, pair.hf_class):
                return pair
        options = ", ".join(f"{p.ours_class} -> {p.hf_class}" for p in self.pairs)
        target = f" as {hf_class_name}" if hf_class_name else ""
        raise ConversionError(f"{ours_class_name} cannot be exported{target} to {self.name}; supported: {options}")

    def rules_for(self, pair: ClassPair, config: TobigsConfig | None = None) -> list[Rule]:
        """The pair's key map; a family whose layout follows the config (ALBERT's shared layers) gives
        `base_rules` as a function of the TobigsConfig."""
        base = self.base_rules(config) if callable(self.base_rules) else self.base_rules
        return [r.with_prefixes(pair.hf_prefix, pair.ours_prefix) for r in base] + list(pair.head_rules)


def class_pairs(hf_name: str, body: str, heads: dict[str, tuple[str, Sequence[Rule]]],
                bare_kwargs: Callable | None = None) -> tuple[ClassPair, ...]:
    """A family's classes: `{hf_name}Model` <-> `TobigsModel` (`bare_kwargs`: BERT's optional pooler), and for each
    `suffix: (our class, head rules)` in `heads` the class `{hf_name}{suffix}`, whose body sits under `body` in
    transformers and under `model.` in ours."""
    bare = ClassPair(f"{hf_name}Model", "TobigsModel", ours_kwargs=bare_kwargs, hf_kwargs=bare_kwargs)
    return (bare,) + tuple(ClassPair(hf_name + suffix, ours, body, "model.", tuple(head))
                           for suffix, (ours, head) in heads.items())


def mismatches(config: TobigsConfig, expected: dict, family: str) -> list[str]:
    """`name=value (FAMILY needs expected)` for every config value that `family` cannot express."""
    return [f"{name}={getattr(config, name)!r} ({family} needs {value!r})" for name, value in expected.items()
            if getattr(config, name) != value]


def token_fields(config) -> dict:
    """The special-token ids and task-head fields (labels, problem type) that both configs name alike, as they are."""
    return dict(pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                **common_config_fields(config))


def single_stack_fields(hf) -> dict:
    """What a GPT- or BERT-style checkpoint's config (`initializer_range`, no decoder start) gives alike: biased
    projections and no LM-head bias, no training recipe (plain normal init, no label smoothing), the embedding tie
    and the special tokens as it says."""
    return dict(attention_bias=True, lm_head_bias=False, init_std=hf.initializer_range, init_method="normal",
                label_smoothing=0.0, tie_word_embeddings=hf.tie_word_embeddings, decoder_start_token_id=None,
                **token_fields(hf))


def common_config_fields(hf_config) -> dict:
    """Task-head fields every PreTrainedConfig carries (labels, problem type), copied as they are."""
    fields = {}
    id2label = getattr(hf_config, "id2label", None)
    if id2label:
        fields["id2label"] = dict(id2label)
        fields["label2id"] = dict(getattr(hf_config, "label2id", {}) or {v: k for k, v in id2label.items()})
    if getattr(hf_config, "problem_type", None) is not None:
        fields["problem_type"] = hf_config.problem_type
    return fields


def activation_of(name, family: str) -> str:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConversionError(
            f"{family} activation {name!r} has no exact tobigs_transformer equivalent; "
            f"supported: {', '.join(ACTIVATIONS)}"
        )
    return name
