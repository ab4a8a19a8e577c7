"""TobigsConfig: one configuration for the whole Transformer family.

`architecture` says which stacks exist (encoder and decoder as in Vaswani et al. 2017 Figure 1, the decoder alone as in
GPT, the encoder alone as in BERT); every other difference between the families is a field below, and the named
presets in `presets.py` set them. Field names follow transformers (BART's in particular) so that users and the
converters meet familiar names.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .presets import PRESETS

ARCHITECTURES = ("encoder-decoder", "decoder-only", "encoder-only")
POSITION_EMBEDDING_TYPES = ("sinusoidal", "learned")
# "interleaved": PE(pos, 2i) = sin, PE(pos, 2i+1) = cos (paper §3.5); "concatenated": all sines, then all cosines
# (the layout of fairseq and Marian checkpoints).
SINUSOIDAL_LAYOUTS = ("interleaved", "concatenated")
ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish")
INIT_METHODS = ("normal", "xavier_uniform")


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
        max_position_embeddings: the longest sequence the position table covers; longer inputs raise an error.
        position_embedding_type: `"sinusoidal"` (fixed, paper §3.5) or `"learned"` (GPT, BERT, BART).
        position_offset: learned-position index offset (BART checkpoints reserve 2 rows; 0 otherwise).
        sinusoidal_layout: `"interleaved"` (paper) or `"concatenated"` (fairseq/Marian).
        scale_embedding: multiply token embeddings by sqrt(d_model) (paper §3.4).
        layernorm_embedding: LayerNorm after summing the embeddings (BERT, BART).
        normalize_before: pre-LN `x + Sublayer(LN(x))` with a final LayerNorm per stack (GPT-2) instead of the
            paper's post-LN `LN(x + Sublayer(x))`.
        type_vocab_size: number of segment (token type) embeddings; 0 disables them (BERT uses 2).
        layer_norm_eps: epsilon of every LayerNorm.
        attention_bias: biases on the query/key/value/output projections.
        lm_head_bias: a bias on the output projection of the LM head (BART/Marian `final_logits_bias`).
        init_std: standard deviation of the normal initialisation (BERT/GPT/BART).
        init_method: `"normal"` or `"xavier_uniform"` (the paper's implementations).
        label_smoothing: epsilon_ls of the token-level cross-entropy (paper §5.4 uses 0.1).
        tie_word_embeddings: share the input embedding with the output projection (and, for encoder-decoder models,
            between encoder and decoder), paper §3.4.
        decoder_start_token_id: first decoder input of encoder-decoder models; labels are shifted right behind it.
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
    max_position_embeddings: int = 512
    position_embedding_type: str = "sinusoidal"
    position_offset: int = 0
    sinusoidal_layout: str = "interleaved"
    scale_embedding: bool = True
    layernorm_embedding: bool = False
    normalize_before: bool = False
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-5
    attention_bias: bool = True
    lm_head_bias: bool = False
    init_std: float = 0.02
    init_method: str = "normal"
    label_smoothing: float | int = 0.0
    use_cache: bool = True
    tie_word_embeddings: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = None

    def __post_init__(self, **kwargs):
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
        for name in ("vocab_size", "d_model", "max_position_embeddings"):
            _check_positive(name, getattr(self, name))
        for name in ("position_offset", "type_vocab_size"):
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
        for name in ("pad_token_id", "bos_token_id", "decoder_start_token_id"):
            _check_token_id(name, getattr(self, name), self.vocab_size)
        eos = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        for token_id in eos:
            _check_token_id("eos_token_id", token_id, self.vocab_size)

    # ---- presets -------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "TobigsConfig":
        """Build the configuration of a named preset (see `presets()`), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name], **overrides})

    @staticmethod
    def presets() -> list[str]:
        """Names accepted by `from_preset`."""
        return sorted(PRESETS)

    @property
    def has_encoder(self) -> bool:
        return self.architecture in ("encoder-decoder", "encoder-only")

    @property
    def has_decoder(self) -> bool:
        return self.architecture in ("encoder-decoder", "decoder-only")


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}")


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_token_id(name: str, value, vocab_size: int) -> None:
    if value is not None and not 0 <= value < vocab_size:
        raise ValueError(f"{name}={value} is outside the vocabulary [0, vocab_size={vocab_size})")


__all__ = ["TobigsConfig"]
