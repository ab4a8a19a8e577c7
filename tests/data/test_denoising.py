"""BART noising collator: acceptance properties of design/collators.md B.3 (seeded; tolerances ≥ 5 standard errors).

Most tests use a WordLevel tokenizer with unique token ids (B.7): the original document is ``w0 … w{n-1}`` (ids
5 … 5+n-1), so aligning the corrupted source with it recovers exactly which tokens were kept, masked or deleted.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from tobigs_transformer.data import (
    DataCollatorForDenoising,
    NoisingConfig,
    sample_span_lengths,
    tokenize_for_denoising,
)

from .conftest import make_word_level_tokenizer


BOS, PAD, EOS, MASK = 0, 1, 2, 4
FIRST = 5  # first ordinary id


def doc(n: int, offset: int = FIRST) -> list[int]:
    return [BOS, *range(offset, offset + n), EOS]


def sources(batch) -> list[np.ndarray]:
    ids, att = batch["input_ids"].numpy(), batch["attention_mask"].numpy()
    return [row[: m.sum()] for row, m in zip(ids, att)]


def kept_and_masks(source: np.ndarray) -> tuple[np.ndarray, int]:
    inner = source[1:-1]
    return inner[inner != MASK], int((inner == MASK).sum())


# ------------------------------------------------------------------------------------------------ basic structure
def test_labels_decoder_inputs_and_padding(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.3, seed=0)
    features = [{"input_ids": doc(n)} for n in (40, 7, 0, 1, 100)]
    batch = collator(features)
    labels = batch["labels"].numpy()
    for row, f in zip(labels, features):
        n = len(f["input_ids"])
        assert row[:n].tolist() == f["input_ids"]
        assert (row[n:] == -100).all()
    dec = batch["decoder_input_ids"].numpy()
    assert (dec[:, 0] == EOS).all()  # BART: decoder_start_token_id = </s>
    shifted = labels[:, :-1].copy()
    shifted[shifted == -100] = PAD
    assert (dec[:, 1:] == shifted).all()
    for row, att in zip(batch["input_ids"].numpy(), batch["attention_mask"].numpy()):
        n = att.sum()
        assert att[:n].all() and not att[n:].any()
        assert row[0] == BOS and row[n - 1] == EOS and (row[n:] == PAD).all()
        assert not np.isin(row[1 : n - 1], [BOS, EOS, PAD]).any()
    for key in ("input_ids", "attention_mask", "labels", "decoder_input_ids"):
        assert batch[key].dtype == torch.int64


def test_decoder_start_and_pad_to_multiple(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, decoder_start_token_id=BOS, pad_to_multiple_of=8, seed=0)
    batch = collator([{"input_ids": doc(13)}])
    assert batch["decoder_input_ids"][0, 0] == BOS
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["labels"].shape[1] % 8 == 0
    np_batch = DataCollatorForDenoising(word_level_bart, return_tensors="np", seed=0)([{"input_ids": doc(5)}])
    assert isinstance(np_batch["input_ids"], np.ndarray)


def test_determinism_per_seed(word_level_bart):
    features = [{"input_ids": doc(200), "sentence_ends": [51, 101, 151, 201]} for _ in range(4)]
    kwargs = dict(mask=0.3, mask_random=0.1, insert=0.05, rotate=0.5, permute_sentences=1.0)
    a = DataCollatorForDenoising(word_level_bart, seed=7, **kwargs)
    b = DataCollatorForDenoising(word_level_bart, seed=7, **kwargs)
    first_a, first_b = a(features), b(features)
    for key in first_a:
        assert torch.equal(first_a[key], first_b[key])
    second_a = a(features)
    assert not torch.equal(first_a["input_ids"][0], second_a["input_ids"][0])  # fresh noise on every call
    c = DataCollatorForDenoising(word_level_bart, seed=8, **kwargs)
    assert not torch.equal(first_a["input_ids"], c(features)["input_ids"])


# ------------------------------------------------------------------------------------------------ text infilling
@pytest.mark.parametrize("lam,expected_masks", [(3.0, 0.100), (3.5, 0.086)])
def test_infilling_covers_exactly_ceil_and_one_mask_per_span(word_level_bart, lam, expected_masks):
    n, docs = 512, 400
    collator = DataCollatorForDenoising(word_level_bart, mask=0.3, poisson_lambda=lam, seed=1)
    original = np.arange(FIRST, FIRST + n)
    budget = math.ceil(0.3 * n)
    masks_total = 0
    for start in range(0, docs, 50):
        for src in sources(collator([{"input_ids": doc(n)}] * 50)):
            kept, n_masks = kept_and_masks(src)
            masks_total += n_masks
            # kept tokens are an in-order subsequence of the original, exactly n - ceil(0.3 n) of them
            assert np.all(np.diff(kept) > 0)
            assert kept.size == n - budget
            # every deleted stretch is represented by at least one mask at its place
            inner = src[1:-1]
            positions = np.searchsorted(original, kept)
            gaps = np.diff(np.concatenate(([-1], positions, [n])))  # > 1 means tokens deleted in between
            pieces = np.split(inner, np.flatnonzero(inner != MASK))
            masks_between = [int((p == MASK).sum()) for p in pieces]
            # pieces[0] holds masks before the first kept token, pieces[i] masks after kept token i
            for gap, n_mask in zip(gaps, masks_between):
                if gap > 1:
                    assert n_mask >= 1
    rate = masks_total / (docs * n)
    # sd of the per-document mask count is ~3 at this length → SE of the rate ≈ 3/sqrt(docs)/n
    assert abs(rate - expected_masks) < 0.005, rate


def test_zero_length_spans_become_insertions(word_level_bart):
    """Poisson zeros are inserted masks: the number of masks exceeds the number of deleted stretches."""
    collator = DataCollatorForDenoising(word_level_bart, mask=0.3, poisson_lambda=1.0, seed=2)
    extra = 0
    for src in sources(collator([{"input_ids": doc(300)}] * 100)):
        kept, n_masks = kept_and_masks(src)
        positions = np.searchsorted(np.arange(FIRST, FIRST + 300), kept)
        stretches = int((np.diff(np.concatenate(([-1], positions, [300]))) > 1).sum())
        extra += n_masks - stretches
    # λ = 1: P(0) = e^-1, about budget·e^-1/λ = 90·0.37 ≈ 33 insertions per document
    assert extra / 100 == pytest.approx(90 * math.exp(-1), rel=0.15)


def test_raw_span_draws_are_poisson():
    rng = np.random.default_rng(0)
    for lam in (3.0, 3.5):
        draws = np.concatenate([sample_span_lengths(154, rng, lam) for _ in range(2500)])
        assert draws.size > 100_000
        counts = np.bincount(np.minimum(draws, 11), minlength=12)
        probs = stats.poisson.pmf(np.arange(11), lam)
        probs = np.append(probs, 1 - probs.sum())
        expected = probs * draws.size
        keep = expected >= 5
        chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
        p_value = stats.chi2.sf(chi2, keep.sum() - 1)
        assert p_value > 1e-3, (lam, p_value)


def test_sample_span_lengths_contract():
    rng = np.random.default_rng(3)
    for budget in (1, 2, 10, 77):
        raw = sample_span_lengths(budget, rng)
        assert raw[:-1].sum() < budget <= raw.sum()
    assert sample_span_lengths(0, rng).size == 0
    with pytest.raises(ValueError, match="budget"):
        sample_span_lengths(-1, rng)
    with pytest.raises(ValueError, match="poisson_lambda"):
        sample_span_lengths(5, rng, 0.0)


def test_mask_random_fraction(word_level_bart):
    collator = DataCollatorForDenoising(
        word_level_bart, mask=0.3, mask_random=0.2, mask_length="subword", replace_length=-1, seed=4
    )
    n = 512
    original = np.arange(FIRST, FIRST + n)
    replaced = random = 0
    specials = set(word_level_bart.all_special_ids)
    for _ in range(4):
        for src in sources(collator([{"input_ids": doc(n)}] * 50)):
            inner = src[1:-1]
            assert inner.size == n  # token masking keeps the length
            changed = inner != original
            is_mask = inner == MASK
            # masked count is exact: ceil(0.3 n), minus random draws that hit the original id (prob 1/V)
            assert changed.sum() <= math.ceil(0.3 * n)
            replaced += math.ceil(0.3 * n)
            random += int((changed & ~is_mask).sum())
            assert not specials & set(inner[changed & ~is_mask].tolist())
    p = 0.2 * (1 - 1 / 4995)
    se = math.sqrt(p * (1 - p) / replaced)
    assert abs(random / replaced - p) < 5 * se + 1e-3


# ------------------------------------------------------------------------------------------------ deletion / masking
def test_token_deletion_exact_rate(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.2, mask_length="subword", replace_length=0, seed=5)
    for n, src in zip((10, 99, 512, 3), sources(collator([{"input_ids": doc(n)} for n in (10, 99, 512, 3)]))):
        inner = src[1:-1]
        assert MASK not in inner
        assert np.all(np.diff(inner) > 0)  # in-order subsequence
        assert inner.size == n - math.ceil(0.2 * n)


def test_token_deletion_is_position_independent(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.3, mask_length="subword", replace_length=0, seed=6)
    n, hits = 90, np.zeros(90)
    rounds = 60
    for _ in range(rounds):
        for src in sources(collator([{"input_ids": doc(n)}] * 50)):
            deleted = np.setdiff1d(np.arange(FIRST, FIRST + n), src[1:-1]) - FIRST
            hits[deleted] += 1
    thirds = hits.reshape(3, -1).sum(1) / (rounds * 50 * 30)
    assert np.abs(thirds - 0.3).max() < 0.01


def test_word_units_keep_words_whole():
    tok = make_word_level_tokenizer(2000, word_start_marks=True)  # even ids-5 start words, odd ones continue them
    collator = DataCollatorForDenoising(tok, mask=0.3, replace_length=0, seed=7)
    assert collator.word_scheme == "byte-level" and collator.word_units
    n = 400  # words are (even, odd) pairs → 200 words
    for src in sources(collator([{"input_ids": doc(n)}] * 30)):
        inner = src[1:-1]
        kept = set((inner[inner != MASK] - FIRST).tolist())  # zero-length spans still insert masks
        for w in range(0, n, 2):
            assert (w in kept) == (w + 1 in kept)  # a word is kept or deleted whole
        assert len(kept) == n - 2 * math.ceil(0.3 * (n // 2))


# ------------------------------------------------------------------------------------------------ permutation
def test_sentence_permutation_uniform_and_multiset(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.0, permute_sentences=1.0, seed=8)
    # three sentences of lengths 2, 3, 4
    feature = {"input_ids": doc(9), "sentence_ends": [3, 6, 10]}
    sentences = [(5, 6), (7, 8, 9), (10, 11, 12, 13)]
    orders = Counter()
    total = 30_000
    for _ in range(total // 500):
        for src in sources(collator([feature] * 500)):
            inner = src[1:-1].tolist()
            assert len(inner) == 9
            order, i = [], 0
            while i < 9:
                j = next(k for k, s in enumerate(sentences) if s[0] == inner[i])
                assert tuple(inner[i : i + len(sentences[j])]) == sentences[j]
                order.append(j)
                i += len(sentences[j])
            assert sorted(order) == [0, 1, 2]
            orders[tuple(order)] += 1
    assert len(orders) == 6
    for count in orders.values():
        assert abs(count / total - 1 / 6) < 0.01


def test_partial_permutation_moves_at_most_ceil_kp(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.0, permute_sentences=0.3, seed=9)
    k = 10
    feature = {"input_ids": doc(k * 3), "sentence_ends": [1 + 3 * (i + 1) for i in range(k)]}
    moved_any = 0
    for src in sources(collator([feature] * 500)):
        firsts = (src[1:-1:3] - FIRST) // 3
        moved = int((firsts != np.arange(k)).sum())
        assert moved <= math.ceil(k * 0.3)
        moved_any += moved > 0
    assert moved_any > 300


# ------------------------------------------------------------------------------------------------ rotation
def test_rotation_uniform_cyclic_shift(word_level_bart):
    n = 10
    collator = DataCollatorForDenoising(word_level_bart, mask=0.0, rotate=1.0, seed=10)
    shifts = []
    for _ in range(40):
        for src in sources(collator([{"input_ids": doc(n)}] * 500)):
            assert src[0] == BOS and src[-1] == EOS
            inner = src[1:-1]
            shift = int(inner[0] - FIRST)
            assert inner.tolist() == np.roll(np.arange(FIRST, FIRST + n), -shift).tolist()
            shifts.append(shift)
    counts = np.bincount(shifts, minlength=n)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_rotation_probability(word_level_bart):
    n, p, total = 20, 0.5, 20_000
    collator = DataCollatorForDenoising(word_level_bart, mask=0.0, rotate=p, seed=11)
    rotated = 0
    for _ in range(total // 500):
        rotated += sum(int(src[1] != FIRST) for src in sources(collator([{"input_ids": doc(n)}] * 500)))
    expected = p * (1 - 1 / n)  # a rotation by 0 is the identity
    se = math.sqrt(expected * (1 - expected) / total)
    assert abs(rotated / total - expected) < 5 * se


# ------------------------------------------------------------------------------------------------ insertion
def test_insertion_count(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, mask=0.0, insert=0.1, seed=12)
    for n, src in zip((50, 7, 512), sources(collator([{"input_ids": doc(n)} for n in (50, 7, 512)]))):
        inner = src[1:-1]
        assert inner.size == n + math.ceil(0.1 * n)
        assert (inner != MASK).sum() == n and np.all(np.diff(inner[inner != MASK]) > 0)


# ------------------------------------------------------------------------------------------------ presets, Pegasus
def test_presets_are_their_documented_values(word_level_bart):
    assert NoisingConfig.paper() == NoisingConfig() == NoisingConfig(
        mask=0.3, mask_random=0.0, insert=0.0, rotate=0.0, permute_sentences=0.0, replace_length=1,
        mask_length="span-poisson", poisson_lambda=3.0, word_units=None, gap_sentence_ratio=0.0,
        gap_sentence_token=None, mlm_probability=0.0)
    # fairseq issue #1899 (BART-large): 30 % text infilling, λ = 3.5, 10 % random, all sentences permuted
    assert NoisingConfig.bart_large() == NoisingConfig(mask=0.3, mask_random=0.1, permute_sentences=1.0,
                                                       poisson_lambda=3.5)
    assert NoisingConfig.pegasus() == NoisingConfig(mask=0.0, gap_sentence_ratio=0.3)
    assert [NoisingConfig.preset(name) for name in NoisingConfig.PRESETS] == [
        NoisingConfig.paper(), NoisingConfig.bart_large(), NoisingConfig.pegasus()]
    assert NoisingConfig.bart_large(mask=0.5).mask == 0.5 and NoisingConfig.bart_large(mask=0.5).poisson_lambda == 3.5
    collator = DataCollatorForDenoising.bart_large(word_level_bart, seed=0)
    assert collator.noising == NoisingConfig.bart_large()
    assert DataCollatorForDenoising.pegasus(word_level_bart, mask=0.1).noising == NoisingConfig.pegasus(mask=0.1)
    batch = collator([{"input_ids": doc(60), "sentence_ends": [21, 41, 61]}])
    assert batch["labels"][0, :62].tolist() == doc(60)


def _marked_tokenizer_with_two_masks():
    tokenizer = make_word_level_tokenizer(400, word_start_marks=True)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<mask_1>"]})
    return tokenizer


#: For every field of NoisingConfig: a base config and another value of the field that must change the output.
KNOB_CHANGES = {
    "mask": ({}, 0.6),
    "mask_random": ({}, 0.5),
    "insert": ({}, 0.2),
    "rotate": ({}, 1.0),
    "permute_sentences": ({}, 1.0),
    "replace_length": ({}, 0),
    "mask_length": ({}, "subword"),
    "poisson_lambda": ({}, 1.0),
    "word_units": ({}, False),
    "gap_sentence_ratio": ({}, 0.3),
    "gap_sentence_token": ({"gap_sentence_ratio": 0.3}, "<mask_1>"),
    "mlm_probability": ({}, 0.15),
}


def test_every_noising_knob_reaches_the_collator():
    """A knob added to NoisingConfig must get a row above, and the row proves the collator reads it."""
    import dataclasses

    assert set(KNOB_CHANGES) == {f.name for f in dataclasses.fields(NoisingConfig)}
    tokenizer = _marked_tokenizer_with_two_masks()
    rng = np.random.default_rng(0)
    features = []
    for _ in range(4):
        words = rng.permutation(np.arange(5, 405))[:60].tolist()
        features.append({"input_ids": [BOS, *words, EOS], "sentence_ends": [21, 41, 61]})
    for knob, (base, value) in KNOB_CHANGES.items():
        before = NoisingConfig.paper(**base)
        after = before.replace(**{knob: value})
        assert getattr(before, knob) != value
        outputs = [DataCollatorForDenoising(tokenizer, config, seed=0)(features) for config in (before, after)]
        changed = any(not torch.equal(outputs[0][key], outputs[1][key]) if outputs[0][key].shape == outputs[1][
            key].shape else True for key in ("input_ids", "labels"))
        assert changed, f"{knob}={value!r} did not change the collator's output"


def test_pegasus_gap_sentences_with_mlm_statistics():
    """Lecture's Pegasus: GSG ([MASK1] per removed sentence) + BERT-rule MLM on the rest ([MASK2]), seeded; each
    rate within 5 standard errors of the paper's value."""
    tokenizer = make_word_level_tokenizer(4995)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<mask_1>"]})
    gap = tokenizer.convert_tokens_to_ids("<mask_1>")
    assert gap != MASK
    collator = DataCollatorForDenoising.pegasus(tokenizer, mlm_probability=0.15, gap_sentence_token="<mask_1>",
                                                return_mlm_labels=True, seed=0)
    rng = np.random.default_rng(1)
    selected = masked = random = unchanged = eligible = 0
    for _ in range(10):
        features = []
        for _ in range(20):
            words = rng.permutation(np.arange(FIRST, FIRST + 4995))[:200].tolist()  # 10 sentences of 20 words
            features.append({"input_ids": [BOS, *words, EOS], "sentence_ends": list(range(21, 202, 20))})
        batch = collator(features)
        for row, feature in enumerate(features):
            source = sources(batch)[row]
            mlm = batch["mlm_labels"][row, : source.size].numpy()
            target = batch["labels"][row][batch["labels"][row] != -100].tolist()
            assert (source == gap).sum() == 3  # round(0.3 · 10) sentences, one [MASK1] each
            chosen = mlm != -100
            assert not chosen[source == gap].any() and not chosen[[0, -1]].any()
            assert not ((source == MASK) & ~chosen).any()  # [MASK2] only where MLM chose
            # undo MLM, then put each removed sentence back at its [MASK1]: the document again
            restored_source = np.where(chosen, mlm, source).tolist()
            removed = iter(np.split(np.asarray(target[1:-1]), 3))
            restored = [t for token in restored_source for t in (next(removed).tolist() if token == gap else [token])]
            assert restored == feature["input_ids"]
            assert MASK not in target and gap not in target
            eligible += source.size - 2 - 3
            selected += int(chosen.sum())
            masked += int((source[chosen] == MASK).sum())
            unchanged += int((source[chosen] == mlm[chosen]).sum())
            random += int(((source[chosen] != MASK) & (source[chosen] != mlm[chosen])).sum())
            assert not np.isin(source[chosen], [BOS, PAD, EOS, 3]).any()

    def within(count, total, p):
        return abs(count / total - p) < 5 * math.sqrt(p * (1 - p) / total)

    assert eligible == 200 * 140
    assert within(selected, eligible, 0.15), selected / eligible
    assert within(masked, selected, 0.8) and within(unchanged, selected, 0.1), (masked, unchanged, selected)
    assert within(random, selected, 0.1 * (1 - 1 / 4995)), random / selected  # a random draw may hit the same word


