"""GPT-2 (transformers' `GPT2Model`, `GPT2LMHeadModel`, `GPT2ForSequenceClassification`) <-> our decoder-only models.

GPT-2 is our decoder stack with learned positions, pre-LN (`normalize_before=True`) and a final LayerNorm, and
GPT-2's tanh GELU (`gelu_new`). The weights map by name, with two remarks:

- GPT-2 keeps its projections in `Conv1D` modules whose weight is stored (in, out), the transpose of `nn.Linear`:
  `TRANSPOSE` on `c_attn`, `c_proj`, `c_fc`.
- `c_attn` is already the fused W^Q|W^K|W^V of our `qkv_proj` (same order), so it is only transposed.

    GPT-2                          tobigs_transformer
    wte / wpe                      decoder.embeddings.word_embeddings / position_embeddings
    h.{i}.ln_1                     decoder.layers.{i}.self_attn_layer_norm
    h.{i}.attn.c_attn (Conv1D)     decoder.layers.{i}.self_attn.qkv_proj       (transposed)
    h.{i}.attn.c_proj (Conv1D)     decoder.layers.{i}.self_attn.out_proj       (transposed)
    h.{i}.ln_2                     decoder.layers.{i}.ffn_layer_norm
    h.{i}.mlp.c_fc / c_proj        decoder.layers.{i}.feed_forward.fc1 / fc2   (transposed)
    ln_f                           decoder.final_layer_norm
    lm_head / score                lm_head / classifier

Not expressible (raise): `scale_attn_weights=False`, `scale_attn_by_inverse_layer_idx=True`,
`reorder_and_upcast_attn=True`, `add_cross_attention=True`. `embd_pdrop != resid_pdrop` only changes training
(we have one dropout): converted with a warning, keeping `resid_pdrop`. GPT-2 always initialises its residual
projections with std / sqrt(2 n_layer): converted configs set `scale_residual_init=True` (it only matters for new
weights; converting back needs nothing, GPT-2 has no switch for it).
"""

from transformers import GPT2Config
from transformers.utils import logging

from ..configuration_tobigs import TobigsConfig
from .common import TRANSPOSE, ClassPair, Family, activation_of, common_config_fields, require, rule

logger = logging.get_logger(__name__)

BASE_RULES = (
    rule("wte.weight", "decoder.embeddings.word_embeddings.weight"),
    rule("wpe.weight", "decoder.embeddings.position_embeddings.weight"),
    rule("h.{i}.ln_1.{p}", "decoder.layers.{i}.self_attn_layer_norm.{p}"),
    rule("h.{i}.attn.c_attn.weight", "decoder.layers.{i}.self_attn.qkv_proj.weight", TRANSPOSE),
    rule("h.{i}.attn.c_attn.bias", "decoder.layers.{i}.self_attn.qkv_proj.bias"),
    rule("h.{i}.attn.c_proj.weight", "decoder.layers.{i}.self_attn.out_proj.weight", TRANSPOSE),
    rule("h.{i}.attn.c_proj.bias", "decoder.layers.{i}.self_attn.out_proj.bias"),
    rule("h.{i}.ln_2.{p}", "decoder.layers.{i}.ffn_layer_norm.{p}"),
    rule("h.{i}.mlp.c_fc.weight", "decoder.layers.{i}.feed_forward.fc1.weight", TRANSPOSE),
    rule("h.{i}.mlp.c_fc.bias", "decoder.layers.{i}.feed_forward.fc1.bias"),
    rule("h.{i}.mlp.c_proj.weight", "decoder.layers.{i}.feed_forward.fc2.weight", TRANSPOSE),
    rule("h.{i}.mlp.c_proj.bias", "decoder.layers.{i}.feed_forward.fc2.bias"),
    rule("ln_f.{p}", "decoder.final_layer_norm.{p}"),
)

PAIRS = (
    ClassPair("GPT2Model", "TobigsModel"),
    ClassPair("GPT2LMHeadModel", "TobigsForCausalLM", "transformer.", "model.",
              (rule("lm_head.weight", "lm_head.weight"),)),
    ClassPair("GPT2ForSequenceClassification", "TobigsForSequenceClassification", "transformer.", "model.",
              (rule("score.weight", "classifier.weight"),)),
)


def config_from_hf(hf: GPT2Config) -> dict:
    reasons = []
    if not hf.scale_attn_weights:
        reasons.append("scale_attn_weights=False (we always scale scores by 1/sqrt(d_k))")
    if hf.scale_attn_by_inverse_layer_idx:
        reasons.append("scale_attn_by_inverse_layer_idx=True (no per-layer score scaling)")
    if hf.reorder_and_upcast_attn:
        reasons.append("reorder_and_upcast_attn=True (no separate upcast attention path)")
    if hf.add_cross_attention:
        reasons.append("add_cross_attention=True (a decoder-only model has no cross-attention)")
    require(reasons, "this GPT-2 config")
    if hf.embd_pdrop != hf.resid_pdrop:
        logger.warning(
            f"GPT-2 embd_pdrop={hf.embd_pdrop} differs from resid_pdrop={hf.resid_pdrop}; tobigs_transformer has one "
            "dropout for both and keeps resid_pdrop (this changes training only, not the outputs)"
        )
    return dict(
        architecture="decoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.n_embd,
        decoder_layers=hf.n_layer,
        decoder_attention_heads=hf.n_head,
        decoder_ffn_dim=hf.n_inner if hf.n_inner is not None else 4 * hf.n_embd,
        activation_function=activation_of(hf.activation_function, "GPT-2"),
        dropout=hf.resid_pdrop,
        attention_dropout=hf.attn_pdrop,
        activation_dropout=0.0,
        max_position_embeddings=hf.n_positions,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=False,
        normalize_before=True,
        type_vocab_size=0,
        layer_norm_eps=hf.layer_norm_epsilon,
        attention_bias=True,
        lm_head_bias=False,
        init_std=hf.initializer_range,
        init_method="normal",
        scale_residual_init=True,  # GPT2PreTrainedModel._init_weights always scales c_proj by 1/sqrt(2 n_layer)
        label_smoothing=0.0,
        tie_word_embeddings=hf.tie_word_embeddings,
        use_cache=hf.use_cache,
        pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id,
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=None,
        **common_config_fields(hf),
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="decoder-only", position_embedding_type="learned", position_offset=0,
                    scale_embedding=False, layernorm_embedding=False, normalize_before=True, attention_bias=True,
                    lm_head_bias=False, activation_dropout=0.0, label_smoothing=0.0)
    return [f"{name}={getattr(config, name)!r} (GPT-2 needs {value!r})" for name, value in expected.items()
            if getattr(config, name) != value]


def config_to_hf(config: TobigsConfig) -> GPT2Config:
    require(incompatibilities(config), "this TobigsConfig as GPT-2")
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_embd=config.d_model,
        n_layer=config.decoder_layers,
        n_head=config.decoder_attention_heads,
        n_inner=config.decoder_ffn_dim,
        activation_function=config.activation_function,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.attention_dropout,
        n_positions=config.max_position_embeddings,
        layer_norm_epsilon=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        use_cache=config.use_cache,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("gpt2", ("gpt2",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
