"""Position-wise feed-forward network (paper §3.3, Eq. 2), applied to every position separately and identically:

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2

with ReLU in the paper, GELU in GPT/BERT/BART ("gelu_new" is GPT-2's tanh approximation), SiLU in Marian.
"""

from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from transformers.activations import ACT2FN

# GPT-2's "gelu_new" is the tanh approximation of GELU; transformers computes it with five separate tensor ops, torch
# has it as one fused kernel. Same formula, differences at the 1e-7 level.
FUSED_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu_new": partial(nn.functional.gelu, approximate="tanh"),
}


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function named in the config."""
    return FUSED_ACTIVATIONS.get(name) or ACT2FN[name]


class ActivationThenLinear(torch.autograd.Function):
    """linear(activation(h), W_2, b_2) keeping only h for backward, where autograd keeps h (for the activation's
    derivative) and activation(h) (for W_2's gradient): two (tokens x d_ff) tensors, the largest of a layer. The
    activation is recomputed from h in backward, one elementwise op; the gradients are the plain path's."""

    @staticmethod
    def forward(ctx, pre_activation: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                activation: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        ctx.activation = activation
        ctx.save_for_backward(pre_activation, weight)
        return nn.functional.linear(activation(pre_activation), weight, bias)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        pre_activation, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        with torch.enable_grad():
            leaf = pre_activation.detach().requires_grad_(need_input)
            activated = ctx.activation(leaf)  # (..., d_ff), recomputed
        grad_2d = grad_output.reshape(-1, grad_output.shape[-1])  # (N, d_model)
        grad_weight = grad_2d.t().mm(activated.detach().reshape(-1, activated.shape[-1])) if need_weight else None
        grad_bias = grad_2d.sum(0) if need_bias else None
        grad_input = None
        if need_input:
            (grad_input,) = torch.autograd.grad(activated, leaf, grad_output.matmul(weight))
        return grad_input, grad_weight, grad_bias, None


class PositionwiseFeedForward(nn.Module):
    """d_model -> d_ff -> d_model, with the activation (and its dropout) in between. `recompute_activation`
    (`config.activation_checkpointing="ffn_activation"`) keeps W_1's output only, see `ActivationThenLinear`."""

    def __init__(self, d_model: int, d_ff: int, activation_function: str, activation_dropout: float,
                 recompute_activation: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)  # W_1, b_1
        self.activation = get_activation(activation_function)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.fc2 = nn.Linear(d_ff, d_model)  # W_2, b_2
        # ReLU's backward reads its output, which W_2 keeps anyway: nothing to save there.
        self.recompute_activation = recompute_activation and activation_function != "relu"

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        pre_activation = self.fc1(hidden_states)  # (..., d_ff)
        dropout_active = self.activation_dropout.training and self.activation_dropout.p > 0
        if self.recompute_activation and torch.is_grad_enabled() and not dropout_active:
            return ActivationThenLinear.apply(pre_activation, self.fc2.weight, self.fc2.bias, self.activation)
        return self.fc2(self.activation_dropout(self.activation(pre_activation)))
