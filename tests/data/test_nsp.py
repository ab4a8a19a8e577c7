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
from tobigs_transformer.data.nsp import pair_batch_size

from .conftest import fixture_documents


CLS, SEP, PAD, MASK = 2, 3, 0, 4


def corpus(n_docs: int, n_sentences: int, rng: np.random.Generator, vocab: int = 4995):
    """Documents of sentences of 3–9 words; word ids run consecutively through the corpus (mod vocab)."""
    docs, k = [], 0
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
    docs = corpus(400, 40, np.random.default_rng(4))

    def short_fraction(p: float) -> float:
        out = create_nsp_examples({"sentences": docs}, word_level_bert, max_seq_length=64, short_seq_prob=p, seed=5)
        return float(np.mean([len(ids) < 32 for ids in out["input_ids"]]))

    fractions = {p: short_fraction(p) for p in (0.0, 0.1, 1.0)}
    # short pairs also come from document ends, so the fraction grows with short_seq_prob from that floor; a tenth
    # of the 400 documents (SE 1.5 %) with a short target gives ≈ short_seq_prob (design note: 0.07 at 128)
    assert fractions[0.0] < fractions[0.1] < fractions[1.0]
    assert 0.02 < fractions[0.1] < 0.3 and fractions[1.0] > 0.5


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
    two_docs = {"sentences": [["a b.", "c d."], ["e f.", "g h."]]}
    create_nsp_examples(two_docs, bart_tokenizer)  # <s>/</s> double as cls/sep
    with pytest.raises(ValueError, match="CLS"):
        create_nsp_examples(two_docs, gpt_tokenizer)
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


# ------------------------------------------------------------------ a random B never comes from A's own document
def owned_corpus(n_docs: int, n_sentences: int, rng: np.random.Generator):
    """Documents of 2–6-word sentences whose word ids never repeat, and the map token id → document."""
    docs, owner, k = [], {}, 0
    for d in range(n_docs):
        sentences = []
        for _ in range(n_sentences):
            length = int(rng.integers(2, 7))
            sentences.append(" ".join(f"w{k + j}" for j in range(length)))
            owner.update({5 + k + j: d for j in range(length)})
            k += length
        docs.append(sentences)
    return docs, owner


@pytest.fixture(scope="module")
def big_vocab_bert():
    from .conftest import make_word_level_tokenizer

    return make_word_level_tokenizer(40_000, specials="bert")


def random_pairs_from_a_document(out, owner, label_column="next_sentence_label"):
    """(pairs labelled random whose B shares A's document, pairs labelled random) over every instance."""
    same, total = 0, 0
    for ids, label in zip(out["input_ids"], out[label_column]):
        if label != 1:
            continue
        a, b = split_pair(ids)
        docs_a, docs_b = {owner[t] for t in a}, {owner[t] for t in b}
        assert len(docs_a) == 1 and len(docs_b) == 1  # A and B are each cut from one document
        same += docs_a == docs_b
        total += 1
    return same, total


