"""The LM head and its cross-entropy fused and computed over chunks of tokens, so no (tokens x vocab) logits are kept.

The paper's last step, "Linear + Softmax" (§3.4), is the largest tensor of a training step: GPT-2 at 16 x 1024 tokens
and a 50k vocabulary has 3.3 GB of float32 logits, and the plain path keeps them (and their softmax) for backward.
Here the output projection and the (label-smoothed) cross-entropy run one chunk of `chunk_size` tokens at a time:

    z = h W^T + b                                   (C, V) for one chunk only
    loss_i = (1 - eps) (lse(z_i) - z_i[y_i]) + eps (lse(z_i) - mean(z_i))     (torch's label smoothing)
    dloss_i / dz_i = softmax(z_i) - (1 - eps) onehot(y_i) - eps / V,   0 for ignored rows

and because dloss/dz is known as soon as z is, the gradients of h, W and b are computed in the same pass, while the
chunk's logits are still at hand (as Liger-Kernel's fused linear cross-entropy does). Backward then only scales them
by the incoming gradient. Three matrix products per chunk, as in the plain path, instead of four for a version that
recomputes the logits in backward; what stays alive between forward and backward is one gradient of h (tokens x
d_model) and one of W (vocab x d_model), never (tokens x vocab).

The result is the plain path's loss and gradients up to float32 summation order (tests check 1e-5), with
`ignore_index`, `label_smoothing`, and any `num_items_in_batch` normalisation applied by the caller on the sum.
"""

import torch
from torch import nn
from transformers.utils import is_torchdynamo_compiling


def _chunk_loss_and_grad(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor, ignore_index: int, label_smoothing: float,
                         with_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Summed cross-entropy of one chunk and (with_grad) dloss/dlogits, float32 (C, V)."""
    logits = nn.functional.linear(hidden, weight, bias)  # (C, V), in the model's dtype as the plain lm_head
    if logits.dtype == torch.float32 and not is_torchdynamo_compiling():  # inductor fuses it by itself
        # In place: the chunk's (C, V) buffer is the largest tensor of a step at a 32k vocabulary, and a second one
        # for the log-probabilities would double the loss's transient peak (the kernel reads each row before it
        # writes it, so the result is the out-of-place one bit for bit).
        log_probs = torch._log_softmax(logits, -1, False, out=logits)
    else:
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # (C, V) float32, as token_cross_entropy's .float()
    del logits
    valid = targets != ignore_index  # (C,)
    safe = targets.masked_fill(~valid, 0)  # any in-range index; the row is masked out below
    picked = log_probs.gather(1, safe[:, None]).squeeze(1)  # (C,) log p(y)
    per_row = -(1.0 - label_smoothing) * picked
    if label_smoothing:
        per_row = per_row - label_smoothing / log_probs.shape[-1] * log_probs.sum(-1)
    loss = (per_row * valid).sum()
    if not with_grad:
        return loss, None
    grad = log_probs.exp_()  # (C, V) softmax, in place of the log-probabilities
    if label_smoothing:
        grad.sub_(label_smoothing / grad.shape[-1])
    grad.scatter_add_(1, safe[:, None], torch.full_like(picked, -(1.0 - label_smoothing))[:, None])
    grad.mul_(valid[:, None])  # ignored rows: no loss, no gradient
    return loss, grad


class LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(h_i W^T + b, y_i) over chunks of rows; gradients computed in forward, scaled in backward."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
                chunk_size: int, ignore_index: int, label_smoothing: float) -> torch.Tensor:
        # hidden (N, D), weight (V, D), bias (V,) or None, targets (N,)
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        need_bias = need_bias and bias is not None
        grad_hidden = torch.empty_like(hidden) if need_hidden else None  # (N, D), every row written below
        # Accumulated over chunks in float32 whatever the weight's dtype, cast once at the end.
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_weight else None
        grad_bias = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need_bias else None
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], chunk_size):
            chunk = hidden[start : start + chunk_size]  # (C, D)
            loss, grad = _chunk_loss_and_grad(chunk, weight, bias, targets[start : start + chunk_size], ignore_index,
                                              label_smoothing, with_grad=True)
            total = total + loss
            if need_hidden:
                grad_hidden[start : start + chunk_size] = grad.to(hidden.dtype) @ weight  # (C, V) @ (V, D)
            if need_weight:
                grad_weight.addmm_(grad.t(), chunk.float())  # (V, C) @ (C, D)
            if need_bias:
                grad_bias.add_(grad.sum(0))
        ctx.save_for_backward(
            grad_hidden,
            grad_weight.to(weight.dtype) if need_weight else None,
            grad_bias.to(bias.dtype) if need_bias else None,
        )
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        # Out of place: backward may run again with retain_graph=True.
        scale = lambda g: None if g is None else g * grad_total.to(g.dtype)  # noqa: E731
        return scale(grad_hidden), scale(grad_weight), scale(grad_bias), None, None, None, None


def linear_cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             targets: torch.Tensor, chunk_size: int, ignore_index: int = -100,
                             label_smoothing: float = 0.0) -> torch.Tensor:
    """sum_i CE(hidden_i W^T + bias, targets_i) over the rows whose target is not `ignore_index`, float32, without
    ever holding more than `chunk_size` rows of logits.

    hidden: (..., D); targets: (...) with the same leading shape. In eager mode only the rows with a target are
    projected (a masked-LM batch has about 15% of them); under torch.compile every row is, with the ignored ones
    masked, so that the graph has static shapes."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be >= 1 token, got {chunk_size}")
    hidden = hidden.reshape(-1, hidden.shape[-1])  # (N, D)
    targets = targets.reshape(-1).to(hidden.device)  # (N,)
    if hidden.shape[0] != targets.shape[0]:
        raise ValueError(f"{hidden.shape[0]} hidden states but {targets.shape[0]} targets; they must match")
    if not is_torchdynamo_compiling():
        keep = targets != ignore_index
        hidden, targets = hidden[keep], targets[keep]  # (M, D), (M,)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias)
    )
    if needs_grad:
        return LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_size, ignore_index, label_smoothing)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk_size):
        loss, _ = _chunk_loss_and_grad(hidden[start : start + chunk_size], weight, bias,
                                       targets[start : start + chunk_size], ignore_index, label_smoothing, False)
        total = total + loss
    return total


__all__ = ["LinearCrossEntropy", "linear_cross_entropy_sum"]