def test_pegasus_mlm_needs_two_distinct_mask_tokens(word_level_bart):
    with pytest.raises(ValueError, match="two distinct mask tokens"):
        DataCollatorForDenoising.pegasus(word_level_bart, mlm_probability=0.15)
    with pytest.raises(ValueError, match="'<mask_1>' is not in the tokenizer's vocabulary"):
        DataCollatorForDenoising.pegasus(word_level_bart, gap_sentence_token="<mask_1>")
    with pytest.raises(TypeError, match="unknown noising knob"):
        DataCollatorForDenoising(word_level_bart, mask_probability=0.15)


def test_pegasus_gap_sentences(word_level_bart):
    collator = DataCollatorForDenoising.pegasus(word_level_bart, gap_sentence_ratio=0.3, seed=0)
    # 10 sentences; sentence 3 and 7 repeat words of others (high ROUGE-1), the rest are unique
    sentences = [[100 + 10 * i + j for j in range(4)] for i in range(10)]
    sentences[3] = sentences[1][:2] + sentences[5][:2]
    sentences[7] = sentences[2][:3] + sentences[8][:1]
    sentences[9] = sentences[0][:2] + sentences[4][:2]
    ids = [BOS] + [t for s in sentences for t in s] + [EOS]
    ends = list(np.cumsum([len(s) for s in sentences]) + 1)
    batch = collator([{"input_ids": ids, "sentence_ends": ends}])
    src = sources(batch)[0]
    label = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert (src == MASK).sum() == 3  # m = round(0.3 · 10)
    assert label == [BOS, *sentences[3], *sentences[7], *sentences[9], EOS]
    # putting each removed sentence back where its mask stands restores the document
    restored, removed = [], iter([sentences[3], sentences[7], sentences[9]])
    for t in src.tolist():
        restored.extend(next(removed) if t == MASK else [t])
    assert restored == ids