@pytest.mark.parametrize("n_docs", [2, 3, 12])
def test_random_b_never_from_the_document_of_a(big_vocab_bert, n_docs):
    """Exhaustive over every random pair of several seeded runs.  With 2 documents google-research/bert's 10 tries
    return A's own document with probability 2^-10 per random pair: ~8 of the ~8000 pairs here."""
    docs, owner = owned_corpus(n_docs, 3000 // n_docs, np.random.default_rng(n_docs))
    total = 0
    for seed in range(10):
        out = create_nsp_examples({"sentences": docs}, big_vocab_bert, max_seq_length=12, seed=seed)
        same, n_random = random_pairs_from_a_document(out, owner)
        assert same == 0, f"seed {seed}: {same} of {n_random} random pairs took B from A's document"
        total += n_random
    assert total > 6000


def test_random_b_skips_duplicates_and_pool_copies_of_a(big_vocab_bert):
    docs, owner = owned_corpus(6, 300, np.random.default_rng(7))
    # a duplicated document is A's document for this purpose: its "random" B would be A's true continuation
    out = create_nsp_examples({"sentences": docs + docs[:3]}, big_vocab_bert, max_seq_length=12, seed=1)
    same, n_random = random_pairs_from_a_document(out, owner)
    assert same == 0 and n_random > 500
    # a fixed pool that holds the batch's documents: B never comes from A's entry in it
    batch = docs[:2]
    out = create_nsp_examples({"sentences": batch}, big_vocab_bert, max_seq_length=12, seed=2, all_documents=docs)
    same, n_random = random_pairs_from_a_document(out, owner)
    assert same == 0 and n_random > 100
    # a pool of only A's document is no pool
    with pytest.raises(ValueError, match=r"all_documents holds 1 document\(s\), 1 distinct.*>= 2 distinct"):
        create_nsp_examples({"sentences": batch[:1]}, big_vocab_bert, all_documents=batch[:1])


def test_nsp_on_one_document_raises(big_vocab_bert):
    docs, _ = owned_corpus(2, 50, np.random.default_rng(8))
    with pytest.raises(ValueError, match=r"got 1 document\(s\) in this batch, 1 distinct .*needs >= 2 distinct"):
        create_nsp_examples({"sentences": docs[:1]}, big_vocab_bert)
    with pytest.raises(ValueError, match=r"got 3 document\(s\) in this batch, 1 distinct"):
        create_nsp_examples({"sentences": [docs[0], docs[0], []]}, big_vocab_bert)
    empty = create_nsp_examples({"sentences": [[], None]}, big_vocab_bert)  # no A, nothing to pair: no error
    assert empty["input_ids"] == [] and empty["next_sentence_label"] == []


def test_sop_on_one_document_pairs_within_it(big_vocab_bert):
    """SOP takes A and B from one document by design: one document is enough; a one-sentence chunk (which would need
    another document's B) yields no pair instead of a B from A's own document."""
    docs, owner = owned_corpus(2, 400, np.random.default_rng(9))
    out = create_sop_examples({"sentences": docs[:1]}, big_vocab_bert, max_seq_length=12, seed=3)
    labels = np.array(out["sentence_order_label"])
    assert labels.size > 100 and 0.4 < labels.mean() < 0.6
    for ids, label in zip(out["input_ids"], labels):
        a, b = split_pair(ids)
        assert {owner[t] for t in a + b} == {0}
        first, second = (a, b) if label == 0 else (b, a)
        assert second[0] - first[-1] >= 1  # the earlier segment precedes the later one in the document
    # with a second document, the forced-random B of one-sentence chunks comes from the other document
    out = create_sop_examples({"sentences": docs}, big_vocab_bert, max_seq_length=8, seed=4)
    for ids, label in zip(out["input_ids"], out["sentence_order_label"]):
        a, b = split_pair(ids)
        if {owner[t] for t in a} != {owner[t] for t in b}:
            assert label == 1  # only a forced-random pair mixes documents, and it is labelled 1


def test_pair_batch_size_leaves_no_single_document_batch(big_vocab_bert):
    import datasets

    for n in range(1, 400):
        for batch_size in (2, 3, 7, 100):
            size = pair_batch_size(n, batch_size)
            assert size >= min(n, batch_size) and (n % size != 1 or n == 1), (n, batch_size, size)
    with pytest.raises(ValueError, match="batch_size must be an int >= 2.*got 1"):
        pair_batch_size(10, 1)
    docs, _ = owned_corpus(9, 20, np.random.default_rng(10))
    ds = datasets.Dataset.from_dict({"sentences": docs})
    pair = partial(create_nsp_examples, tokenizer=big_vocab_bert, max_seq_length=12)
    with pytest.raises(ValueError, match=r"got 1 document\(s\) in this batch"):  # 9 = 4 + 4 + 1
        ds.map(pair, batched=True, batch_size=4, remove_columns=["sentences"], load_from_cache_file=False)
    mapped = ds.map(pair, batched=True, batch_size=pair_batch_size(len(ds), 4), remove_columns=["sentences"],
                    load_from_cache_file=False)
    assert len(mapped) > 0
