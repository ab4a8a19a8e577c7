"""The causal-LM training data: documents → one token stream → blocks whose every position has a target.

A block of N tokens with labels shifted inside the model gives N−1 predictions: its last position is never
trained, and with ``block_size == max_position_embeddings`` the last row of a learned position table never gets a
gradient (generation then degrades once the context is full).  Here a block is N inputs *and* the N tokens that
follow them, passed as ``shift_labels`` (transformers' pre-shifted targets: position t predicts ``shift_labels[t]``).
Block k covers stream positions [kN, kN + N) as inputs and [kN + 1, kN + N] as targets, so consecutive blocks
overlap by one token and every token of the stream after the first is a target exactly once (the tail that does not
fill a block is dropped, as in transformers' ``run_clm``; a stream shorter than one block is one short block).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["DataCollatorForShiftedBlocks", "coded_blocks", "group_shifted_blocks", "tokenize_documents"]


def tokenize_documents(
    batch: Mapping[str, list],
    indices: list[int],
    tokenizer: Any,
    column: str,
    eos_token_id: int | None,
    last_index: int | None = None,
    keep_blank: bool = False,
) -> dict[str, list]:
    """Batched ``datasets.map`` (``with_indices=True``): token ids of every text, without specials.

    ``last_index=None``: every row is a document, followed by ``eos_token_id`` (if not None); blank rows are skipped.
    ``last_index=i``: the rows are consecutive lines of one document (line breaks kept; ``keep_blank`` keeps the
    blank lines, which carry a ``\\n``) and only row ``i``, the last, is followed by ``eos_token_id``."""
    rows, texts = [], []
    for index, text in zip(indices, batch[column]):
        if text is None or not (text if keep_blank else text.strip()):
            continue
        rows.append(index)
        texts.append(text)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    out = []
    for index, token_ids in zip(rows, ids):
        token_ids = list(token_ids)
        if eos_token_id is not None and (last_index is None or index == last_index):
            token_ids.append(eos_token_id)
        out.append(token_ids)
    if last_index is not None and last_index in indices and last_index not in rows and eos_token_id is not None:
        out.append([eos_token_id])  # the document ends on a skipped (empty) row: still end it
    return {"input_ids": out}


def group_shifted_blocks(examples: Mapping[str, list], block_size: int) -> dict[str, list]:
    """Batched ``datasets.map`` over a whole split (``batch_size=None``): concatenate ``input_ids`` into one stream
    and cut it into ``input_ids`` blocks of ``block_size`` with their next-token ``shift_labels``."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    stream = [token for ids in examples["input_ids"] for token in ids]
    n_blocks = (len(stream) - 1) // block_size if stream else 0
    if n_blocks == 0 and len(stream) >= 2:  # shorter than one block: one short block rather than nothing
        return {"input_ids": [stream[:-1]], "shift_labels": [stream[1:]]}
    starts = range(0, n_blocks * block_size, block_size)
    return {
        "input_ids": [stream[s : s + block_size] for s in starts],
        "shift_labels": [stream[s + 1 : s + 1 + block_size] for s in starts],
    }


def coded_blocks(examples: Mapping[str, list], block_size: int, code_ids: Mapping[str, int],
                 code_column: str = "control_code") -> dict[str, list]:
    """CTRL (Keskar et al. 2019): every example starts with its control code.  Batched ``datasets.map`` over
    tokenised documents (``input_ids`` ending in EOS, and their code): document blocks never cross documents, and
    block j of a document is ``[code] + body[j(N-1) ... ]``, N inputs whose targets are the next N tokens of the body;
    every body token is a target exactly once, the code never (it is given, not predicted)."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an int >= 2 with control codes, got {block_size!r}")
    inputs, targets = [], []
    step = block_size - 1  # body tokens in a block's inputs (the code takes one place)
    for body, code in zip(examples["input_ids"], examples[code_column]):
        for start in range(0, len(body), block_size):
            inputs.append([code_ids[code], *body[start : start + step]])
            targets.append(body[start : start + block_size])
            if len(targets[-1]) < len(inputs[-1]):  # the body ends inside this block's inputs
                inputs[-1] = inputs[-1][: len(targets[-1])]
    return {"input_ids": inputs, "shift_labels": targets}


class DataCollatorForShiftedBlocks:
    """Batches of blocks: ``input_ids``, ``attention_mask``, ``labels`` (the inputs, as transformers' CLM collator
    gives them) and ``shift_labels`` (the targets, what the loss reads).

    Blocks of one split all have the same length, so nothing is padded in practice and no pad token is needed; a
    ragged batch is right-padded with any id (the tokenizer's pad, else its end-of-text, else 0) under a zero
    attention mask and -100 targets, which a causal model never lets reach an earlier position."""

    def __init__(self, tokenizer: Any = None, pad_token_id: int | None = None):
        if pad_token_id is None and tokenizer is not None:
            pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = 0 if pad_token_id is None else int(pad_token_id)

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        length = max(len(f["input_ids"]) for f in features)
        batch = len(features)
        input_ids = torch.full((batch, length), self.pad_token_id, dtype=torch.long)  # (B, T)
        shift_labels = torch.full((batch, length), -100, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((batch, length), dtype=torch.long)  # (B, T)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            input_ids[i, :n] = torch.as_tensor(f["input_ids"], dtype=torch.long)
            shift_labels[i, :n] = torch.as_tensor(f["shift_labels"], dtype=torch.long)
            attention_mask[i, :n] = 1
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
                "shift_labels": shift_labels}
