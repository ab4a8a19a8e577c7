"""Training objectives of the heads, reached through `TobigsPreTrainedModel.loss_function`.

Token-level losses are written here because transformers' `ForCausalLMLoss` has no label smoothing (paper §5.4
uses epsilon_ls = 0.1). Like transformers' losses they sum and divide by `num_items_in_batch` when the Trainer passes
it, so gradient accumulation and data-parallel runs scale the loss correctly, and the causal-LM loss takes a
pre-shifted `shift_labels` tensor as `ForCausalLMLoss` does. Sentence-level losses are transformers', except that
cross-entropy goes through `token_cross_entropy` everywhere so a batch without a single target is a loss of 0.0
(a sum over no tokens), never NaN.

`chunked_token_cross_entropy` is the same loss computed from the hidden states and the output projection, chunk by
chunk, without materialising the logits (`chunked_loss.py`); the models use it in training when
`config.loss_chunk_size > 0` (see `TobigsPreTrainedModel.uses_chunked_loss`).
"""

from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers.loss.loss_utils import ForQuestionAnsweringLoss, ForSequenceClassificationLoss
from transformers.utils import is_torchdynamo_compiling

from .checks import check_adaptive_label_smoothing
from .chunked_loss import linear_cross_entropy_sum

if TYPE_CHECKING:
    from .adaptive import ProjectedAdaptiveLogSoftmax


def check_targets(targets: torch.Tensor | None, limit: int, limit_name: str, name: str = "labels",
                  ignore_index: int = -100) -> None:
    """Integer targets must lie in [0, limit) or equal `ignore_index`; raise a ValueError naming the bad value and the
    limit, instead of an IndexError (CPU) or a device-side assert (CUDA) inside cross-entropy.

    One host sync in eager mode; skipped under torch.compile, where the kernel's own check remains."""
    if targets is None or is_torchdynamo_compiling() or targets.is_floating_point() or targets.numel() == 0:
        return
    bad = ((targets < 0) | (targets >= limit)) & (targets != ignore_index)
    if bad.any():
        value = targets[bad][0].item()
        raise ValueError(
            f"{name} contains {value}, outside [0, {limit_name}={limit}); use {ignore_index} for positions "
            "without a target"
        )


def token_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    **kwargs,
) -> torch.Tensor:
    """Cross-entropy of `logits[..., t, :]` against `targets[..., t]`, over targets that are not `ignore_index`.

    Without `num_items_in_batch` this is the mean over those targets; with it, their sum divided by it. Either way
    a batch in which every target is `ignore_index` gives 0.0 with a zero gradient (a sum over no tokens), where
    `cross_entropy(reduction="mean")` would give 0/0 = NaN and poison the optimizer state.
    """
    logits = logits.float().reshape(-1, vocab_size)  # (B*T, V); float for a stable log-softmax in half precision
    targets = targets.reshape(-1).to(logits.device)  # (B*T,)
    total = nn.functional.cross_entropy(
        logits, targets, ignore_index=ignore_index, reduction="sum", label_smoothing=label_smoothing
    )
    return normalise_token_loss(total, targets, num_items_in_batch, ignore_index)


def normalise_token_loss(total: torch.Tensor, targets: torch.Tensor, num_items_in_batch: torch.Tensor | int | None,
                         ignore_index: int = -100) -> torch.Tensor:
    """A summed token loss divided by `num_items_in_batch` if given, else by the number of targets; 0.0 for none."""
    if num_items_in_batch is None:
        count = (targets != ignore_index).sum()  # a tensor: no host sync
    elif torch.is_tensor(num_items_in_batch):
        count = num_items_in_batch.to(total.device)
    else:  # an int, as a custom training loop may pass
        return total / max(num_items_in_batch, 1)
    return total / count.clamp(min=1)


def chunked_token_cross_entropy(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    chunk_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    **kwargs,
) -> torch.Tensor:
    """`token_cross_entropy(hidden_states @ weight.T + bias, targets, ...)`, the same value and gradients, computed
    `chunk_size` tokens at a time with the projection fused in, so the (tokens x vocab) logits never exist.

    hidden_states: (..., d_model), the input of the output projection; targets: (...), already aligned with it (the
    causal shift applied, see `next_token_targets`)."""
    total = linear_cross_entropy_sum(hidden_states, weight, bias, targets, chunk_size, ignore_index, label_smoothing)
    return normalise_token_loss(total, targets.reshape(-1).to(total.device), num_items_in_batch, ignore_index)


