"""ELECTRA pre-training (Clark et al. 2020): a small MLM generator and the discriminator, trained jointly.

    x_masked --G (TobigsForMaskedLM)--> sample x^ at the masked positions --D (TobigsForReplacedTokenDetection)-->
    "was this token replaced?"        loss = L_MLM(G) + lambda * L_Disc(D),  lambda = config.rtd_loss_weight (50)

As the paper: the generator is `config.generator_size` of the discriminator (d_model, heads, d_ff scaled), the two
share their embeddings ("we share the embeddings (both the token and positional embeddings)", §3.2), the sample is
drawn without gradient ("we do not back-propagate the discriminator loss through the generator", §2), and a sampled
token equal to the original counts as original. After pre-training only the discriminator is kept:
`model.discriminator.save_pretrained(path)` writes a folder that `TobigsForReplacedTokenDetection.from_pretrained`
(or any encoder-only head, e.g. `TobigsForSequenceClassification`) loads on its own.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_outputs import ModelOutput
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

from .configuration_tobigs import TobigsConfig
from .modeling_tobigs import TobigsForMaskedLM, TobigsForReplacedTokenDetection
from .pretrained import TobigsPreTrainedModel

# The embedding parameters the generator takes from the discriminator (the token table also feeds G's output layer).
SHARED_EMBEDDINGS = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
                     "layer_norm.weight", "layer_norm.bias")


def generator_config(config: TobigsConfig) -> TobigsConfig:
    """The generator: the discriminator's config with d_model, heads and d_ff scaled by `generator_size`, reading the
    discriminator's embeddings (width E) through its own projection to its smaller d_model."""
    if config.generator_size is None:
        raise ValueError("ELECTRA pre-training needs config.generator_size (the generator's fraction of the "
                         "discriminator, e.g. 1/4); the electra-small and electra-base presets set it")
    size = config.generator_size
    generator = copy.deepcopy(config)
    generator.d_model = max(1, round(config.d_model * size))
    generator.encoder_attention_heads = max(1, round(config.encoder_attention_heads * size))
    generator.encoder_ffn_dim = max(1, round(config.encoder_ffn_dim * size))
    width = config.embedding_size or config.d_model
    generator.embedding_size = None if width == generator.d_model else width
    generator.validate_architecture()  # e.g. heads that no longer divide the smaller d_model
    return generator


@dataclass
class TobigsElectraForPreTrainingOutput(ModelOutput):
    """The combined loss and its two parts, the generator's MLM logits, the discriminator's logits, and what the
    discriminator saw (`corrupted_ids`) with its targets (`replaced`: 1 where the sample differs from the original)."""

    loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    rtd_loss: torch.FloatTensor | None = None
    generator_logits: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    corrupted_ids: torch.LongTensor | None = None
    replaced: torch.LongTensor | None = None


class TobigsElectraForPreTraining(TobigsPreTrainedModel):
    """ELECTRA's generator + discriminator, trained jointly; `discriminator` is the model to keep.

    Takes what an MLM collator gives: `input_ids` with some tokens masked and `labels` holding the original ids at
    those positions (-100 elsewhere)."""

    supported_architectures = ("encoder-only",)
    accepts_loss_kwargs = False  # the loss is a sum of two means, as the paper's

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.discriminator = TobigsForReplacedTokenDetection(config)
        self.generator = TobigsForMaskedLM(generator_config(config))
        # Every tie is declared here, generator -> discriminator, so that none goes through another tied tensor.
        self.generator._tied_weights_keys = {}
        generator_embeddings = "generator.model.encoder.embeddings."
        shared = "discriminator.model.encoder.embeddings."
        present = {name for name, _ in self.discriminator.named_parameters(prefix="discriminator")}
        self._tied_weights_keys = {generator_embeddings + name: shared + name for name in SHARED_EMBEDDINGS
                                   if shared + name in present}  # no segment table or LayerNorm: nothing to share
        self._tied_weights_keys["generator.lm_head.decoder.weight"] = shared + "word_embeddings.weight"
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """The discriminator's token table, which the generator shares (what resizing and PEFT reach for)."""
        return self.discriminator.get_input_embeddings()

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Resize both models (the generator's LM head and its output bias too), then tie the generator's tables
        to the discriminator's again: the generator has its own config, which the base method would leave behind."""
        embeddings = self.discriminator.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.generator.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.vocab_size = embeddings.num_embeddings
        self.tie_weights()
        return embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        # the generator's table is tied to this one (`_tied_weights_keys`): re-tie rather than set it twice
        self.discriminator.set_input_embeddings(value)
        self.tie_weights()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> TobigsElectraForPreTrainingOutput:
        if labels is None:
            raise ValueError("ELECTRA pre-training needs labels: the original ids at the masked positions, -100 "
                             "elsewhere (what DataCollatorForLanguageModeling gives)")
        generated = self.generator(input_ids, attention_mask, token_type_ids, labels=labels, return_logits=True,
                                   **kwargs)
        masked = labels != -100  # (B, T)
        with torch.no_grad():  # §2: the sample is not back-propagated through
            probabilities = torch.softmax(generated.logits[masked].float(), dim=-1)  # (M, vocab)
            sampled = torch.multinomial(probabilities, 1).squeeze(-1)  # (M,)
        corrupted = input_ids.masked_scatter(masked, sampled)  # (B, T)
        original = torch.where(masked, labels, input_ids)
        replaced = (corrupted != original).long()  # a sample that equals the original counts as original
        discriminated = self.discriminator(corrupted, attention_mask, token_type_ids, labels=replaced, **kwargs)
        loss = generated.loss + self.config.rtd_loss_weight * discriminated.loss
        return TobigsElectraForPreTrainingOutput(
            loss=loss, mlm_loss=generated.loss, rtd_loss=discriminated.loss, generator_logits=generated.logits,
            logits=discriminated.logits, corrupted_ids=corrupted, replaced=replaced,
        )


__all__ = ["TobigsElectraForPreTraining", "generator_config"]
