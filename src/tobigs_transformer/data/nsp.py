"""BERT's next-sentence-prediction pairs (Devlin et al. 2019 §3.1, Task #2) and ALBERT's sentence-order pairs.

BERT pretrains on ``[CLS] A [SEP] B [SEP]`` where half the time B is the text that follows A and half the time a
random span from another document.  :func:`create_nsp_examples` ports google-research/bert
``create_instances_from_document`` (commit eedf5716): whole sentences accumulate into a chunk up to a target length
(with probability ``short_seq_prob`` a random shorter target), A is a random prefix of the chunk, B the rest or —
with probability ``nsp_probability`` and always for one-sentence chunks — a random document's text, and
``truncate_seq_pair`` trims the longer side from a random end.  ALBERT (Lan et al. 2020 §3.2) replaces NSP by
sentence-order prediction: B always follows A and the two are swapped with probability ½
(:func:`create_sop_examples`).  Labels follow transformers: ``next_sentence_label`` 0 = B continues A, 1 = random;
``sentence_order_label`` 0 = original order, 1 = swapped.

Both are batched ``datasets.map`` functions over documents given as lists of sentences.  Random B segments come from
the other documents **of the same map batch** (pass ``all_documents`` to draw from a fixed pool instead), so use a
large ``batch_size`` (:func:`pair_batch_size` picks one that leaves no batch with a single document).  A random B is
never taken from A's own document — nor from a document with the same sentences — so NSP raises ``ValueError`` when
fewer than two distinct documents are available (google-research/bert gives up after 10 tries and then uses A's own
document, which labels the true next sentence "random" on a one-document corpus).  SOP takes A and B from the same
document by design; only its one-sentence chunks need another document, and they are skipped when there is none.
Masking is then applied per batch by :class:`DataCollatorForNextSentencePrediction`, which delegates to
``transformers.DataCollatorForLanguageModeling``.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import DataCollatorForLanguageModeling
from transformers.utils import logging

from .ngram_masking import DataCollatorForNgramMasking
from .packing import _normalise_documents, _tokenize_documents


logger = logging.get_logger(__name__)

__all__ = [
    "DataCollatorForNextSentencePrediction",
    "create_nsp_examples",
    "create_sop_examples",
    "pair_batch_size",
]

PAIR_LABEL_COLUMNS = ("next_sentence_label", "sentence_order_label")


def _truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random) -> None:
    """google-research/bert: drop a token from the front or back (½ each) of the longer sequence until they fit."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def _batch_rng(seed: int, documents: list[list[list[int]]]) -> random.Random:
    """A generator seeded by ``seed`` and the batch's content, so every map batch gets its own reproducible stream."""
    digest = zlib.crc32(repr([d[:1] for d in documents[:8]]).encode()) ^ len(documents)
    return random.Random(f"{seed}-{digest}")


class _OtherDocuments:
    """Uniform draws of a pool index whose document differs from a given document (content, not position: a duplicate
    of A's document would hand A its own next sentence)."""

    def __init__(self, pool: list[list[list[int]]]) -> None:
        self.pool = pool
        self.groups: dict[tuple, list[int]] = {}
        for index, document in enumerate(pool):
            self.groups.setdefault(_document_key(document), []).append(index)

    def count_other(self, key: tuple) -> int:
        return len(self.pool) - len(self.groups.get(key, ()))

    def draw(self, key: tuple, rng: random.Random) -> int | None:
        """A pool index drawn uniformly among the documents whose key differs from ``key``; None when there is none."""
        same = self.groups.get(key, [])
        others = len(self.pool) - len(same)
        if others == 0:
            return None
        index = rng.randint(0, others - 1)
        for taken in same:  # sorted: shift past every index of A's document
            if taken <= index:
                index += 1
        return index


def _document_key(document: list[list[int]]) -> tuple:
    return tuple(tuple(segment) for segment in document)