# ------------------------------------------------------------------------------------------------ preprocessing helper
def test_tokenize_for_denoising_records_sentence_ends(bart_tokenizer):
    docs = {"sentences": [["The cat sat on the mat.", "The dog slept by the door."], ["투빅아, 나는 너를 많이 사랑해."]]}
    out = tokenize_for_denoising(docs, bart_tokenizer, max_length=64)
    assert len(out["input_ids"]) == 2
    ids, ends = out["input_ids"][0], out["sentence_ends"][0]
    assert ids[0] == bart_tokenizer.bos_token_id and ids[-1] == bart_tokenizer.eos_token_id
    assert ends[-1] == len(ids) - 1
    assert bart_tokenizer.decode(ids[1 : ends[0]]) == "The cat sat on the mat."
    assert bart_tokenizer.decode(ids[1:-1]) == "The cat sat on the mat. The dog slept by the door."
    collator = DataCollatorForDenoising.bart_large(bart_tokenizer, seed=0)
    batch = collator([{k: out[k][i] for k in out} for i in range(2)])
    assert bart_tokenizer.decode(batch["labels"][1][batch["labels"][1] != -100], skip_special_tokens=True) == (
        "투빅아, 나는 너를 많이 사랑해."
    )


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mask": 1.5}, "mask must be in"),
        ({"mask_random": -0.1}, "mask_random"),
        ({"insert": 2}, "insert"),
        ({"rotate": -1}, "rotate"),
        ({"permute_sentences": 1.01}, "permute_sentences"),
        ({"poisson_lambda": 0.0}, "poisson_lambda"),
        ({"poisson_lambda": -3}, "poisson_lambda"),
        ({"replace_length": 2}, "replace_length"),
        ({"mask_length": "sentence"}, "mask_length"),
        ({"gap_sentence_ratio": 0.3, "rotate": 0.5}, "gap_sentence_ratio"),
        ({"permute_sentences": 1.0, "sentence_ends_key": ""}, "sentence boundaries"),
        ({"mlm_probability": 1.0}, r"mlm_probability must be in \[0, 1\), got 1.0"),
        ({"word_units": "yes"}, "word_units must be True, False or None"),
    ],
)
def test_bad_construction_arguments(word_level_bart, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataCollatorForDenoising(word_level_bart, **kwargs)


def test_tokenizer_without_needed_specials(gpt_tokenizer, wordpiece_tokenizer):
    with pytest.raises(ValueError, match="mask_token"):
        DataCollatorForDenoising(gpt_tokenizer)  # GPT tokenizer: no <mask>
    with pytest.raises(ValueError, match="bos_token"):
        DataCollatorForDenoising(wordpiece_tokenizer)  # BERT tokenizer: no <s>/</s>


def test_bad_features(word_level_bart):
    collator = DataCollatorForDenoising(word_level_bart, permute_sentences=1.0, seed=0)
    with pytest.raises(ValueError, match="sentence_ends"):
        collator([{"input_ids": doc(10)}])
    with pytest.raises(ValueError, match="strictly increasing"):
        collator([{"input_ids": doc(10), "sentence_ends": [5, 4, 11]}])
    with pytest.raises(ValueError, match="start with bos"):
        collator([{"input_ids": list(range(5, 15)), "sentence_ends": [11]}])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match=r"must be in \[0"):
        DataCollatorForDenoising(word_level_bart)([{"input_ids": [BOS, 10**6, EOS]}])


