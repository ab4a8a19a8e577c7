"""`generate()` for the generating models: transformers' `GenerationMixin`, with the prompt checked first."""

import torch
from transformers.generation import GenerationConfig, GenerationMixin

from .pretrained import TobigsPreTrainedModel


def check_prompt(model: TobigsPreTrainedModel, inputs: torch.Tensor | None, generation_config: GenerationConfig | None,
                 kwargs: dict) -> None:
    """What `generate` needs to start from, checked before transformers prepares anything: a prompt of at least
    one token per row, or (decoder-only, no prompt at all) a `bos_token_id` to start from."""
    bos = kwargs.get("bos_token_id")
    if bos is None:
        bos = (generation_config or model.generation_config).bos_token_id
    given = [(n, v) for n, v in (("inputs", inputs), ("input_ids", kwargs.get("input_ids")),
                                 ("inputs_embeds", kwargs.get("inputs_embeds"))) if v is not None]
    for name, value in given:
        if torch.is_tensor(value) and value.dim() >= 2 and (value.shape[0] == 0 or value.shape[1] == 0):
            start = ""
            if not model.config.is_encoder_decoder:
                start = (f"; to start from bos_token_id={bos}, pass no prompt" if bos is not None else
                         "; this model has no bos_token_id (None) to start from")
            raise ValueError(
                f"generate() got an empty prompt: {name} has shape {tuple(value.shape)}; the batch size and the "
                f"prompt length must both be >= 1{start}"
            )
    if not given and not model.config.is_encoder_decoder and bos is None:
        raise ValueError(
            "generate() got no prompt and bos_token_id=None, so there is no token to start from; pass input_ids "
            "of shape (batch >= 1, length >= 1) or set generation_config.bos_token_id"
        )


class TobigsGenerationMixin(GenerationMixin):
    """transformers' `GenerationMixin`, with the prompt checked first (an empty prompt fails with a ValueError
    naming its shape, not with a reshape error several calls deep)."""

    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None, *args,
                 **kwargs):
        check_prompt(self, inputs, generation_config, kwargs)
        return super().generate(inputs, generation_config, *args, **kwargs)
