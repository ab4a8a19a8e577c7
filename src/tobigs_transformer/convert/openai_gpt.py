"""GPT-1 (transformers' `OpenAIGPTModel`, `OpenAIGPTLMHeadModel`, `OpenAIGPTForSequenceClassification`) <-> our
decoder-only models with the `gpt` preset's layout.

GPT-1 (Radford et al. 2018) is the decoder of the paper without cross-attention: learned positions, post-LN
(`LN(x + Sublayer(x))`, no final LayerNorm), a 4 x d_model FFN, and the LM head tied to the token embedding. Its
weights are GPT-2's Conv1D layout (stored (in, out), transposed here) under other names:

    OpenAI GPT                     tobigs_transformer
    tokens_embed / positions_embed decoder.embeddings.word_embeddings / position_embeddings
    h.{i}.attn.c_attn (Conv1D)     decoder.layers.{i}.self_attn.qkv_proj       (transposed)
    h.{i}.attn.c_proj (Conv1D)     decoder.layers.{i}.self_attn.out_proj       (transposed)
    h.{i}.ln_1                     decoder.layers.{i}.self_attn_layer_norm     (after the residual: post-LN)
    h.{i}.mlp.c_fc / c_proj        decoder.layers.{i}.feed_forward.fc1 / fc2   (transposed)
    h.{i}.ln_2                     decoder.layers.{i}.ffn_layer_norm
    lm_head / score                lm_head / classifier

The activation: OpenAI's `afn="gelu"` is the tanh approximation of GELU (transformers maps it to `gelu_new`, as the
original finetune-transformer-lm code computes it), so a converted model says `activation_function="gelu_new"`; the
`gpt` preset's exact `"gelu"` has no OpenAI GPT spelling and is refused on export with that reason.
Not expressible (raise): an FFN width other than 4 x d_model (OpenAI GPT has no `n_inner`). `embd_pdrop !=
resid_pdrop` only changes training: converted with a warning, keeping `resid_pdrop`.
"""

from transformers import OpenAIGPTConfig

from ..model.configuration_tobigs import TobigsConfig
from .config_fields import mismatches
from .engine import require
from .families import Family
from .gpt2 import DECODER_LAYOUT, LAYER_RULES, decoder_fields, decoder_kwargs, decoder_pairs
from .rules import module_rules

# OpenAI GPT's `afn` -> our activation of the same function, and back.
ACTIVATIONS_FROM_HF = {"gelu": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu"}
ACTIVATIONS_TO_HF = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu", "silu": "silu",
                     "swish": "silu"}

# GPT-2's layers under GPT-1's embedding names, and no final LayerNorm.
BASE_RULES = module_rules("", "decoder.embeddings.", {"word_embeddings": "tokens_embed",
                                                      "position_embeddings": "positions_embed"}) + LAYER_RULES

PAIRS = decoder_pairs("OpenAIGPT")


def config_from_hf(hf: OpenAIGPTConfig) -> dict:
    if hf.afn not in ACTIVATIONS_FROM_HF:
        require([f"afn={hf.afn!r} (supported: {', '.join(ACTIVATIONS_FROM_HF)})"], "this OpenAI GPT config")
    return dict(
        decoder_fields(hf, "OpenAI GPT"),
        decoder_ffn_dim=4 * hf.n_embd,
        activation_function=ACTIVATIONS_FROM_HF[hf.afn],
        attention_dropout=hf.attn_pdrop,
        normalize_before=False,
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    reasons = mismatches(config, dict(DECODER_LAYOUT, normalize_before=False), "OpenAI GPT")
    if config.decoder_ffn_dim != 4 * config.d_model:
        reasons.append(f"decoder_ffn_dim={config.decoder_ffn_dim} (OpenAI GPT's FFN is 4 x d_model = "
                       f"{4 * config.d_model})")
    if config.activation_function not in ACTIVATIONS_TO_HF:
        hint = " (OpenAI GPT's 'gelu' is the tanh approximation: use 'gelu_new')" \
            if config.activation_function == "gelu" else ""
        reasons.append(f"activation_function={config.activation_function!r}{hint}")
    return reasons


def config_to_hf(config: TobigsConfig) -> OpenAIGPTConfig:
    require(incompatibilities(config), "this TobigsConfig as OpenAI GPT")
    return OpenAIGPTConfig(**decoder_kwargs(config), afn=ACTIVATIONS_TO_HF[config.activation_function],
                           attn_pdrop=config.attention_dropout)


FAMILY = Family("openai-gpt", ("openai-gpt",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