# ------------------------------------------------------------------------------------------------ property-based
@st.composite
def documents(draw):
    n_sentences = draw(st.integers(0, 6))
    lengths = draw(st.lists(st.integers(1, 12), min_size=n_sentences, max_size=n_sentences))
    tokens = draw(st.lists(st.integers(FIRST, 200), min_size=sum(lengths), max_size=sum(lengths)))
    ends = list(np.cumsum(lengths) + 1) if lengths else []
    return {"input_ids": [BOS, *tokens, EOS], "sentence_ends": [int(e) for e in ends]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    features=st.lists(documents(), min_size=1, max_size=4),
    mask=st.floats(0, 1),
    mask_random=st.floats(0, 1),
    insert=st.floats(0, 0.5),
    rotate=st.floats(0, 1),
    permute=st.floats(0, 1),
    replace_length=st.sampled_from([-1, 0, 1]),
    mask_length=st.sampled_from(["subword", "word", "span-poisson"]),
    lam=st.floats(0.1, 8),
    seed=st.integers(0, 2**31),
)
def test_random_documents_invariants(
    word_level_bart, features, mask, mask_random, insert, rotate, permute, replace_length, mask_length, lam, seed
):
    collator = DataCollatorForDenoising(
        word_level_bart, mask=mask, mask_random=mask_random, insert=insert, rotate=rotate, permute_sentences=permute,
        replace_length=replace_length, mask_length=mask_length, poisson_lambda=lam, seed=seed,
    )
    batch = collator(features)
    specials = {BOS, EOS, PAD}
    for f, src, lab in zip(features, sources(batch), batch["labels"].numpy()):
        n = len(f["input_ids"]) - 2
        assert src[0] == BOS and src[-1] == EOS
        assert not specials & set(src[1:-1].tolist())
        assert lab[: n + 2].tolist() == f["input_ids"] and (lab[n + 2 :] == -100).all()
        if mask_length != "span-poisson":  # no zero-length spans: only `insert` adds tokens
            assert src.size - 2 <= n + math.ceil(n * insert)
            if replace_length == -1 and insert == 0:
                assert src.size == n + 2  # token masking keeps the length
        if mask == 0 and insert == 0:
            assert sorted(src[1:-1].tolist()) == sorted(f["input_ids"][1:-1])  # permutation/rotation only move
