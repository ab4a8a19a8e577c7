"""Training objectives of the heads, reached through `TobigsPreTrainedModel.loss_function`.

Token-level losses are written here because transformers' `ForCausalLMLoss` has no label smoothing (paper §5.4
uses epsilon_ls = 0.1). Like transformers' losses they sum and divide by `num_items_in_batch` when the Trainer passes
it, so gradient accumulation and data-parallel runs scale the loss correctly. Sentence-level losses are transformers'.
"""

import torch
from torch import nn
from transformers.loss.loss_utils import (
    ForQuestionAnsweringLoss,
    ForSequenceClassificationLoss,
    ForTokenClassification,
)


def token_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    vocab_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    shift_labels: bool = False,
    **kwargs,
) -> torch.Tensor:
    """Cross-entropy over tokens whose label is not `ignore_index`.

    `shift_labels=True` is the causal LM case: the logits at position t predict the label at t+1.
    """
    if shift_labels:
        labels = nn.functional.pad(labels, (0, 1), value=ignore_index)[..., 1:]  # (B, T): next-token targets
    logits = logits.float().reshape(-1, vocab_size)  # (B*T, V); float for a stable log-softmax in half precision
    labels = labels.reshape(-1).to(logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = nn.functional.cross_entropy(
        logits, labels, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing
    )
    if num_items_in_batch is not None:
        loss = loss / (num_items_in_batch.to(loss.device) if torch.is_tensor(num_items_in_batch) else num_items_in_batch)
    return loss


def causal_lm_loss(logits, labels, vocab_size, **kwargs) -> torch.Tensor:
    return token_cross_entropy(logits, labels, vocab_size, shift_labels=True, **kwargs)


def seq2seq_lm_loss(logits, labels, vocab_size, **kwargs) -> torch.Tensor:
    # decoder_input_ids are the labels shifted right already, so position t predicts labels[t].
    return token_cross_entropy(logits, labels, vocab_size, **kwargs)


def masked_lm_loss(logits, labels, vocab_size, **kwargs) -> torch.Tensor:
    return token_cross_entropy(logits, labels, vocab_size, **kwargs)


def multiple_choice_loss(logits, labels, **kwargs) -> torch.Tensor:
    return token_cross_entropy(logits, labels, logits.shape[-1], **kwargs)


# Token-level losses read `config.label_smoothing`; `TobigsPreTrainedModel.loss_function` binds it.
TOKEN_LOSSES = ("causal_lm", "seq2seq_lm", "masked_lm")

LOSSES = {
    "causal_lm": causal_lm_loss,
    "seq2seq_lm": seq2seq_lm_loss,
    "masked_lm": masked_lm_loss,
    "sequence_classification": ForSequenceClassificationLoss,
    "token_classification": ForTokenClassification,
    "question_answering": ForQuestionAnsweringLoss,
    "multiple_choice": multiple_choice_loss,
}
