"""Position-wise feed-forward network (paper §3.3, Eq. 2), applied to every position separately and identically:

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2

with ReLU in the paper, GELU in GPT/BERT/BART ("gelu_new" is GPT-2's tanh approximation), SiLU in Marian.
"""

import torch
from torch import nn
from transformers.activations import ACT2FN


class PositionwiseFeedForward(nn.Module):
    """d_model -> d_ff -> d_model, with the activation (and its dropout) in between."""

    def __init__(self, d_model: int, d_ff: int, activation_function: str, activation_dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)  # W_1, b_1
        self.activation = ACT2FN[activation_function]
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.fc2 = nn.Linear(d_ff, d_model)  # W_2, b_2

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_dropout(self.activation(self.fc1(hidden_states))))
