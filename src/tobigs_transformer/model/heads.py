"""Output heads that sit on top of the stacks: the BERT pooler and MLM head, the BART (and RoBERTa, ELECTRA)
classification head, and ELECTRA's replaced-token detection head.

The language-model heads of GPT and of the encoder-decoder are a single linear layer (the paper's "pre-softmax
linear transformation", §3.4) and live in the task models themselves.
"""

from collections.abc import Callable

import torch
from torch import nn
from transformers.utils import is_torchdynamo_compiling

from .configuration_tobigs import TobigsConfig
from .feed_forward import get_activation


class TobigsPooler(nn.Module):
    """BERT's pooler: the first ([CLS]) token's final state through dense + tanh, one vector per sequence."""

    def __init__(self, config: TobigsConfig):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))  # (B, T, d_model) -> (B, d_model)


class TobigsMaskedLMHead(nn.Module):
    """BERT's MLM head: dense + activation + LayerNorm, then the output projection (tied to the token embedding)
    with its own bias. With ALBERT's factorized embeddings the dense layer projects d_model back to the embedding
    width E, so the output projection stays tied to the E-wide token table."""

    def __init__(self, config: TobigsConfig):
        super().__init__()
        width = config.embedding_size or config.d_model
        self.dense = nn.Linear(config.d_model, width)
        self.activation = get_activation(config.activation_function)
        self.layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(width, config.vocab_size)

    def transform(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Dense + activation + LayerNorm: the head before its output projection."""
        return self.layer_norm(self.activation(self.dense(hidden_states)))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))  # (B, T, vocab_size)

    def chunked_loss(self, hidden_states: torch.Tensor, labels: torch.Tensor,
                     lm_loss: Callable[[torch.Tensor, nn.Linear, torch.Tensor], torch.Tensor],
                     ignore_index: int = -100) -> torch.Tensor:
        """The MLM loss through this head with the output projection and the cross-entropy chunked (`lm_loss`: the
        model's `chunked_lm_loss`); in eager mode only the positions with a label go through the head at all."""
        if not is_torchdynamo_compiling():
            # The head is per position: the ~85% of positions without a label need no transform either.
            keep = labels != ignore_index  # (B, T)
            hidden_states, labels = hidden_states[keep], labels[keep]  # (M, d_model), (M,)
        return lm_loss(self.transform(hidden_states), self.decoder, labels)


class TobigsClassificationHead(nn.Module):
    """BART's sentence classification head over the final end-of-sequence state (RoBERTa's over `<s>`): dropout,
    dense + tanh, dropout, projection. ELECTRA's (`classifier_head="dense-gelu"`) is the same with GELU in place of
    tanh, as transformers' `ElectraClassificationHead` ("although BERT uses tanh here, it seems Electra authors used
    gelu here"): exact (erf) GELU whatever `activation_function` says."""

    def __init__(self, config: TobigsConfig, num_labels: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.activation = get_activation("gelu") if config.classifier_head == "dense-gelu" else nn.Tanh()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(config.d_model, num_labels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.dense(self.dropout(hidden_states)))  # (B, d_model)
        return self.out_proj(self.dropout(hidden_states))


class TobigsDiscriminatorHead(nn.Module):
    """ELECTRA's replaced-token detection head (Clark et al. 2020 §2): dense + activation, then one logit per token,
    positive for "replaced by the generator", negative for "original"."""

    def __init__(self, config: TobigsConfig):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.activation = get_activation(config.activation_function)
        self.dense_prediction = nn.Linear(config.d_model, 1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.activation(self.dense(hidden_states))).squeeze(-1)  # (B, T, d) -> (B, T)
