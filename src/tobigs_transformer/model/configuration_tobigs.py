"""TobigsConfig: one configuration for the whole Transformer family.

`architecture` says which stacks exist (encoder and decoder as in Vaswani et al. 2017 Figure 1, the decoder alone as in
GPT, the encoder alone as in BERT); every other difference between the families is a field below, and the named
presets in `presets.py` set them. Field names follow transformers (BART's in particular) so that users and the
converters meet familiar names.

Unknown keys are an error where a person types them (constructor, `from_preset`, overrides: a misspelt
`d_modle=128` would otherwise be kept as an attribute, written to config.json and never used); a loaded config
(`from_dict`, `from_pretrained`) keeps them with a warning, as transformers' configs do. Special-token ids outside the
vocabulary are an error too; `from_preset` says how a preset's ids follow a smaller `vocab_size`.
"""

import dataclasses
import difflib
import os
from functools import cache

from huggingface_hub.dataclasses import strict
from transformers import GenerationConfig, PreTrainedConfig
from transformers.utils import logging

from .presets import PRESETS

logger = logging.get_logger(__name__)

ARCHITECTURES = ("encoder-decoder", "decoder-only", "encoder-only")
POSITION_EMBEDDING_TYPES = ("sinusoidal", "learned", "rotary", "relative")
# "interleaved": PE(pos, 2i) = sin, PE(pos, 2i+1) = cos (paper §3.5); "concatenated": all sines, then all cosines
# (the layout of fairseq and Marian checkpoints).
SINUSOIDAL_LAYOUTS = ("interleaved", "concatenated")
# How an encoder-only sequence classifier reads the first token: through BERT's pooler (dense + tanh inside the model),
# then dropout and a linear layer; or through RoBERTa's head (dropout, dense + tanh, dropout, projection), no pooler;
# or ELECTRA's, the same with GELU in place of tanh.
CLASSIFIER_HEADS = ("pooler", "dense-tanh", "dense-gelu")
# ALBERT's cross-layer parameter sharing (Lan et al. 2020, §3.1 and Table 4): every parameter, only the attention
# sublayers', only the FFN sublayers', or none.
LAYER_SHARING = ("none", "all", "attention", "ffn")
# What a training step recomputes in backward instead of keeping (selective activation checkpointing), cheapest first:
# nothing; the FFN's activation function only (its input is kept, its output recomputed); each attention sublayer; each
# FFN sublayer; each whole layer (transformers' `gradient_checkpointing` granularity).
ACTIVATION_CHECKPOINTING = ("none", "ffn_activation", "attention", "ffn", "layer")
ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish")
INIT_METHODS = ("normal", "xavier_uniform")
SPECIAL_TOKEN_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")

# Keys transformers itself may pass to a config besides the dataclass fields, the `attribute_map` aliases, the
# settable properties and the generation parameters (all derived from the classes below): what `to_dict` adds, what
# `PreTrainedConfig.__post_init__` and `from_dict` consume, and the common attributes of transformers v4's
# PretrainedConfig that v5 dropped but config.json files written by v4 still carry. Keys starting with "_" are
# transformers' private bookkeeping and always accepted.
TRANSFORMERS_KEYS = frozenset({
    "model_type", "auto_map", "custom_pipelines", "attn_implementation", "experts_implementation",
    "quantization_config", "tokenizer_class", "prefix", "task_specific_params", "finetuning_task", "sep_token_id",
    "is_decoder", "add_cross_attention", "cross_attention_hidden_size", "tie_encoder_decoder", "pruned_heads",
    "torchscript", "use_bfloat16", "tf_legacy_loss", "output_past", "gradient_checkpointing",
})
# Keys this package's Hub export writes for its pipelines: the direction a translation model was trained on.
PIPELINE_KEYS = frozenset({"src_lang", "tgt_lang"})


