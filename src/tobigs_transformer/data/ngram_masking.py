"""ALBERT's n-gram masking (Lan et al. 2020, §4.1; google-research/albert ``create_pretraining_data.py``).

BERT masks single tokens; ALBERT masks n-grams of up to three tokens, a length n chosen with probability

    p(n) = (1/n) / (1/1 + 1/2 + ... + 1/N)        (N = 3: p = 6/11, 3/11, 2/11)

and every token of a chosen n-gram is masked (BERT's 80/10/10 rule per token), until 15 % of the maskable tokens are
covered.  :class:`DataCollatorForNgramMasking` is ``transformers.DataCollatorForLanguageModeling`` with that choice
of positions; everything else (padding, ``special_tokens_mask``, the 80/10/10 replacement, ``seed``) is the parent's.

Project decisions, as in the denoising collator:

* the budget is exact: ``max(1, round(mlm_probability · k))`` of the ``k`` maskable (non-special) tokens of a row;
* lengths are drawn i.i.d. from p(n) until they reach the budget, the last one cut so that they sum to it exactly
  (:func:`sample_ngram_lengths` returns the uncut draws, which follow p(n) exactly: that is what a test can check);
* the n-grams are placed uniformly at random without overlap and, where the row has room, with at least one unmasked
  token between two of them (so each masked run is one n-gram).  As in ALBERT, an n-gram is consecutive among the
  maskable tokens: it may run over a ``[SEP]`` between two segments, never onto it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling

__all__ = ["DataCollatorForNgramMasking", "ngram_probabilities", "sample_ngram_lengths"]


def ngram_probabilities(max_ngram: int = 3) -> torch.Tensor:
    """p(n) ∝ 1/n for n = 1 … ``max_ngram`` (index n-1)."""
    if isinstance(max_ngram, bool) or not isinstance(max_ngram, int) or max_ngram < 1:
        raise ValueError(f"max_ngram must be an int >= 1, got {max_ngram!r}")
    weights = 1.0 / torch.arange(1, max_ngram + 1, dtype=torch.float64)
    return weights / weights.sum()


def sample_ngram_lengths(budget: int, max_ngram: int = 3, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lengths drawn i.i.d. from p(n) ∝ 1/n until their sum reaches ``budget``: every draw up to and including the
    one that crosses it, uncut (the collator cuts the last so the lengths sum to the budget)."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be an int >= 0, got {budget!r}")
    probabilities = ngram_probabilities(max_ngram)
    lengths = torch.empty(0, dtype=torch.long)
    while int(lengths.sum()) < budget:
        more = torch.multinomial(probabilities, budget, replacement=True, generator=generator) + 1
        lengths = torch.cat([lengths, more])
    crossing = int(torch.searchsorted(lengths.cumsum(0), torch.tensor(budget), side="left")) if budget else -1
    return lengths[: crossing + 1]


@dataclass
class DataCollatorForNgramMasking(DataCollatorForLanguageModeling):
    """``DataCollatorForLanguageModeling`` that masks ALBERT's n-grams (n ≤ ``max_ngram``, p(n) ∝ 1/n) covering
    exactly ``round(mlm_probability · k)`` of a row's ``k`` maskable tokens."""

    max_ngram: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        ngram_probabilities(self.max_ngram)  # validates max_ngram
        if not self.mlm:
            raise ValueError("DataCollatorForNgramMasking masks tokens: mlm must be True")
        if self.whole_word_mask:
            raise ValueError("DataCollatorForNgramMasking chooses its own spans: whole_word_mask must be False")

    def torch_mask_tokens(self, inputs: Any, special_tokens_mask: Any | None = None,
                          offset_mapping: Any | None = None) -> tuple[Any, Any]:
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                                   for row in labels.tolist()]
        special = torch.as_tensor(special_tokens_mask, dtype=torch.bool)
        masked = torch.zeros_like(special)
        for row in range(inputs.shape[0]):
            candidates = torch.nonzero(~special[row]).squeeze(1)  # (k,) positions that may be masked
            if candidates.numel():
                masked[row, candidates[self._ngram_positions(candidates.numel())]] = True
        labels[~masked] = -100
        return self._replace(inputs, masked), labels

    def _ngram_positions(self, k: int) -> torch.Tensor:
        """Indices (into the k maskable tokens) covered by n-grams placed without overlap."""
        budget = max(1, math.floor(k * self.mlm_probability + 0.5))
        lengths = sample_ngram_lengths(budget, self.max_ngram, self.generator)
        lengths[-1] = budget - lengths[:-1].sum()
        lengths = lengths[torch.randperm(lengths.numel(), generator=self.generator)]
        m, free = lengths.numel(), k - budget
        min_gap = 1 if free >= m - 1 else 0
        spare = free - min_gap * (m - 1)
        # stars and bars: uniform over the arrangements of m ordered n-grams with >= min_gap tokens between them
        slots = torch.sort(torch.randperm(spare + m, generator=self.generator)[:m]).values
        starts = slots - torch.arange(m) + (lengths.cumsum(0) - lengths) + min_gap * torch.arange(m)
        return torch.cat([torch.arange(int(s), int(s) + int(n)) for s, n in zip(starts, lengths)])

    def _replace(self, inputs: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """BERT's rule on each chosen token: [MASK] (``mask_replace_prob``), a random token (``random_replace_prob``)
        or unchanged."""
        draw = torch.rand(inputs.shape, generator=self.generator)
        to_mask = masked & (draw < self.mask_replace_prob)
        to_random = masked & ~to_mask & (draw < self.mask_replace_prob + self.random_replace_prob)
        inputs[to_mask] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        random_words = torch.randint(len(self.tokenizer), inputs.shape, dtype=torch.long, generator=self.generator)
        inputs[to_random] = random_words[to_random]
        return inputs
