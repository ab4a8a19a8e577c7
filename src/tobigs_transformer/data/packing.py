"""Packing text into training blocks: RoBERTa's FULL-SENTENCES inputs (Liu et al. 2019, §4.2) and ``group_texts``.

RoBERTa drops NSP and feeds blocks "packed with full sentences sampled contiguously from one or more documents, such
that the total length is at most 512 tokens", with an extra separator token between documents.  :func:`pack_sentences`
does exactly that as a batched ``datasets.map`` over documents given as lists of sentences; the same routine (without
crossing documents, recording sentence boundaries) prepares BART's inputs for sentence permutation.
:func:`group_texts` is the classic "concatenate and cut into fixed blocks" used for GPT-style causal LM training, where
every block but the last has exactly ``block_size`` tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers.utils import logging


logger = logging.get_logger(__name__)

__all__ = ["group_texts", "pack_sentences", "special_token_frame"]


def special_token_frame(tokenizer: Any) -> tuple[list[int], list[int], int | None]:
    """``(prefix, suffix, separator)`` ids around one sequence: ``[CLS] … [SEP]`` for BERT-style tokenizers,
    ``<s> … </s>`` for BART-style ones.  ``separator`` is what RoBERTa puts between documents (``[SEP]`` / ``</s>``)."""
    cls_id, sep_id = getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)
    bos_id, eos_id = getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None)
    if cls_id is not None and sep_id is not None and cls_id != sep_id:
        return [cls_id], [sep_id], sep_id
    if bos_id is not None and eos_id is not None:
        if bos_id == eos_id:  # GPT-style: one <|endoftext|> between documents, nothing around a block
            return [], [], eos_id
        return [bos_id], [eos_id], eos_id
    raise ValueError(
        f"{type(tokenizer).__name__} has neither cls/sep nor bos/eos tokens; packing needs one pair "
        "(train the tokenizer with tobigs_transformer.data.train_wordpiece_tokenizer or train_bart_tokenizer)"
    )


def _normalise_documents(examples: Mapping[str, list], sentences_column: str) -> list[list[str]]:
    if sentences_column not in examples:
        raise ValueError(
            f"column '{sentences_column}' not in batch (columns: {sorted(examples)}); documents must be lists of "
            "sentences — pass sentences_column=..."
        )
    documents = []
    for doc in examples[sentences_column]:
        if doc is None:
            documents.append([])
        elif isinstance(doc, str):
            raise TypeError(
                f"column '{sentences_column}' must hold lists of sentences, got a plain string {doc[:40]!r}; "
                "split documents into sentences during preprocessing"
            )
        else:
            documents.append([s for s in doc if s is not None and s.strip()])
    return documents


def _tokenize_documents(tokenizer: Any, documents: list[list[str]], leading_space: bool) -> list[list[list[int]]]:
    """Tokenize every sentence without specials, one batched call.  For byte-level BPE, sentences after the first of a
    document get a leading space so that the concatenation decodes back to space-separated text."""
    flat, owners = [], []
    for d, doc in enumerate(documents):
        for j, sentence in enumerate(doc):
            flat.append((" " + sentence) if (leading_space and j > 0) else sentence)
            owners.append(d)
    ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    out: list[list[list[int]]] = [[] for _ in documents]
    for d, sentence_ids in zip(owners, ids):
        if sentence_ids:
            out[d].append(list(sentence_ids))
    return out


def _is_byte_level(tokenizer: Any) -> bool:
    """True when the tokenizer marks a leading space with ``Ġ`` (GPT-2/BART byte-level BPE)."""
    try:
        return any(t.startswith("\u0120") for t in tokenizer.tokenize("a b"))
    except Exception:  # a tokenizer-like object without tokenize(): assume no space marks
        return False


def pack_sentences(
    examples: Mapping[str, list],
    tokenizer: Any,
    max_length: int = 512,
    sentences_column: str = "sentences",
    cross_documents: bool = True,
    return_sentence_ends: bool = False,
    return_special_tokens_mask: bool = True,
) -> dict[str, list]:
    """Batched ``datasets.map`` function: pack whole sentences greedily into blocks of at most ``max_length`` tokens.

    ``examples[sentences_column]`` holds documents as lists of sentence strings.  Each block is framed with the
    tokenizer's specials (``[CLS] … [SEP]`` or ``<s> … </s>``).  With ``cross_documents=True`` (RoBERTa
    FULL-SENTENCES) a block may continue into the next document after a separator token (``[SEP]``/``</s>``);
    otherwise each document starts a new block (RoBERTa DOC-SENTENCES / BART).  A sentence longer than a block is
    split into block-sized pieces so no text is lost.  Returns ``input_ids``, ``attention_mask`` and optionally
    ``special_tokens_mask`` (so ``DataCollatorForLanguageModeling`` skips the separators) and ``sentence_ends``
    (exclusive end positions of the sentences inside ``input_ids``).  Packing only spans one ``map`` batch: use
    a large ``batch_size`` to waste less of the last block of each batch.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(f"max_length must be an int, got {max_length!r}")
    prefix, suffix, separator = special_token_frame(tokenizer)
    capacity = max_length - len(prefix) - len(suffix)
    if capacity < 2:
        raise ValueError(f"max_length={max_length} leaves {capacity} content tokens; it must allow at least 2")
    documents = _tokenize_documents(tokenizer, _normalise_documents(examples, sentences_column), _is_byte_level(tokenizer))

    blocks: list[list[int]] = []
    block_ends: list[list[int]] = []
    block_seps: list[list[int]] = []
    current: list[int] = []
    ends: list[int] = []
    seps: list[int] = []

    def flush() -> None:
        nonlocal current, ends, seps
        if current:
            if seps and seps[-1] == len(current) - 1:  # a trailing document separator is useless
                current.pop()
                seps.pop()
                ends = [min(e, len(current)) for e in ends]
            blocks.append(current)
            block_ends.append(ends)
            block_seps.append(seps)
        current, ends, seps = [], [], []

    for doc in documents:
        if not doc:
            continue
        if current and not cross_documents:
            flush()
        if current and cross_documents and separator is not None:
            if len(current) + 1 >= capacity:
                flush()
            else:
                seps.append(len(current))
                current.append(separator)
        for sentence in doc:
            pieces = [sentence[i : i + capacity] for i in range(0, len(sentence), capacity)]
            for piece in pieces:
                if len(current) + len(piece) > capacity:
                    flush()
                current.extend(piece)
                ends.append(len(current))
    flush()

    out: dict[str, list] = {"input_ids": [], "attention_mask": []}
    if return_special_tokens_mask:
        out["special_tokens_mask"] = []
    if return_sentence_ends:
        out["sentence_ends"] = []
    offset = len(prefix)
    for block, ends, seps in zip(blocks, block_ends, block_seps):
        ids = prefix + block + suffix
        out["input_ids"].append(ids)
        out["attention_mask"].append([1] * len(ids))
        if return_special_tokens_mask:
            mask = [1] * len(prefix) + [0] * len(block) + [1] * len(suffix)
            for s in seps:
                mask[offset + s] = 1
            out["special_tokens_mask"].append(mask)
        if return_sentence_ends:
            out["sentence_ends"].append([offset + e for e in ends])
    return out


def group_texts(
    examples: Mapping[str, list], block_size: int = 512, columns: list[str] | None = None, drop_last: bool = True
) -> dict[str, list]:
    """Batched ``datasets.map`` function: concatenate token lists and cut them into blocks of ``block_size``.

    Every block but (with ``drop_last=False``) the last has exactly ``block_size`` tokens; the remainder shorter
    than a block is dropped by default (as in the transformers examples).  ``columns`` defaults to every column
    whose values are lists (``input_ids``, ``attention_mask``, …).
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if columns is None:
        columns = [k for k, v in examples.items() if len(v) and isinstance(v[0], (list, tuple))]
    if not columns:
        raise ValueError(f"group_texts found no token-list columns in {sorted(examples)}")
    concatenated = {k: [x for seq in examples[k] for x in seq] for k in columns}
    totals = {k: len(v) for k, v in concatenated.items()}
    if len(set(totals.values())) > 1:
        raise ValueError(
            f"group_texts needs token-list columns of equal total length (they are cut at the same positions), got "
            f"{totals}"
        )
    total = len(concatenated[columns[0]])
    usable = (total // block_size) * block_size if drop_last else total
    return {k: [v[i : i + block_size] for i in range(0, usable, block_size)] for k, v in concatenated.items()}
