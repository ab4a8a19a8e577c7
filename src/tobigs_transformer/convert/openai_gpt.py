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
from transformers.utils import logging

from ..configuration_tobigs import TobigsConfig
from .common import TRANSPOSE, ClassPair, Family, common_config_fields, require, rule

logger = logging.get_logger(__name__)

# OpenAI GPT's `afn` -> our activation of the same function, and back.
ACTIVATIONS_FROM_HF = {"gelu": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu"}
ACTIVATIONS_TO_HF = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu", "silu": "silu",
                     "swish": "silu"}

BASE_RULES = (
    rule("tokens_embed.weight", "decoder.embeddings.word_embeddings.weight"),
    rule("positions_embed.weight", "decoder.embeddings.position_embeddings.weight"),
    rule("h.{i}.attn.c_attn.weight", "decoder.layers.{i}.self_attn.qkv_proj.weight", TRANSPOSE),
    rule("h.{i}.attn.c_attn.bias", "decoder.layers.{i}.self_attn.qkv_proj.bias"),
    rule("h.{i}.attn.c_proj.weight", "decoder.layers.{i}.self_attn.out_proj.weight", TRANSPOSE),
    rule("h.{i}.attn.c_proj.bias", "decoder.layers.{i}.self_attn.out_proj.bias"),
    rule("h.{i}.ln_1.{p}", "decoder.layers.{i}.self_attn_layer_norm.{p}"),
    rule("h.{i}.mlp.c_fc.weight", "decoder.layers.{i}.feed_forward.fc1.weight", TRANSPOSE),
    rule("h.{i}.mlp.c_fc.bias", "decoder.layers.{i}.feed_forward.fc1.bias"),
    rule("h.{i}.mlp.c_proj.weight", "decoder.layers.{i}.feed_forward.fc2.weight", TRANSPOSE),
    rule("h.{i}.mlp.c_proj.bias", "decoder.layers.{i}.feed_forward.fc2.bias"),
    rule("h.{i}.ln_2.{p}", "decoder.layers.{i}.ffn_layer_norm.{p}"),
)

PAIRS = (
    ClassPair("OpenAIGPTModel", "TobigsModel"),
    ClassPair("OpenAIGPTLMHeadModel", "TobigsForCausalLM", "transformer.", "model.",
              (rule("lm_head.weight", "lm_head.weight"),)),
    ClassPair("OpenAIGPTForSequenceClassification", "TobigsForSequenceClassification", "transformer.", "model.",
              (rule("score.weight", "classifier.weight"),)),
)


def config_from_hf(hf: OpenAIGPTConfig) -> dict:
    if hf.afn not in ACTIVATIONS_FROM_HF:
        require([f"afn={hf.afn!r} (supported: {', '.join(ACTIVATIONS_FROM_HF)})"], "this OpenAI GPT config")
    if hf.embd_pdrop != hf.resid_pdrop:
        logger.warning(
            f"OpenAI GPT embd_pdrop={hf.embd_pdrop} differs from resid_pdrop={hf.resid_pdrop}; tobigs_transformer has "
            "one dropout for both and keeps resid_pdrop (this changes training only, not the outputs)"
        )
    return dict(
        architecture="decoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.n_embd,
        decoder_layers=hf.n_layer,
        decoder_attention_heads=hf.n_head,
        decoder_ffn_dim=4 * hf.n_embd,
        activation_function=ACTIVATIONS_FROM_HF[hf.afn],
        dropout=hf.resid_pdrop,
        attention_dropout=hf.attn_pdrop,
        activation_dropout=0.0,
        max_position_embeddings=hf.n_positions,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=False,
        normalize_before=False,
        type_vocab_size=0,
        layer_norm_eps=hf.layer_norm_epsilon,
        attention_bias=True,
        lm_head_bias=False,
        init_std=hf.initializer_range,
        init_method="normal",
        label_smoothing=0.0,
        tie_word_embeddings=hf.tie_word_embeddings,
        pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id,
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=None,
        **common_config_fields(hf),
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="decoder-only", position_embedding_type="learned", position_offset=0,
                    scale_embedding=False, layernorm_embedding=False, normalize_before=False, attention_bias=True,
                    lm_head_bias=False, activation_dropout=0.0, label_smoothing=0.0)
    reasons = [f"{name}={getattr(config, name)!r} (OpenAI GPT needs {value!r})" for name, value in expected.items()
               if getattr(config, name) != value]
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
    return OpenAIGPTConfig(
        vocab_size=config.vocab_size,
        n_embd=config.d_model,
        n_layer=config.decoder_layers,
        n_head=config.decoder_attention_heads,
        afn=ACTIVATIONS_TO_HF[config.activation_function],
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.attention_dropout,
        n_positions=config.max_position_embeddings,
        layer_norm_epsilon=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("openai-gpt", ("openai-gpt",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
