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

With `add_cross_attention=True` (the decoder of transformers' `EncoderDecoderModel`) each layer also has
cross-attention, ours with the same flag: its `c_attn` is W^K|W^V of the encoder states (our `kv_proj`, same order)
and `q_attn` W^Q of the decoder states, all Conv1D:

    h.{i}.ln_cross_attn                   decoder.layers.{i}.cross_attn_layer_norm
    h.{i}.crossattention.q_attn (Conv1D)  decoder.layers.{i}.cross_attn.q_proj   (transposed)
    h.{i}.crossattention.c_attn (Conv1D)  decoder.layers.{i}.cross_attn.kv_proj  (transposed)
    h.{i}.crossattention.c_proj (Conv1D)  decoder.layers.{i}.cross_attn.out_proj (transposed)

Not expressible (raise): `scale_attn_weights=False`, `scale_attn_by_inverse_layer_idx=True`,
`reorder_and_upcast_attn=True`. `embd_pdrop != resid_pdrop` only changes training
(we have one dropout): converted with a warning, keeping `resid_pdrop`. GPT-2 always initialises its residual
projections with std / sqrt(2 n_layer): converted configs set `scale_residual_init=True` (it only matters for new
weights; converting back needs nothing, GPT-2 has no switch for it).
"""

from transformers import GPT2Config
from transformers.utils import logging

from ..model.configuration_tobigs import TobigsConfig
from .config_fields import activation_of, mismatches, single_stack_fields, token_fields
from .engine import require
from .families import ClassPair, Family, class_pairs
from .ops import TRANSPOSE
from .rules import Rule, module_rules, rule

logger = logging.get_logger(__name__)

# One GPT layer, our module <- transformers' (GPT-1 has the same layer under the same names).
CONV1D_MODULES = {  # stored (in, out): transposed
    "self_attn.qkv_proj": "attn.c_attn",
    "self_attn.out_proj": "attn.c_proj",
    "feed_forward.fc1": "mlp.c_fc",
    "feed_forward.fc2": "mlp.c_proj",
}
LAYER_NORMS = {"self_attn_layer_norm": "ln_1", "ffn_layer_norm": "ln_2"}
LAYER_RULES = (module_rules("h.{i}.", "decoder.layers.{i}.", CONV1D_MODULES, TRANSPOSE)
               + module_rules("h.{i}.", "decoder.layers.{i}.", LAYER_NORMS))
# GPT-2 with add_cross_attention=True (a rule whose keys are on neither side expands to nothing).
CROSS_ATTENTION_RULES = (
    module_rules("h.{i}.", "decoder.layers.{i}.", {"cross_attn.q_proj": "crossattention.q_attn",
                                                   "cross_attn.kv_proj": "crossattention.c_attn",
                                                   "cross_attn.out_proj": "crossattention.c_proj"}, TRANSPOSE)
    + module_rules("h.{i}.", "decoder.layers.{i}.", {"cross_attn_layer_norm": "ln_cross_attn"})
)

BASE_RULES = (
    module_rules("", "decoder.embeddings.", {"word_embeddings": "wte", "position_embeddings": "wpe"})
    + LAYER_RULES
    + CROSS_ATTENTION_RULES
    + (rule("ln_f.{p}", "decoder.final_layer_norm.{p}"),)
)


def decoder_pairs(
    hf_name: str,
    lm_head: tuple[Rule, ...] = (rule("lm_head.weight", "lm_head.weight"),),
    score: tuple[Rule, ...] = (rule("score.weight", "classifier.weight"),),
) -> tuple[ClassPair, ...]:
    """The classes of a GPT-style family (GPT-1, GPT-2, CTRL): bare model, LM head, sequence classifier, the body
    under `transformer.`."""
    return class_pairs(hf_name, "transformer.", {
        "LMHeadModel": ("TobigsForCausalLM", lm_head),
        "ForSequenceClassification": ("TobigsForSequenceClassification", score),
    })


PAIRS = decoder_pairs("GPT2")


def decoder_fields(hf, family: str) -> dict:
    """The TobigsConfig fields that GPT-1, GPT-2 and CTRL configs give alike (`n_embd`, `n_layer`, ...: a learned-
    position decoder without embedding LayerNorm); each family adds or overrides what differs."""
    if hf.embd_pdrop != hf.resid_pdrop:
        logger.warning(
            f"{family} embd_pdrop={hf.embd_pdrop} differs from resid_pdrop={hf.resid_pdrop}; tobigs_transformer has "
            "one dropout for both and keeps resid_pdrop (this changes training only, not the outputs)"
        )
    return dict(
        architecture="decoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.n_embd,
        decoder_layers=hf.n_layer,
        decoder_attention_heads=hf.n_head,
        dropout=hf.resid_pdrop,
        activation_dropout=0.0,
        max_position_embeddings=hf.n_positions,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=False,
        type_vocab_size=0,
        layer_norm_eps=hf.layer_norm_epsilon,
        **single_stack_fields(hf),
    )


def decoder_kwargs(config: TobigsConfig) -> dict:
    """The transformers config arguments that GPT-1, GPT-2 and CTRL name alike, from a TobigsConfig."""
    return dict(
        vocab_size=config.vocab_size,
        n_embd=config.d_model,
        n_layer=config.decoder_layers,
        n_head=config.decoder_attention_heads,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        n_positions=config.max_position_embeddings,
        layer_norm_epsilon=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        **token_fields(config),
    )


# The layout every GPT-style export needs (CTRL overrides the positions and the embedding scale; GPT-2 alone has
# cross-attention).
DECODER_LAYOUT = dict(architecture="decoder-only", position_embedding_type="learned", position_offset=0,
                      scale_embedding=False, layernorm_embedding=False, attention_bias=True, lm_head_bias=False,
                      activation_dropout=0.0, label_smoothing=0.0, add_cross_attention=False)


def config_from_hf(hf: GPT2Config) -> dict:
    reasons = []
    if not hf.scale_attn_weights:
        reasons.append("scale_attn_weights=False (we always scale scores by 1/sqrt(d_k))")
    if hf.scale_attn_by_inverse_layer_idx:
        reasons.append("scale_attn_by_inverse_layer_idx=True (no per-layer score scaling)")
    if hf.reorder_and_upcast_attn:
        reasons.append("reorder_and_upcast_attn=True (no separate upcast attention path)")
    require(reasons, "this GPT-2 config")
    return dict(
        decoder_fields(hf, "GPT-2"),
        decoder_ffn_dim=hf.n_inner if hf.n_inner is not None else 4 * hf.n_embd,
        activation_function=activation_of(hf.activation_function, "GPT-2"),
        attention_dropout=hf.attn_pdrop,
        normalize_before=True,
        scale_residual_init=True,  # GPT2PreTrainedModel._init_weights always scales c_proj by 1/sqrt(2 n_layer)
        use_cache=hf.use_cache,
        add_cross_attention=hf.add_cross_attention,
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    layout = {name: value for name, value in DECODER_LAYOUT.items() if name != "add_cross_attention"}
    return mismatches(config, dict(layout, normalize_before=True), "GPT-2")


def config_to_hf(config: TobigsConfig) -> GPT2Config:
    require(incompatibilities(config), "this TobigsConfig as GPT-2")
    return GPT2Config(
        **decoder_kwargs(config),
        n_inner=config.decoder_ffn_dim,
        activation_function=config.activation_function,
        attn_pdrop=config.attention_dropout,
        use_cache=config.use_cache,
        add_cross_attention=config.add_cross_attention,
    )


FAMILY = Family("gpt2", ("gpt2",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