def adaptive_token_cross_entropy(
    head: "ProjectedAdaptiveLogSoftmax",
    hidden_states: torch.Tensor,
    targets: torch.Tensor,
    chunk_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    **kwargs,
) -> torch.Tensor:
    """The cross-entropy of the adaptive softmax `head` (`adaptive.py`): the same value as `token_cross_entropy` on
    its log-probabilities over the vocabulary, computed per cluster (and per chunk of `chunk_size` tokens) without
    them; `ignore_index` and `num_items_in_batch` as there. No label smoothing (it would need every word's
    log-probability)."""
    check_adaptive_label_smoothing(label_smoothing)
    total = head.loss_sum(hidden_states, targets, chunk_size, ignore_index)
    return normalise_token_loss(total, targets.reshape(-1).to(total.device), num_items_in_batch, ignore_index)


def next_token_targets(labels: torch.Tensor | None, shift_labels: torch.Tensor | None,
                       ignore_index: int = -100) -> torch.Tensor:
    """The target of every position for next-token prediction: `shift_labels` as given, else `labels[t + 1]` with
    no target (`ignore_index`) at the last position."""
    if shift_labels is not None:
        return shift_labels
    if labels is None:
        raise ValueError("the causal-LM loss needs labels or shift_labels")
    return nn.functional.pad(labels, (0, 1), value=ignore_index)[..., 1:]  # (B, T): next-token targets


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor | None,
    vocab_size: int,
    shift_labels: torch.Tensor | None = None,
    ignore_index: int = -100,
    **kwargs,
) -> torch.Tensor:
    """Next-token prediction, with the semantics of transformers' `ForCausalLMLoss`: the logits at position t are
    scored against `labels[t + 1]` (the last position has no target), unless `shift_labels` is given, in which case
    it already holds the target of every position and is used as it is (`labels` may then be None)."""
    targets = next_token_targets(labels, shift_labels, ignore_index)
    return token_cross_entropy(logits, targets, vocab_size, ignore_index=ignore_index, **kwargs)


def seq2seq_lm_loss(logits, labels, vocab_size, **kwargs) -> torch.Tensor:
    # decoder_input_ids are the labels shifted right already, so position t predicts labels[t].
    return token_cross_entropy(logits, labels, vocab_size, **kwargs)


def masked_lm_loss(logits, labels, vocab_size, **kwargs) -> torch.Tensor:
    return token_cross_entropy(logits, labels, vocab_size, **kwargs)


def multiple_choice_loss(logits, labels, **kwargs) -> torch.Tensor:
    return token_cross_entropy(logits, labels, logits.shape[-1], **kwargs)


def token_classification_loss(logits, labels, config, **kwargs) -> torch.Tensor:
    """transformers' `ForTokenClassification` (cross-entropy over `config.num_labels`), NaN-free without targets."""
    return token_cross_entropy(logits, labels, config.num_labels, **kwargs)


def sequence_classification_loss(labels, pooled_logits, config, **kwargs) -> torch.Tensor:
    """transformers' `ForSequenceClassificationLoss`; its single-label case through `token_cross_entropy`."""
    if config.problem_type is None:
        # The inference transformers makes (and stores), so both paths agree on what the labels mean.
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "single_label_classification":
        return token_cross_entropy(pooled_logits, labels, config.num_labels, **kwargs)
    return ForSequenceClassificationLoss(labels, pooled_logits, config, **kwargs)


# Token-level losses read `config.label_smoothing`; `TobigsPreTrainedModel.loss_function` binds it.
def replaced_token_detection_loss(logits, labels, attention_mask=None, **kwargs) -> torch.Tensor:
    """ELECTRA's discriminator loss, as transformers' `ElectraForPreTraining`: binary cross-entropy of one logit per
    token against 1 = replaced / 0 = original, averaged over the real (attention_mask == 1) tokens only."""
    if attention_mask is not None:
        active = attention_mask == 1  # (B, T)
        logits, labels = logits[active], labels[active]
    return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


TOKEN_LOSSES = ("causal_lm", "seq2seq_lm", "masked_lm")

LOSSES = {
    "causal_lm": causal_lm_loss,
    "seq2seq_lm": seq2seq_lm_loss,
    "masked_lm": masked_lm_loss,
    "sequence_classification": sequence_classification_loss,
    "token_classification": token_classification_loss,
    "question_answering": ForQuestionAnsweringLoss,
    "multiple_choice": multiple_choice_loss,
    "replaced_token_detection": replaced_token_detection_loss,
}
