"""NSP / SOP pair builders and their collator: design/collators.md B.2 and B.5 (seeded; ≥ 5 standard errors).

Documents are built from unique words ``w{i}`` (WordLevel tokenizer, id = 5 + i), so every token tells which document
and position it came from.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from tobigs_transformer.data import (
    DataCollatorForNextSentencePrediction,
    create_nsp_examples,
    create_sop_examples,
)

from .conftest import fixture_documents


CLS, SEP, PAD, MASK = 2, 3, 0, 4


def corpus(n_docs: int, n_sentences: int, rng: np.random.Generator, vocab: int = 4995):
    """Documents of sentences of 3–9 words; word ids run consecutively through the corpus (mod vocab)."""
    docs, owner, k = [], {}, 0
    for d in range(n_docs):
        sentences = []
        for _ in range(n_sentences):
            length = int(rng.integers(3, 10))
            words = [(k + j) % vocab for j in range(length)]
            sentences.append(" ".join(f"w{w}" for w in words))
            k += length
        docs.append(sentences)
    return docs


def split_pair(ids):
    ids = list(ids)
    first = ids.index(SEP)
    return ids[1:first], ids[first + 1 : -1]


@pytest.fixture(scope="module")
def nsp_batch(word_level_bert):
    rng = np.random.default_rng(0)
    docs = corpus(120, 60, rng)  # 120 × 60 × 6 ≈ 43k words < vocab·9 → ids unique within a window
    out = create_nsp_examples({"sentences": docs}, word_level_bert, max_seq_length=32, seed=1)
    return docs, out


def test_pair_structure(nsp_batch):
    _, out = nsp_batch
    assert len(out["input_ids"]) > 1500
    for ids, types, att, special in zip(
        out["input_ids"], out["token_type_ids"], out["attention_mask"], out["special_tokens_mask"]
    ):
        assert len(ids) <= 32 and ids[0] == CLS and ids[-1] == SEP
        assert ids.count(CLS) == 1 and ids.count(SEP) == 2
        a, b = split_pair(ids)
        assert a and b
        first_sep = ids.index(SEP)
        assert types == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        assert att == [1] * len(ids)
        assert special == [int(t in (CLS, SEP)) for t in ids]


def test_label_balance_and_sources(nsp_batch):
    _, out = nsp_batch
    labels = np.array(out["next_sentence_label"])
    n = labels.size
    # Overall P(random) ≥ 0.5 because one-sentence chunks are forced random; chunks of ≥ 2 sentences: 0.5.
    assert labels.mean() >= 0.5 - 5 * math.sqrt(0.25 / n)
    contiguous = []
    for ids, label in zip(out["input_ids"], labels):
        a, b = split_pair(ids)
        a, b = np.array(a) - 5, np.array(b) - 5
        # inside A and inside B, word ids are consecutive (truncation trims only the ends)
        assert np.all(np.diff(a) == 1) or np.any(np.diff(a) < 0)  # wrap-around of the vocab is allowed
        assert np.all(np.diff(b) == 1) or np.any(np.diff(b) < 0)
        follows = b[0] - a[-1]
        if label == 0:
            # B continues A, up to tokens truncated at A's end / B's start
            assert 1 <= follows <= 32 or follows < -4000
        contiguous.append(follows == 1)
    contiguous = np.array(contiguous)
    # label 1 pairs are (almost) never contiguous; label 0 pairs usually are
    assert contiguous[labels == 1].mean() < 0.01


def long_documents(n_docs: int = 40, n_sentences: int = 800, length: int = 4):
    """Long documents of equal-length sentences: with target 12 tokens every chunk has 3 sentences except at most one
    tail chunk per document, so forced-random (one-sentence) chunks are ≤ n_docs of ~20k instances."""
    docs, k = [], 0
    for _ in range(n_docs):
        docs.append([" ".join(f"w{(k + i * length + j) % 4995}" for j in range(length)) for i in range(n_sentences)])
        k += n_sentences * length
    return docs


def test_label_balance_for_multi_sentence_chunks(word_level_bert):
    """Among chunks with ≥ 2 sentences, P(label=1) = 0.5 ± 5 SE (B.2 #3)."""
    out = create_nsp_examples(
        {"sentences": long_documents()}, word_level_bert, max_seq_length=15, short_seq_prob=0.0, seed=3
    )
    labels = np.array(out["next_sentence_label"])
    n = labels.size
    assert n > 10_000
    forced = 40  # at most one one-sentence tail chunk per document
    assert abs(labels.mean() - 0.5) < 5 * math.sqrt(0.25 / n) + forced / n


def test_short_seq_prob(word_level_bert):
    rng = np.random.default_rng(4)
    docs = corpus(400, 40, rng)
    out = create_nsp_examples({"sentences": docs}, word_level_bert, max_seq_length=64, short_seq_prob=0.1, seed=5)
    short = np.mean([len(ids) < 32 for ids in out["input_ids"]])
    assert 0.02 < short < 0.2  # ≈ short_seq_prob (design note measured 0.07 at 128)


def test_deterministic_and_datasets_map(word_level_bert):
    import datasets

    docs = fixture_documents()
    a = create_nsp_examples({"sentences": docs}, word_level_bert, seed=9)
    b = create_nsp_examples({"sentences": docs}, word_level_bert, seed=9)
    assert a == b
    ds = datasets.Dataset.from_dict({"sentences": docs, "title": [str(i) for i in range(len(docs))]})
    mapped = ds.map(
        partial(create_nsp_examples, tokenizer=word_level_bert, max_seq_length=64),
        batched=True,
        remove_columns=ds.column_names,
    )
    assert set(mapped.column_names) == {
        "input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "next_sentence_label"
    }
    assert len(mapped) > 0


def test_sop_pairs(word_level_bert):
    out = create_sop_examples(
        {"sentences": long_documents()}, word_level_bert, max_seq_length=15, short_seq_prob=0.0, seed=7
    )
    labels = np.array(out["sentence_order_label"])
    n = labels.size
    assert n > 5000
    assert abs(labels.mean() - 0.5) < 5 * math.sqrt(0.25 / n) + 40 / n
    swapped = 0
    for ids, label in zip(out["input_ids"], labels):
        a, b = (np.array(x) - 5 for x in split_pair(ids))
        if label == 0:
            assert (b[0] - a[-1]) % 4995 == 1  # A immediately precedes B
        else:
            swapped += (a[0] - b[-1]) % 4995 == 1  # B immediately precedes A
    assert swapped >= labels.sum() - 40  # all but forced-random tail chunks are true swaps


def test_tokenizer_without_cls_sep(bart_tokenizer, gpt_tokenizer):
    create_nsp_examples({"sentences": [["a b.", "c d."]]}, bart_tokenizer)  # <s>/</s> double as cls/sep
    with pytest.raises(ValueError, match="CLS"):
        create_nsp_examples({"sentences": [["a b.", "c d."]]}, gpt_tokenizer)
    with pytest.raises(ValueError, match="short_seq_prob"):
        create_nsp_examples({"sentences": [["a."]]}, bart_tokenizer, short_seq_prob=1.5)
    with pytest.raises(TypeError, match="lists of sentences"):
        create_nsp_examples({"sentences": ["a plain string"]}, bart_tokenizer)


def test_collator_pads_pairs_and_stacks_labels(wordpiece_tokenizer):
    docs = fixture_documents()
    out = create_nsp_examples({"sentences": docs}, wordpiece_tokenizer, max_seq_length=40, seed=0)
    features = [{k: out[k][i] for k in out} for i in range(len(out["input_ids"]))]
    collator = DataCollatorForNextSentencePrediction(wordpiece_tokenizer, seed=0)
    batch = collator(features)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    n, t = batch["input_ids"].shape
    assert batch["token_type_ids"].shape == (n, t) and batch["labels"].shape == (n, t)
    assert batch["next_sentence_label"].tolist() == out["next_sentence_label"]
    for i, f in enumerate(features):
        length = len(f["input_ids"])
        assert batch["token_type_ids"][i, :length].tolist() == f["token_type_ids"]
        assert (batch["token_type_ids"][i, length:] == 0).all() and (batch["attention_mask"][i, length:] == 0).all()
        assert (batch["input_ids"][i, length:] == wordpiece_tokenizer.pad_token_id).all()
        special = torch.tensor(f["special_tokens_mask"], dtype=torch.bool)
        assert (batch["labels"][i, :length][special] == -100).all()
        assert (batch["labels"][i, length:] == -100).all()
        assert torch.equal(batch["input_ids"][i, :length][special], torch.tensor(f["input_ids"])[special])
    nsp_only = DataCollatorForNextSentencePrediction(wordpiece_tokenizer, mlm=False)(features)
    assert "labels" not in nsp_only and "next_sentence_label" in nsp_only
    sop = create_sop_examples({"sentences": docs}, wordpiece_tokenizer, max_seq_length=40)
    sop_batch = collator([{k: sop[k][i] for k in sop} for i in range(len(sop["input_ids"]))])
    assert "sentence_order_label" in sop_batch
