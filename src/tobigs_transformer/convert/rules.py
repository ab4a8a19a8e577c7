"""Key-map rules (transformers' parameter name(s), ours, the operation between them) and their expansion into
concrete key pairs; `{i}` matches a layer index, `{p}` a parameter name and `{k}` a cluster index (Transformer-XL's
adaptive softmax)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ops import CAT, RENAME, Op

# Placeholders of the key patterns and what they match.
PLACEHOLDERS = {"i": r"\d+", "p": r"weight|bias", "k": r"\d+"}


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