@strict
class TobigsConfig(PreTrainedConfig):
    r"""
    Configuration of every `tobigs_transformer` model.

    Args:
        architecture: `"encoder-decoder"` (original Transformer, BART), `"decoder-only"` (GPT) or `"encoder-only"`
            (BERT). `is_encoder_decoder` follows from it.
        vocab_size: size of the (shared) token vocabulary.
        d_model: width of every hidden state (alias `hidden_size`).
        encoder_layers, decoder_layers: N, the number of stacked layers.
        encoder_attention_heads, decoder_attention_heads: h, the number of attention heads; must divide `d_model`.
        encoder_ffn_dim, decoder_ffn_dim: d_ff, the inner width of the position-wise feed-forward network.
        activation_function: FFN non-linearity, one of `relu`, `gelu`, `gelu_new` (GPT-2), `gelu_pytorch_tanh`,
            `silu`/`swish` (Marian).
        dropout: P_drop on embeddings and on every sublayer output before the residual addition.
        attention_dropout: dropout on the attention weights.
        activation_dropout: dropout inside the FFN, after the activation.
        classifier_dropout: dropout before classification heads (defaults to `dropout`).
        generator_size: ELECTRA's generator as a fraction of the discriminator (Clark et al. 2020 §3.2: "models work
            best with generators 1/4-1/2 the size of the discriminator"): its d_model, heads and d_ff are scaled by it,
            its embeddings are the discriminator's. Used by `TobigsElectraForPreTraining`; None elsewhere.
        rtd_loss_weight: lambda of ELECTRA's combined loss L_MLM + lambda * L_Disc (the paper's 50).
        add_pooling_layer: whether an encoder-only `TobigsModel` built without saying has BERT's pooler (dense + tanh
            over the first token); ELECTRA's encoder has none. Heads that read the pooler always build it.
        classifier_head: how an encoder-only `TobigsForSequenceClassification` reads the first token: `"pooler"`
            (BERT: the pooler's dense + tanh, dropout, a linear layer) or `"dense-tanh"` (RoBERTa: dropout, dense +
            tanh, dropout, projection, and no pooler in the model) or `"dense-gelu"` (ELECTRA: as RoBERTa's with
            GELU in place of tanh).
        max_position_embeddings: the longest sequence the position table covers; longer inputs raise an error.
        position_embedding_type: `"sinusoidal"` (fixed, paper §3.5), `"learned"` (GPT, BERT, BART) or `"rotary"`
            (RoFormer: query and key rotated by their positions inside attention, nothing added at the input;
            decoder-only and encoder-only) or `"relative"` (Transformer-XL, decoder-only: the distance i - j enters
            every attention score through sinusoids R_{i-j} and the learned biases u, v; nothing is added at the
            input and `max_position_embeddings` is no limit, `position_ids` are not used).
        mem_len: Transformer-XL's segment-level recurrence (needs `position_embedding_type="relative"`): each layer
            also attends over its cached input of the last `mem_len` tokens of the previous segments, returned as
            `mems` by the forward and fed back with `mems=` (see `memory.py`). 0: no memory.
        clamp_len: relative distances beyond it use the encoding of `clamp_len` (None: no clamping).
        untie_r: Transformer-XL's global biases u and v per layer (True) or one pair shared by every layer (False).
        same_length: Transformer-XL's same-length attention (the paper code's `same_length`, transformers'
            `TransfoXLConfig.same_length`): every query attends to the same number of tokens, itself and the
            `mem_len - 1` before it (over memory, cache and segment), instead of the whole memory plus the tokens of
            its segment before it, so the first token of a segment does not see less context than the last. The
            authors use it for evaluation (run_wt103_base.sh eval). Needs `position_embedding_type="relative"` and
            `mem_len > 0`.
        position_offset: learned-position index offset (BART checkpoints reserve 2 rows; 0 otherwise).
        sinusoidal_layout: `"interleaved"` (paper) or `"concatenated"` (fairseq/Marian).
        position_padding_idx: RoBERTa's (fairseq's) positions, encoder-only: the row of the learned position table
            that padding tokens read (RoBERTa: its pad_token_id, 1), while real tokens count 0, 1, ... from the ids
            themselves (`input_ids != pad_token_id`) into the rows after it (`position_offset = pad_token_id + 1`).
            None (default): positions count the attention mask and padding keeps its plain index.
        scale_embedding: multiply token embeddings by sqrt(d_model) (paper §3.4).
        layernorm_embedding: LayerNorm after summing the embeddings (BERT, BART).
        normalize_before: pre-LN `x + Sublayer(LN(x))` with a final LayerNorm per stack (GPT-2) instead of the
            paper's post-LN `LN(x + Sublayer(x))`.
        final_layer_norm: with `normalize_before=True`, whether each stack ends with a final LayerNorm (GPT-2, the
            default) or not (Transformer-XL's `pre_lnorm=True`: the last layer's residual sum goes to the head as it
            is). A post-LN stack already ends with its last layer's LayerNorm and has no final one: there only the
            default True is accepted, False raises rather than being ignored.
        type_vocab_size: number of segment (token type) embeddings; 0 disables them (BERT uses 2).
        embedding_size: the width E of the token embedding table before its projection to d_model. ALBERT's
            factorized embedding parameterization (encoder-only): the token, position and segment embeddings (and the
            MLM head's output side, tied to them) are E wide and projected to d_model by one linear map, so the
            vocabulary costs V x E + E x H instead of V x H. With `adaptive_input` / `adaptive_softmax`
            (decoder-only) it is Transformer-XL's `d_embed`: the width of the first (most frequent) cluster's table,
            cluster i being `embedding_size // div_val**i` wide, each projected to d_model on its own. None: d_model.
        adaptive_input: Baevski & Auli (2019)'s adaptive input representations (decoder-only): the vocabulary is cut
            into clusters at `cutoffs` (by frequency: ids sorted most frequent first), cluster i has a table
            `embedding_size // div_val**i` wide and its own projection to d_model, and every embedding is multiplied
            by sqrt(d_model) (the authors' `emb_scale`; `scale_embedding` is not applied on top). Transformer-XL's
            `AdaptiveEmbedding` (`adaptive.py`).
        adaptive_softmax: Grave et al. (2017)'s adaptive softmax as Transformer-XL's `ProjectedAdaptiveLogSoftmax`
            (decoder-only): a head softmax over the first cluster's tokens and one logit per tail cluster, then a
            softmax inside the cluster, each cluster with its own projection and width as in `adaptive_input`.
            `TobigsForCausalLM` returns log-probabilities over the whole vocabulary as `logits`; in training its loss
            never builds them (see `adaptive.py`). Not with `label_smoothing`.
        cutoffs: the cluster boundaries of `adaptive_input` / `adaptive_softmax`, increasing ids in (0, vocab_size),
            as the authors' and transformers 4.x `TransfoXLConfig` (WikiText-103: [20000, 40000, 200000], the last
            cluster ending at vocab_size). None: one cluster, the whole vocabulary.
        div_val: the factor by which each cluster's width shrinks (WikiText-103 large: 4); 1: one table and one
            projection for the whole vocabulary, the clusters being slices of it.
        tie_projs: per cluster (len(cutoffs) + 1 values), whether the softmax reuses the adaptive input's projection
            of that cluster (with div_val=1: its one projection), as the authors' `tie_projs`
            (WikiText-103: [False, True, True, True]). None: none tied. Needs both `adaptive_input` and
            `adaptive_softmax`. The tables themselves are tied by `tie_word_embeddings`.
        layer_sharing: ALBERT's cross-layer parameter sharing (encoder-only): `"none"`, `"all"` (every parameter of
            a layer), `"attention"` (self-attention and its LayerNorm only) or `"ffn"` (the FFN and its LayerNorm
            only), shared within each of `layer_groups` groups of consecutive layers.
        layer_groups: how many groups of layers hold their own parameters when `layer_sharing` is not "none" (1: all
            layers share, ALBERT's default; transformers' `num_hidden_groups`). Layer i uses group
            `int(i / (encoder_layers / layer_groups))`, as transformers' ALBERT.
        inner_group_num: with `layer_sharing="all"`, how many distinct layers one group holds and applies in turn
            (transformers' `inner_group_num`): the stack is `encoder_layers x inner_group_num` layers deep.
        layer_norm_eps: epsilon of every LayerNorm.
        attention_bias: biases on the query/key/value/output projections.
        lm_head_bias: a bias on the output projection of the LM head (BART/Marian `final_logits_bias`).
        init_std: standard deviation of the normal initialisation (BERT/GPT/BART).
        init_method: `"normal"` or `"xavier_uniform"` (the paper's implementations).
        scale_residual_init: GPT-2's initialisation (Radford et al. 2019, §2.3): the projections that write into the
            residual stream (every attention's `out_proj` and the FFN's `fc2`) start with std
            `init_std / sqrt(2 * n_layers)`, n_layers being the layer count of their stack, so the residual sum does
            not grow with depth. Needs `init_method="normal"`; the `gpt2` preset sets it.
        label_smoothing: epsilon_ls of the token-level cross-entropy (paper §5.4 uses 0.1).
        loss_chunk_size: tokens per chunk of the fused LM-head loss (`chunked_loss.py`), 0 to turn it off. When on,
            a generating or masked-LM model in training mode that is given labels computes the output projection and
            the cross-entropy chunk by chunk and returns `logits=None` (the (tokens x vocab) logits are never
            built); in eval mode, without labels, or with `return_logits=True` it returns logits as usual. The loss
            and its gradients are the same as without it.
        activation_checkpointing: selective activation checkpointing of the encoder and decoder layers in training:
            `"none"` keeps every activation backward needs; `"ffn_activation"` keeps the FFN's pre-activation and
            recomputes the activation function in backward (one elementwise op; no effect for ReLU, whose output
            is the saved input of W_2 anyway); `"attention"`, `"ffn"` recompute every attention (self- and cross-)
            or FFN sublayer from its input; `"layer"` recomputes whole layers, as transformers'
            `gradient_checkpointing_enable()` does for every model. Dropout draws the same masks in the recompute
            (the random state is restored), so loss and gradients equal `"none"`'s; the trade-off (memory saved,
            tokens/s lost) is in benchmarks/RESULTS.md ("cpu-train-22"). A step given a key/value cache
            (generation, Transformer-XL's memory cache) is not checkpointed.
        tie_word_embeddings: share the input embedding with the output projection (and, for encoder-decoder models,
            between encoder and decoder), paper §3.4.
        decoder_start_token_id: first decoder input of encoder-decoder models; labels are shifted right behind it.
        add_cross_attention: give a decoder-only model's layers cross-attention over `encoder_hidden_states` (masked
            self-attention, then cross-attention, then the FFN, as the encoder-decoder's decoder layers), so that it
            can be the decoder of transformers' `EncoderDecoderModel` (which sets it, and `is_decoder=True`, on the
            decoder's config: the "BERT2GPT" warm start, Rothe et al. 2020). Without `encoder_hidden_states` those
            layers are skipped and the model is the plain decoder. An encoder-decoder config's decoder has
            cross-attention anyway (True changes nothing there); an encoder-only config has no decoder to add it to
            and Transformer-XL's relative decoder does not take it: both raise.
    """

    model_type = "tobigs_transformer"
    keys_to_ignore_at_inference = ["cache"]
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "num_hidden_layers": "encoder_layers",
        "intermediate_size": "encoder_ffn_dim",
    }

    architecture: str = "encoder-decoder"
    vocab_size: int = 32000
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 8
    decoder_attention_heads: int = 8
    encoder_ffn_dim: int = 2048
    decoder_ffn_dim: int = 2048
    activation_function: str = "relu"
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    classifier_dropout: float | int | None = None
    classifier_head: str = "pooler"
    add_pooling_layer: bool = True
    generator_size: float | None = None
    rtd_loss_weight: float | int = 50.0
    max_position_embeddings: int = 512
    position_embedding_type: str = "sinusoidal"
    position_offset: int = 0
    sinusoidal_layout: str = "interleaved"
    position_padding_idx: int | None = None
    mem_len: int = 0
    clamp_len: int | None = None
    untie_r: bool = True
    same_length: bool = False
    scale_embedding: bool = True
    layernorm_embedding: bool = False
    normalize_before: bool = False
    final_layer_norm: bool = True
    type_vocab_size: int = 0
    embedding_size: int | None = None
    adaptive_input: bool = False
    adaptive_softmax: bool = False
    cutoffs: list[int] | None = None
    div_val: int = 1
    tie_projs: list[bool] | None = None
    layer_sharing: str = "none"
    layer_groups: int = 1
    inner_group_num: int = 1
    layer_norm_eps: float = 1e-5
    attention_bias: bool = True
    lm_head_bias: bool = False
    init_std: float = 0.02
    init_method: str = "normal"
    scale_residual_init: bool = False
    label_smoothing: float | int = 0.0
    loss_chunk_size: int = 1024
    activation_checkpointing: str = "none"
    use_cache: bool = True
    tie_word_embeddings: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = None
    add_cross_attention: bool = False

    def __post_init__(self, **kwargs):
        # Before anything is set: an unknown key would otherwise become an attribute that nothing reads.
        self.check_keys(kwargs)
        # `is_encoder_decoder` is what transformers reads (generate, caches); `architecture` is the source of truth.
        self.is_encoder_decoder = self.architecture == "encoder-decoder"
        if self.architecture == "decoder-only":
            # The aliases num_hidden_layers/num_attention_heads/intermediate_size name the encoder fields (as in BART);
            # a decoder-only model mirrors its decoder into them so that the aliases stay true.
            self.encoder_layers = self.decoder_layers
            self.encoder_attention_heads = self.decoder_attention_heads
            self.encoder_ffn_dim = self.decoder_ffn_dim
        # Checked here as well as by the strict-dataclass validator so that construction raises a plain ValueError.
        self.validate_architecture()
        super().__post_init__(**kwargs)

    # ---- validation: every check names the field and the limit -------------------------------------------------
    def validate_architecture(self):
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        _check_choice("position_embedding_type", self.position_embedding_type, POSITION_EMBEDDING_TYPES)
        _check_choice("sinusoidal_layout", self.sinusoidal_layout, SINUSOIDAL_LAYOUTS)
        _check_choice("activation_function", self.activation_function, ACTIVATIONS)
        _check_choice("init_method", self.init_method, INIT_METHODS)
        _check_choice("classifier_head", self.classifier_head, CLASSIFIER_HEADS)
        _check_choice("layer_sharing", self.layer_sharing, LAYER_SHARING)
        _check_choice("activation_checkpointing", self.activation_checkpointing, ACTIVATION_CHECKPOINTING)
        for name in ("vocab_size", "d_model", "max_position_embeddings"):
            _check_positive(name, getattr(self, name))
        for name in ("position_offset", "type_vocab_size", "loss_chunk_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        stacks = {"encoder-decoder": ("encoder", "decoder"), "decoder-only": ("decoder",), "encoder-only": ("encoder",)}
        for stack in stacks[self.architecture]:
            _check_positive(f"{stack}_layers", getattr(self, f"{stack}_layers"))
            _check_positive(f"{stack}_ffn_dim", getattr(self, f"{stack}_ffn_dim"))
            heads = getattr(self, f"{stack}_attention_heads")
            _check_positive(f"{stack}_attention_heads", heads)
            if self.d_model % heads:
                raise ValueError(
                    f"d_model={self.d_model} must be divisible by {stack}_attention_heads={heads} "
                    f"(each head gets d_model / heads dimensions)"
                )
        for name in ("dropout", "attention_dropout", "activation_dropout", "classifier_dropout", "label_smoothing"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")
        if self.scale_residual_init and self.init_method != "normal":
            raise ValueError(
                f"scale_residual_init=True scales a normal initialisation; it needs init_method='normal', "
                f"got init_method={self.init_method!r}"
            )
        if not self.final_layer_norm and not self.normalize_before:
            raise ValueError("final_layer_norm=False applies to pre-LN stacks (normalize_before=True); a post-LN "
                             "stack (normalize_before=False) ends with its last layer's LayerNorm and has no final "
                             "one to remove: leave final_layer_norm=True")
        self.validate_position_padding()
        self.validate_rotary()
        self.validate_relative()
        self.validate_albert()
        self.validate_adaptive()
        self.validate_cross_attention()
        for name in ("pad_token_id", "bos_token_id", "decoder_start_token_id"):
            _check_token_id(name, getattr(self, name), self.vocab_size)
        eos = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        for token_id in eos:
            _check_token_id("eos_token_id", token_id, self.vocab_size)

    def validate_rotary(self):
        if self.position_embedding_type != "rotary":
            return
        if self.architecture == "encoder-decoder":
            raise ValueError("position_embedding_type='rotary' is not supported for architecture='encoder-decoder' "
                             "(rotary positions are built for 'decoder-only' and 'encoder-only')")
        stack = "decoder" if self.architecture == "decoder-only" else "encoder"
        heads = getattr(self, f"{stack}_attention_heads")
        if (self.d_model // heads) % 2:
            raise ValueError(f"position_embedding_type='rotary' rotates pairs of dimensions: the head dimension "
                             f"d_model / {stack}_attention_heads = {self.d_model // heads} must be even")

    def validate_relative(self):
        if self.mem_len < 0:
            raise ValueError(f"mem_len must be >= 0, got {self.mem_len}")
        if self.clamp_len is not None and self.clamp_len < 1:
            raise ValueError(f"clamp_len must be >= 1 or None (no clamping), got {self.clamp_len}")
        if self.mem_len and self.position_embedding_type != "relative":
            raise ValueError(f"mem_len={self.mem_len} (Transformer-XL's memory) needs position_embedding_type="
                             f"'relative': absolute positions of two segments would collide (Dai et al. 2019 §3.3), "
                             f"got {self.position_embedding_type!r}")
        if self.same_length and (self.position_embedding_type != "relative" or not self.mem_len):
            raise ValueError(f"same_length=True (Transformer-XL's same-length attention: every query sees its mem_len "
                             f"previous tokens) needs position_embedding_type='relative' and mem_len > 0, got "
                             f"position_embedding_type={self.position_embedding_type!r}, mem_len={self.mem_len}")
        if self.position_embedding_type == "relative" and self.architecture != "decoder-only":
            raise ValueError(f"position_embedding_type='relative' is built for architecture='decoder-only' "
                             f"(Transformer-XL), got {self.architecture!r}")

    def validate_position_padding(self):
        if self.position_padding_idx is None:
            return
        name = f"position_padding_idx={self.position_padding_idx}"
        if self.architecture != "encoder-only" or self.position_embedding_type != "learned":
            raise ValueError(f"{name} (RoBERTa's positions) needs architecture='encoder-only' and "
                             f"position_embedding_type='learned', got {self.architecture!r} and "
                             f"{self.position_embedding_type!r}")
        if not 0 <= self.position_padding_idx < self.position_offset:
            raise ValueError(f"{name} must be a reserved row of the position table, in [0, position_offset="
                             f"{self.position_offset})")
        if self.pad_token_id is None:
            raise ValueError(f"{name} counts positions over the ids that are not padding; it needs pad_token_id")

    def validate_cross_attention(self):
        """`add_cross_attention` (and transformers' `is_decoder`, `cross_attention_hidden_size`, which
        `EncoderDecoderModel` reads or sets) only where a decoder can take them."""
        roles = ("use an encoder-only model as the encoder of an EncoderDecoderModel, and a 'decoder-only' or "
                 "'encoder-decoder' one as its decoder")
        if self.architecture == "encoder-only" and self.add_cross_attention:
            raise ValueError(f"add_cross_attention=True needs a decoder, and architecture='encoder-only' has none; "
                             f"{roles}")
        if self.architecture == "encoder-only" and getattr(self, "is_decoder", False):
            raise ValueError(f"is_decoder=True (a causal BERT, transformers' BertLMHeadModel) is not supported for "
                             f"architecture='encoder-only'; {roles}")
        if self.add_cross_attention and self.position_embedding_type == "relative":
            raise ValueError("add_cross_attention=True is not supported with position_embedding_type='relative' "
                             "(Transformer-XL's decoder attends over its memory, not over an encoder)")
        width = getattr(self, "cross_attention_hidden_size", None)
        if self.has_cross_attention and width is not None and width != self.d_model:
            raise ValueError(f"cross_attention_hidden_size={width} is not supported: cross-attention reads "
                             f"encoder states as wide as d_model={self.d_model}; leave it None and EncoderDecoderModel "
                             "projects a wider or narrower encoder with its enc_to_dec_proj")

    def validate_albert(self):
        """ALBERT's two parameter reductions: factorized embeddings and cross-layer sharing (encoder-only)."""
        albert = (self.embedding_size is not None and not self.uses_adaptive) or self.layer_sharing != "none"
        if albert and self.architecture != "encoder-only":
            raise ValueError(f"embedding_size={self.embedding_size} and layer_sharing={self.layer_sharing!r} apply to "
                             f"encoder-only models, not architecture={self.architecture!r}")
        if self.embedding_size is not None:
            _check_positive("embedding_size", self.embedding_size)
        _check_positive("layer_groups", self.layer_groups)
        _check_positive("inner_group_num", self.inner_group_num)
        if self.layer_sharing == "none" and self.layer_groups != 1:
            raise ValueError(f"layer_groups={self.layer_groups} groups shared parameters; with layer_sharing='none' "
                             "every layer has its own, so it must be 1")
        if self.layer_groups > self.encoder_layers:
            raise ValueError(f"layer_groups={self.layer_groups} must be <= encoder_layers={self.encoder_layers}")
        if self.generator_size is not None and not 0.0 < self.generator_size <= 1.0:
            raise ValueError(f"generator_size must be in (0, 1], a fraction of the discriminator, got "
                             f"{self.generator_size}")
        if self.rtd_loss_weight <= 0:
            raise ValueError(f"rtd_loss_weight must be > 0, got {self.rtd_loss_weight}")
        if self.inner_group_num != 1 and self.layer_sharing != "all":
            raise ValueError(f"inner_group_num={self.inner_group_num} needs layer_sharing='all' (a group of layers "
                             f"shared whole), got {self.layer_sharing!r}")

    def validate_adaptive(self):
        """Adaptive input and softmax (Transformer-XL's `div_val`, `cutoffs`, `tie_projs`), decoder-only."""
        if not self.uses_adaptive:
            unused = {"cutoffs": self.cutoffs, "tie_projs": self.tie_projs, "div_val": None if self.div_val == 1
                      else self.div_val}
            for name, value in unused.items():
                if value is not None:
                    raise ValueError(f"{name}={value} configures adaptive_input / adaptive_softmax, which are both "
                                     "off; set adaptive_input=True or adaptive_softmax=True, or leave it unset")
            return
        if self.architecture != "decoder-only":
            raise ValueError(f"adaptive_input / adaptive_softmax are built for architecture='decoder-only' "
                             f"(TobigsForCausalLM), got {self.architecture!r}")
        if self.div_val < 1:
            raise ValueError(f"div_val must be >= 1, got {self.div_val}")
        cutoffs = list(self.cutoffs or [])
        for previous, cutoff in zip([0] + cutoffs, cutoffs):
            if not previous < cutoff < self.vocab_size:
                raise ValueError(f"cutoffs={cutoffs} must be increasing ids in (0, vocab_size={self.vocab_size}): "
                                 f"{cutoff} is not in ({previous}, {self.vocab_size})")
        width = self.embedding_size or self.d_model
        narrowest = width // self.div_val ** len(cutoffs)
        if narrowest < 1:
            raise ValueError(f"the last cluster's width embedding_size // div_val**{len(cutoffs)} = {width} // "
                             f"{self.div_val ** len(cutoffs)} = 0; lower div_val or use fewer cutoffs")
        if self.tie_projs is not None:
            if len(self.tie_projs) != len(cutoffs) + 1:
                raise ValueError(f"tie_projs has {len(self.tie_projs)} values; it needs one per cluster, "
                                 f"len(cutoffs) + 1 = {len(cutoffs) + 1}")
            if any(self.tie_projs) and not (self.adaptive_input and self.adaptive_softmax):
                raise ValueError(f"tie_projs={self.tie_projs} ties the softmax's projections to the adaptive input's; "
                                 "it needs adaptive_input=True and adaptive_softmax=True")
        if self.tie_word_embeddings and self.adaptive_input != self.adaptive_softmax:
            which = "adaptive_input" if self.adaptive_input else "adaptive_softmax"
            raise ValueError(f"tie_word_embeddings=True with {which} alone: the adaptive tables can only be tied to "
                             "the adaptive softmax's (and the reverse); set both adaptive_input=True and "
                             "adaptive_softmax=True, or tie_word_embeddings=False")
        if self.adaptive_softmax and self.label_smoothing:
            raise ValueError(f"label_smoothing={self.label_smoothing} is not supported with adaptive_softmax=True: "
                             "smoothing spreads mass over every token, which the adaptive softmax's loss never "
                             "scores; set label_smoothing=0.0")

    @property
    def uses_adaptive(self) -> bool:
        """Whether the token embedding or the output softmax is adaptive (cut into clusters)."""
        return self.adaptive_input or self.adaptive_softmax

    # ---- keys --------------------------------------------------------------------------------------------------
    @classmethod
    def check_keys(cls, keys) -> None:
        """Raise a ValueError naming the first key that is no TobigsConfig field (nor anything transformers passes to
        a config) and the closest field. Used by the constructor and `from_preset` (keys a person typed); call it
        before `setattr`-ing user overrides on an existing config. Loading (`from_dict`, `from_pretrained`) keeps
        extra keys instead."""
        for key in cls.unknown_keys(keys):
            fields = _own_fields(cls)
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the fields are: {', '.join(fields)}"
            raise ValueError(f"{cls.__name__} has no field {key!r}; {hint}")

    @classmethod
    def unknown_keys(cls, keys) -> list[str]:
        """The keys that are no TobigsConfig field nor anything transformers passes to a config, in order."""
        known = _known_keys(cls)
        return [key for key in keys if not key.startswith("_") and key not in known]

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """transformers' `from_dict`, keeping keys that are no field as plain attributes (as transformers' configs
        do), with a warning naming them: a saved config may carry what other tools set on it (transformers' test
        helpers set `batch_norm_eps`, `norm_eps`, ... on every config) and must load and save again. A typo in code
        is caught by the constructor and `from_preset` instead."""
        extra = cls.unknown_keys(config_dict)
        if not extra:
            return super().from_dict(config_dict, **kwargs)
        logger.warning(f"{cls.__name__}: keeping keys that are no field of it (nothing in the model reads them): "
                       f"{', '.join(extra)}")
        known = {key: value for key, value in config_dict.items() if key not in extra}
        loaded = super().from_dict(known, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded  # (config, unused kwargs) if asked for
        for key in extra:  # a keyword argument of the same name wins, as it does over the file's fields
            setattr(config, key, kwargs.get(key, config_dict[key]))
        return loaded

    @classmethod
    def from_json_file(cls, json_file):
        """transformers' `from_json_file`, keeping extra keys as `from_dict` does."""
        return cls.from_dict(cls._dict_from_json_file(json_file))

    # ---- loading -----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs) -> "TobigsConfig":
        """transformers' `from_pretrained`, except that a local path that does not exist says so (instead of being
        tried as a Hub repository id)."""
        check_local_path(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    # ---- presets -------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "TobigsConfig":
        """Build the configuration of a named preset (see `presets()`), with any field overridden.

        Unknown override keys raise a ValueError naming the closest field.

        Special-token ids and a smaller vocabulary: a preset's special-token id (`pad_token_id`, `bos_token_id`,
        `eos_token_id`, `decoder_start_token_id`) that falls outside an overridden `vocab_size` is counted from the
        end of the vocabulary, where the preset's checkpoint puts it: GPT-2's `<|endoftext|>` = 50256, the last of
        50257 ids, stays the last id (`from_preset("gpt2", vocab_size=8000)` gives 7999). Ids inside the new
        vocabulary are kept, ids passed explicitly are never changed (they must fit, or the config raises), and
        every remapped id is logged at info level. A vocabulary too small to hold the id counted from the end raises.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}")
        cls.check_keys(overrides)
        preset = PRESETS[name]
        remapped = _special_ids_for_vocab(name, preset, overrides)
        return cls(**{**preset, **remapped, **overrides})

    @staticmethod
    def presets() -> list[str]:
        """Names accepted by `from_preset`."""
        return sorted(PRESETS)

    @property
    def head_dropout(self) -> float:
        """The dropout before a classification head: `classifier_dropout`, or `dropout` when that is not set."""
        return self.classifier_dropout if self.classifier_dropout is not None else self.dropout

    @property
    def has_encoder(self) -> bool:
        return self.architecture in ("encoder-decoder", "encoder-only")

    @property
    def has_decoder(self) -> bool:
        return self.architecture in ("encoder-decoder", "decoder-only")

    @property
    def has_cross_attention(self) -> bool:
        """Whether the decoder layers have cross-attention: an encoder-decoder's always, a decoder-only model's with
        `add_cross_attention`."""
        return self.architecture == "encoder-decoder" or (self.has_decoder and self.add_cross_attention)


@cache
def _known_keys(config_class: type) -> frozenset:
    """Everything a config of `config_class` may legitimately be given, derived from the classes themselves."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    aliases = set(config_class.attribute_map)
    settable = {
        name for klass in config_class.__mro__ for name, value in vars(klass).items()
        if isinstance(value, property) and value.fset is not None
    }
    generation = set(GenerationConfig._get_default_generation_params())
    return frozenset(fields | aliases | settable | generation | TRANSFORMERS_KEYS | PIPELINE_KEYS)


@cache
def _own_fields(config_class: type) -> list[str]:
    """The fields a user sets (this class's, not transformers' bookkeeping), plus their aliases."""
    base = {f.name for f in dataclasses.fields(PreTrainedConfig)}
    own = [f.name for f in dataclasses.fields(config_class) if f.name not in base]
    return own + [alias for alias in config_class.attribute_map if alias not in own]


def _special_ids_for_vocab(name: str, preset: dict, overrides: dict) -> dict:
    """The preset's special-token ids that fall outside an overridden vocab_size, counted from the end instead."""
    vocab_size = overrides.get("vocab_size")
    if vocab_size is None or not isinstance(vocab_size, int) or vocab_size == preset["vocab_size"]:
        return {}

    def moved(field: str, token_id):
        if not isinstance(token_id, int) or token_id < vocab_size:
            return token_id
        new_id = vocab_size - (preset["vocab_size"] - token_id)
        if new_id < 0:
            raise ValueError(
                f"preset {name!r} has {field}={token_id}, outside vocab_size={vocab_size}, and counted from the end "
                f"of the vocabulary ({preset['vocab_size'] - token_id} from the end) it does not fit either; pass "
                f"{field} explicitly"
            )
        return new_id

    remapped = {}
    for field in SPECIAL_TOKEN_FIELDS:
        if field in overrides or preset.get(field) is None:
            continue
        value = preset[field]
        new = [moved(field, v) for v in value] if isinstance(value, list) else moved(field, value)
        if new != value:
            remapped[field] = new
            logger.info(
                f"from_preset({name!r}, vocab_size={vocab_size}): {field} {value} -> {new} (counted from the end "
                f"of the vocabulary, as in the preset's vocab_size={preset['vocab_size']})"
            )
    return remapped


def looks_local(path: str) -> bool:
    """Whether a `from_pretrained` argument names a local path rather than a Hub id (`name` or `owner/name`):
    absolute, starting with "." or "~", with more than one separator, or with a Windows separator."""
    return (
        os.path.isabs(path)
        or path.startswith((".", "~"))
        or path.count("/") > 1
        or "\\" in path
        or (os.sep != "/" and path.count(os.sep) > 1)
    )


def check_local_path(path) -> None:
    """A local path given to `from_pretrained` must exist; say so, naming it, rather than transformers' message
    about Hub repository ids."""
    if path is None:
        return
    text = os.fspath(path)
    if not isinstance(text, str):
        return
    local = isinstance(path, os.PathLike) or looks_local(text)
    resolved = os.path.abspath(os.path.expanduser(text))
    if local and not os.path.exists(resolved):
        raise FileNotFoundError(f"no such directory: {text!r} (resolved to {resolved})")


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}")


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_token_id(name: str, value, vocab_size: int) -> None:
    if value is not None and not 0 <= value < vocab_size:
        raise ValueError(f"{name}={value} is outside the vocabulary [0, vocab_size={vocab_size})")


__all__ = ["TobigsConfig", "check_local_path", "looks_local"]
