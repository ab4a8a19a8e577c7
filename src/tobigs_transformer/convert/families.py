"""What a family module declares: its class pairs (transformers class <-> tobigs class, prefixes, head rules)
and the `Family` that bundles them with its config mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..model.configuration_tobigs import TobigsConfig
from .errors import ConversionError
from .rules import Rule


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
