"""BERT/RoBERTa masked LM with the reused ``transformers.DataCollatorForLanguageModeling`` on our tokenizers (B.1, B.4),
and RoBERTa FULL-SENTENCES packing / ``group_texts``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import DataCollatorForLanguageModeling

from tobigs_transformer.data import group_texts, pack_sentences

from .conftest import fixture_documents


CLS, SEP, PAD, MASK = 2, 3, 0, 4


@pytest.fixture(scope="module")
def mlm_features(word_level_bert):
    rng = np.random.default_rng(0)
    features = []
    for _ in range(2200):  # ≈ 2200 · 100 eligible tokens
        n = int(rng.integers(60, 140))
        ids = [CLS, *rng.integers(5, 5000, size=n).tolist(), SEP]
        features.append({"input_ids": ids, "special_tokens_mask": [1] + [0] * n + [1]})
    return features


def test_mlm_rates_and_80_10_10(word_level_bert, mlm_features):
    collator = DataCollatorForLanguageModeling(word_level_bert, mlm_probability=0.15, seed=0)
    selected = eligible = masked = unchanged = random = 0
    first_third = last_third = 0
    thirds_n = 0
    random_ids = []
    for start in range(0, len(mlm_features), 200):
        chunk = mlm_features[start : start + 200]
        batch = collator(chunk)
        for f, ids, labels, att in zip(chunk, batch["input_ids"], batch["labels"], batch["attention_mask"]):
            n = len(f["input_ids"])
            original = torch.tensor(f["input_ids"])
            sel = labels[:n] != -100
            # specials and padding are never selected; pad positions untouched
            assert not sel[0] and not sel[n - 1] and (labels[n:] == -100).all()
            assert (ids[n:] == PAD).all() and (att[n:] == 0).all()
            assert torch.equal(labels[:n][sel], original[sel])
            assert torch.equal(ids[:n][~sel], original[~sel])
            eligible += n - 2
            selected += int(sel.sum())
            masked += int((ids[:n][sel] == MASK).sum())
            same = ids[:n][sel] == original[sel]
            unchanged += int(same.sum())
            other = sel & (ids[:n] != MASK) & (ids[:n] != original)
            random += int(other.sum())
            random_ids.extend(ids[:n][other].tolist())
            third = (n - 2) // 3
            first_third += int(sel[1 : 1 + third].sum())
            last_third += int(sel[n - 1 - third : n - 1].sum())
            thirds_n += third
    assert eligible > 200_000
    p = 0.15
    assert abs(selected / eligible - p) < 5 * math.sqrt(p * (1 - p) / eligible)
    V = len(word_level_bert)  # HF draws random ids from the whole vocabulary (specials included)
    for value, expected in ((masked, 0.8 + 0.1 / V), (unchanged, 0.1 + 0.1 / V), (random, 0.1 - 0.2 / V)):
        assert abs(value / selected - expected) < 5 * math.sqrt(expected * (1 - expected) / selected)
    assert abs(first_third / thirds_n - last_third / thirds_n) < 0.01
    counts = np.bincount(random_ids, minlength=V)
    pooled = counts.reshape(-1, 50).sum(1)  # pool bins to expected counts ≥ 5
    assert stats.chisquare(pooled).pvalue > 1e-3


def test_mlm_dynamic_masking_and_seed(word_level_bert, mlm_features):
    chunk = mlm_features[:300]
    a = DataCollatorForLanguageModeling(word_level_bert, seed=1)
    b = DataCollatorForLanguageModeling(word_level_bert, seed=1)
    first, again = a(chunk), b(chunk)
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(first["labels"], again["labels"])
    second = a(chunk)  # RoBERTa dynamic masking: a new mask on every pass
    s1, s2 = first["labels"] != -100, second["labels"] != -100
    jaccard = (s1 & s2).sum().item() / (s1 | s2).sum().item()
    assert abs(jaccard - 0.15**2 / (0.3 - 0.15**2)) < 0.01


def test_mlm_with_wordpiece_tokenizer_pairs(wordpiece_tokenizer):
    """Our BERT tokenizer gives token_type_ids; the collator pads them and skips [CLS]/[SEP]/[PAD] via the tokenizer."""
    enc = [wordpiece_tokenizer("The cat sat on the mat.", "투빅아, 나는 너를 많이 사랑해."), wordpiece_tokenizer("Hi.")]
    collator = DataCollatorForLanguageModeling(wordpiece_tokenizer, mlm_probability=0.9, seed=0)
    batch = collator([dict(e) for e in enc])
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    specials = torch.isin(torch.tensor(enc[0]["input_ids"]), torch.tensor(wordpiece_tokenizer.all_special_ids))
    n = len(enc[0]["input_ids"])
    assert (batch["labels"][0, :n][specials] == -100).all()


def test_pack_sentences_full_sentences(wordpiece_tokenizer):
    docs = fixture_documents() * 5
    out = pack_sentences({"sentences": docs}, wordpiece_tokenizer, max_length=48)
    sentence_ids = [wordpiece_tokenizer(s, add_special_tokens=False)["input_ids"] for d in docs for s in d]
    assert max(len(s) for s in sentence_ids) <= 46
    for ids, special in zip(out["input_ids"], out["special_tokens_mask"]):
        assert len(ids) <= 48 and ids[0] == wordpiece_tokenizer.cls_token_id and ids[-1] == SEP
        assert special == [int(t in (CLS, SEP)) for t in ids]
    # the content, with document separators removed, is the whole corpus in order (no sentence lost or cut)
    content = [t for ids in out["input_ids"] for t in ids if t not in (CLS, SEP)]
    assert content == [t for s in sentence_ids for t in s]
    # blocks are full: adding the next sentence would have overflowed (except at the end)
    assert np.mean([len(ids) for ids in out["input_ids"][:-1]]) > 48 * 0.7
    per_doc = pack_sentences({"sentences": docs}, wordpiece_tokenizer, max_length=48, cross_documents=False)
    assert len(per_doc["input_ids"]) >= len(docs)


def test_pack_sentences_splits_long_sentences(bart_tokenizer):
    long = " ".join(["word"] * 100) + "."
    out = pack_sentences({"sentences": [[long]]}, bart_tokenizer, max_length=16, return_sentence_ends=True)
    assert all(len(ids) <= 16 for ids in out["input_ids"])
    assert bart_tokenizer.decode([t for ids in out["input_ids"] for t in ids[1:-1]]) == long
    with pytest.raises(ValueError, match="max_length"):
        pack_sentences({"sentences": [[long]]}, bart_tokenizer, max_length=3)
    with pytest.raises(ValueError, match="column"):
        pack_sentences({"text": ["x"]}, bart_tokenizer)


def test_group_texts_exact_blocks():
    examples = {"input_ids": [list(range(i, i + 7)) for i in range(0, 70, 7)], "attention_mask": [[1] * 7] * 10}
    out = group_texts(examples, block_size=16)
    assert all(len(b) == 16 for b in out["input_ids"]) and len(out["input_ids"]) == 4
    assert [t for b in out["input_ids"] for t in b] == list(range(64))
    keep_last = group_texts(examples, block_size=16, drop_last=False)
    assert [len(b) for b in keep_last["input_ids"]] == [16, 16, 16, 16, 6]
    with pytest.raises(ValueError, match="block_size"):
        group_texts(examples, block_size=0)