def _pair_instances(
    documents: list[list[list[int]]],
    others: _OtherDocuments,
    rng: random.Random,
    max_seq_length: int,
    short_seq_prob: float,
    probability: float,
    mode: str,
) -> list[tuple[list[int], list[int], int]]:
    max_num_tokens = max_seq_length - 3
    instances = []
    for document in documents:
        key = _document_key(document)
        target_seq_length = max_num_tokens
        if rng.random() < short_seq_prob:
            target_seq_length = rng.randint(2, max_num_tokens)
        current_chunk: list[list[int]] = []
        current_length = 0
        i = 0
        while i < len(document):
            segment = document[i]
            current_chunk.append(segment)
            current_length += len(segment)
            if i == len(document) - 1 or current_length >= target_seq_length:
                if current_chunk:
                    a_end = 1
                    if len(current_chunk) >= 2:
                        a_end = rng.randint(1, len(current_chunk) - 1)
                    tokens_a = [t for seg in current_chunk[:a_end] for t in seg]
                    tokens_b: list[int] = []
                    label = 0
                    if len(current_chunk) == 1 or (mode == "nsp" and rng.random() < probability):
                        label = 1
                        target_b_length = target_seq_length - len(tokens_a)
                        random_document_index = others.draw(key, rng)
                        if random_document_index is not None:
                            random_document = others.pool[random_document_index]
                            random_start = rng.randint(0, len(random_document) - 1)
                            for j in range(random_start, len(random_document)):
                                tokens_b.extend(random_document[j])
                                if len(tokens_b) >= target_b_length:
                                    break
                        # (SOP with no other document: tokens_b stays empty and the chunk yields no pair)
                        # put the unused segments back so they are used in the next chunk
                        i -= len(current_chunk) - a_end
                    else:
                        tokens_b = [t for seg in current_chunk[a_end:] for t in seg]
                        if mode == "sop" and rng.random() < probability:
                            tokens_a, tokens_b = tokens_b, tokens_a
                            label = 1
                    _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                    if tokens_a and tokens_b:
                        instances.append((tokens_a, tokens_b, label))
                current_chunk = []
                current_length = 0
            i += 1
    return instances


def _require_other_documents(
    documents: list[list[list[int]]], others: _OtherDocuments, from_pool: bool, n_documents: int
) -> None:
    """NSP draws a random B from a document other than A's: there must be one for every document of the batch."""
    if all(others.count_other(_document_key(d)) > 0 for d in documents):
        return
    distinct = len(others.groups)
    if from_pool:
        raise ValueError(
            f"all_documents holds {len(others.pool)} document(s), {distinct} distinct, and none differs from a "
            "document of this batch; NSP needs >= 2 distinct documents so that a random B comes from a document "
            "other than A's"
        )
    raise ValueError(
        f"create_nsp_examples got {n_documents} document(s) in this batch, {distinct} distinct with a non-empty "
        "sentence; NSP needs >= 2 distinct documents, since a random B must come from a document other than A's. "
        "Give more documents per datasets.map batch (batch_size; see pair_batch_size) or a pool (all_documents=...)"
    )


