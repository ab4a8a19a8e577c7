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


class PositionwiseFeedForward(nn.Module):
    """d_model -> d_ff -> d_model, with the activation (and its dropout) in between."""

    def __init__(self, d_model: int, d_ff: int, activation_function: str, activation_dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)  # W_1, b_1
        self.activation = get_activation(activation_function)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.fc2 = nn.Linear(d_ff, d_model)  # W_2, b_2

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_dropout(self.activation(self.fc1(hidden_states))))
