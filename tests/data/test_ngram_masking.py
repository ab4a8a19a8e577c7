"""ALBERT n-gram masking (design as the denoising collator: seeded; tolerances of 5 standard errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tobigs_transformer.data.ngram_masking import (
    DataCollatorForNgramMasking,
    ngram_probabilities,
    sample_ngram_lengths,
)

from .conftest import make_word_level_tokenizer

PAD, CLS, SEP, MASK = 0, 2, 3, 4


@pytest.fixture(scope="module")
def bert_words():
    return make_word_level_tokenizer(4995, specials="bert")


def _within(count: int, total: int, p: float) -> bool:
    return abs(count / total - p) < 5 * math.sqrt(p * (1 - p) / total)


def test_raw_lengths_follow_one_over_n():
    assert torch.allclose(ngram_probabilities(3), torch.tensor([6 / 11, 3 / 11, 2 / 11], dtype=torch.float64))
    generator = torch.Generator().manual_seed(0)
    draws = torch.cat([sample_ngram_lengths(30, 3, generator) for _ in range(1500)])
    counts = torch.bincount(draws, minlength=4)[1:]
    for n, p in zip(range(1, 4), (6 / 11, 3 / 11, 2 / 11)):
        assert _within(int(counts[n - 1]), draws.numel(), p), (n, counts.tolist())
    raw = sample_ngram_lengths(30, 3, generator)
    assert raw[:-1].sum() < 30 <= raw.sum()  # stops at the draw that crosses the budget


def _runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True."""
    edges = np.diff(np.concatenate(([0], flags.astype(int), [0])))
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


def test_whole_ngrams_exact_budget_and_80_10_10(bert_words):
    collator = DataCollatorForNgramMasking(bert_words, mlm_probability=0.15, seed=0)
    rng = np.random.default_rng(0)
    features, lengths = [], []
    for _ in range(400):
        first, second = rng.integers(20, 60, size=2)
        words = (rng.permutation(4995)[: first + second] + 5).tolist()
        features.append({"input_ids": [CLS, *words[:first], SEP, *words[first:], SEP]})
    selected = masked = random = 0
    for start in range(0, len(features), 50):
        chunk = features[start : start + 50]
        batch = collator(chunk)
        for row, feature in enumerate(chunk):
            ids = torch.tensor(feature["input_ids"])
            source, labels = batch["input_ids"][row, : ids.numel()], batch["labels"][row, : ids.numel()]
            chosen = labels != -100
            maskable = ~torch.isin(ids, torch.tensor([CLS, SEP]))
            assert not chosen[~maskable].any() and (batch["labels"][row, ids.numel():] == -100).all()
            assert int(chosen.sum()) == max(1, math.floor(0.15 * int(maskable.sum()) + 0.5))  # exact budget
            assert torch.equal(labels[chosen], ids[chosen])
            # whole n-grams, at most 3 long, separated (in the maskable tokens' own order)
            runs = _runs(chosen[maskable].numpy())
            assert max(runs) <= 3
            lengths += runs
            selected += int(chosen.sum())
            masked += int((source[chosen] == MASK).sum())
            random += int(((source[chosen] != MASK) & (source[chosen] != ids[chosen])).sum())
    assert _within(masked, selected, 0.8) and _within(random, selected, 0.1 * (1 - 1 / len(bert_words)))
    # the run lengths are the n-grams (only each row's last draw is cut to fit the budget)
    share = np.bincount(lengths, minlength=4)[1:] / len(lengths)
    assert np.allclose(share, [6 / 11, 3 / 11, 2 / 11], atol=0.05), share
    assert share[1] > 0.2 and share[2] > 0.12  # n-grams, not BERT's single tokens


def test_seeded_and_single_tokens_with_max_ngram_one(bert_words):
    features = [{"input_ids": [CLS, *range(10, 90), SEP]} for _ in range(4)]
    a = DataCollatorForNgramMasking(bert_words, seed=3)(features)
    b = DataCollatorForNgramMasking(bert_words, seed=3)(features)
    assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["input_ids"], b["input_ids"])
    single = DataCollatorForNgramMasking(bert_words, max_ngram=1, seed=3)(features)
    for row in single["labels"]:
        assert _runs((row != -100).numpy()) and max(_runs((row != -100).numpy())) == 1


@pytest.mark.parametrize("kwargs,match", [({"max_ngram": 0}, "max_ngram must be an int >= 1, got 0"),
                                          ({"whole_word_mask": True}, "whole_word_mask must be False"),
                                          ({"mlm": False}, "mlm must be True")])
def test_bad_arguments(bert_words, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataCollatorForNgramMasking(bert_words, **kwargs)