def pair_batch_size(num_documents: int, batch_size: int = 1000) -> int:
    """A ``datasets.map`` batch size >= ``batch_size`` for which no batch of ``num_documents`` documents holds exactly
    one document (NSP draws random B segments from the other documents of a batch).  With fewer than
    ``batch_size`` documents, every document goes into one batch."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2 (NSP pairs need 2 documents per batch), got {batch_size!r}")
    if num_documents <= batch_size:
        return max(num_documents, 1)
    size = batch_size
    while num_documents % size == 1:
        size += 1
    return size


def _create_pairs(
    examples: Mapping[str, list],
    tokenizer: Any,
    max_seq_length: int,
    short_seq_prob: float,
    probability: float,
    seed: int,
    sentences_column: str,
    all_documents: Sequence[Sequence[str]] | None,
    mode: str,
    label_column: str,
) -> dict[str, list]:
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 5:
        raise ValueError(f"max_seq_length must be an int >= 5 ([CLS] A [SEP] B [SEP]), got {max_seq_length!r}")
    for name, value in (("short_seq_prob", short_seq_prob), (f"{mode}_probability", probability)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    cls_id, sep_id = getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)
    if cls_id is None or sep_id is None:
        raise ValueError(
            f"{type(tokenizer).__name__} lacks [CLS]/[SEP] (cls_token_id={cls_id}, sep_token_id={sep_id}); sentence "
            "pairs need a BERT-style tokenizer such as tobigs_transformer.data.train_wordpiece_tokenizer"
        )
    documents = [d for d in _tokenize_documents(tokenizer, _normalise_documents(examples, sentences_column), False)]
    non_empty = [d for d in documents if d]
    if all_documents is not None:
        pool = [d for d in _tokenize_documents(tokenizer, [list(doc) for doc in all_documents], False) if d]
        if not pool:
            raise ValueError(
                f"all_documents holds {len(all_documents)} document(s), none with a non-empty sentence; NSP needs >= 2"
            )
    else:
        pool = non_empty
    others = _OtherDocuments(pool)
    if mode == "nsp":
        _require_other_documents(non_empty, others, all_documents is not None, len(documents))
    rng = _batch_rng(seed, non_empty)
    instances = _pair_instances(non_empty, others, rng, max_seq_length, short_seq_prob, probability, mode)
    out: dict[str, list] = {
        "input_ids": [],
        "token_type_ids": [],
        "attention_mask": [],
        "special_tokens_mask": [],
        label_column: [],
    }
    for tokens_a, tokens_b, label in instances:
        ids = [cls_id, *tokens_a, sep_id, *tokens_b, sep_id]
        len_a = len(tokens_a) + 2
        out["input_ids"].append(ids)
        out["token_type_ids"].append([0] * len_a + [1] * (len(tokens_b) + 1))
        out["attention_mask"].append([1] * len(ids))
        out["special_tokens_mask"].append([1] + [0] * len(tokens_a) + [1] + [0] * len(tokens_b) + [1])
        out[label_column].append(label)
    return out


def create_nsp_examples(
    examples: Mapping[str, list],
    tokenizer: Any,
    max_seq_length: int = 128,
    short_seq_prob: float = 0.1,
    nsp_probability: float = 0.5,
    seed: int = 12345,
    sentences_column: str = "sentences",
    all_documents: Sequence[Sequence[str]] | None = None,
) -> dict[str, list]:
    """BERT NSP pairs from a batch of documents (each a list of sentence strings) — use with
    ``ds.map(partial(create_nsp_examples, tokenizer=tok), batched=True, remove_columns=ds.column_names)``.

    Returns ``input_ids`` (``[CLS] A [SEP] B [SEP]``), ``token_type_ids``, ``attention_mask``,
    ``special_tokens_mask`` and ``next_sentence_label`` (0 = B continues A, 1 = B random).  Deterministic for a
    ``seed`` and the batch content.
    """
    return _create_pairs(
        examples, tokenizer, max_seq_length, short_seq_prob, nsp_probability, seed, sentences_column,
        all_documents, "nsp", "next_sentence_label",
    )


def create_sop_examples(
    examples: Mapping[str, list],
    tokenizer: Any,
    max_seq_length: int = 512,
    short_seq_prob: float = 0.1,
    sop_probability: float = 0.5,
    seed: int = 12345,
    sentences_column: str = "sentences",
    all_documents: Sequence[Sequence[str]] | None = None,
) -> dict[str, list]:
    """ALBERT sentence-order pairs: A and B are consecutive segments of one document, swapped with probability
    ``sop_probability`` (``sentence_order_label`` 1 = swapped).  A one-segment chunk falls back to a random-document B
    with label 1, as google-research/albert does."""
    return _create_pairs(
        examples, tokenizer, max_seq_length, short_seq_prob, sop_probability, seed, sentences_column,
        all_documents, "sop", "sentence_order_label",
    )


class DataCollatorForNextSentencePrediction:
    """Pads ``[CLS] A [SEP] B [SEP]`` pairs (``input_ids``, ``token_type_ids``, ``attention_mask``), applies BERT's
    MLM masking by delegating to ``transformers.DataCollatorForLanguageModeling`` (15 %, 80/10/10, random ids from the
    whole vocabulary, specials skipped via ``special_tokens_mask``) and stacks ``next_sentence_label`` /
    ``sentence_order_label`` into a tensor.

    With ``Trainer``, set ``TrainingArguments(remove_unused_columns=False)`` or make sure the model's ``forward``
    accepts every column (``TobigsForPreTraining`` takes ``next_sentence_label``); otherwise Trainer drops
    ``special_tokens_mask`` before the collator sees it (masking then falls back to the tokenizer's special ids).
    ``mlm=False`` gives NSP-only batches (no ``labels``); ``max_ngram`` (e.g. 3) masks ALBERT's n-grams instead of
    single tokens (:class:`~.ngram_masking.DataCollatorForNgramMasking`).

    Every feature is checked before padding: ids in ``[0, len(tokenizer))``, ``token_type_ids`` as long as
    ``input_ids``, pair labels 0 or 1 and, with ``max_length`` (e.g. the model's ``max_position_embeddings``), no
    sequence longer than it; a bad feature raises ``ValueError`` naming its index, the value and the limit.
    """

    def __init__(
        self,
        tokenizer: Any,
        mlm: bool = True,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        pad_to_multiple_of: int | None = None,
        seed: int | None = None,
        return_tensors: str = "pt",
        max_length: int | None = None,
        max_ngram: int | None = None,
    ) -> None:
        if tokenizer.pad_token is None:
            raise ValueError(f"{type(tokenizer).__name__} has no pad_token; pairs cannot be padded")
        if return_tensors != "pt":
            raise ValueError(f"only return_tensors='pt' is supported, got {return_tensors!r}")
        for name, value in (
            ("mlm_probability", mlm_probability),
            ("mask_replace_prob", mask_replace_prob),
            ("random_replace_prob", random_replace_prob),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if mask_replace_prob + random_replace_prob > 1.0:
            raise ValueError(
                f"mask_replace_prob + random_replace_prob must be <= 1, got {mask_replace_prob} + "
                f"{random_replace_prob} = {mask_replace_prob + random_replace_prob}"
            )
        for name, value in (("pad_to_multiple_of", pad_to_multiple_of), ("max_length", max_length)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        self.tokenizer = tokenizer
        self.mlm = mlm
        self.max_length = max_length
        self.vocab_size = len(tokenizer)
        # ALBERT's n-gram masking (max_ngram) or BERT's single tokens
        masking = {"max_ngram": max_ngram} if max_ngram is not None else {}
        self.lm_collator = (DataCollatorForNgramMasking if max_ngram is not None else DataCollatorForLanguageModeling)(
            **masking,
            tokenizer=tokenizer,
            mlm=mlm,
            mlm_probability=mlm_probability,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
            pad_to_multiple_of=pad_to_multiple_of,
            seed=seed,
            return_tensors="pt",
        )
        self.pad_to_multiple_of = pad_to_multiple_of

    def _check_feature(self, index: int, feature: Mapping[str, Any]) -> None:
        if not isinstance(feature, Mapping) or "input_ids" not in feature:
            raise ValueError(f"feature {index} must be a dict with 'input_ids', got {type(feature).__name__}")
        ids = _as_list(feature["input_ids"])
        if not ids:
            raise ValueError(f"feature {index}: input_ids is empty; a pair has at least [CLS] A [SEP] B [SEP] (5 ids)")
        low, high = min(ids), max(ids)
        if low < 0 or high >= self.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"feature {index}: input id {bad} is outside the vocabulary [0, {self.vocab_size}) of "
                f"{type(self.tokenizer).__name__} (was the data tokenized with another tokenizer?)"
            )
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"feature {index}: {len(ids)} input ids exceed max_length={self.max_length}")
        for column in ("token_type_ids", "attention_mask", "special_tokens_mask"):
            if column in feature and len(_as_list(feature[column])) != len(ids):
                raise ValueError(
                    f"feature {index}: {column} has {len(_as_list(feature[column]))} entries but input_ids has "
                    f"{len(ids)}"
                )
        for column in PAIR_LABEL_COLUMNS:
            if column in feature and feature[column] not in (0, 1):
                raise ValueError(
                    f"feature {index}: {column} must be 0 or 1 (0 = B continues A / original order), got "
                    f"{feature[column]!r}"
                )

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        if len(features) == 0:
            raise ValueError("DataCollatorForNextSentencePrediction got an empty batch (0 features); need at least 1")
        for index, feature in enumerate(features):
            self._check_feature(index, feature)
        labels = {}
        for column in PAIR_LABEL_COLUMNS:
            present = [column in f for f in features]
            if any(present):
                if not all(present):
                    missing = present.index(False)
                    raise ValueError(
                        f"some features carry '{column}' and some do not (feature {missing} of {len(features)} has "
                        "none)"
                    )
                labels[column] = torch.tensor([int(f[column]) for f in features], dtype=torch.long)
        keep = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask")
        stripped = [{k: f[k] for k in keep if k in f} for f in features]
        if self.mlm:
            batch = self.lm_collator(stripped)
        else:
            for f in stripped:
                f.pop("special_tokens_mask", None)
            batch = dict(
                self.tokenizer.pad(stripped, return_tensors="pt", pad_to_multiple_of=self.pad_to_multiple_of)
            )
        batch.update(labels)
        return batch


def _as_list(value: Any) -> list:
    return value.tolist() if hasattr(value, "tolist") else list(value)
