"""Named presets: the four families of the lecture as configuration values over one block library.

The lecture's point is that GPT, BERT and BART are the original Transformer with parts taken away or trained
differently. Each preset below says exactly which parts: read two entries side by side to see how two families differ.
Sizes are the papers' own; scale them down with overrides, e.g. ``TobigsConfig.from_preset("gpt2", d_model=128)``.
"""

# Shared by every preset unless it says otherwise.
_PAPER_TRANSFORMER = dict(
    architecture="encoder-decoder",
    position_embedding_type="sinusoidal",  # §3.5: fixed sin/cos, no parameters
    scale_embedding=True,  # §3.4: embeddings multiplied by sqrt(d_model)
    normalize_before=False,  # §3.1: LayerNorm(x + Sublayer(x)), "post-LN"
    activation_function="relu",  # §3.3: FFN(x) = max(0, xW1 + b1)W2 + b2
    tie_word_embeddings=True,  # §3.4: source, target and pre-softmax weights shared
    init_method="xavier_uniform",  # as the paper's implementations (tensor2tensor, fairseq) do
    label_smoothing=0.1,  # §5.4
    attention_dropout=0.0,
    activation_dropout=0.0,
    layer_norm_eps=1e-6,
    max_position_embeddings=512,
    vocab_size=37000,  # §5.1: shared BPE vocabulary of about 37k tokens (WMT En-De)
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    decoder_start_token_id=1,
)

PRESETS: dict[str, dict] = {
    # Vaswani et al. 2017, Table 3 "base": N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1.
    "transformer-base": dict(
        _PAPER_TRANSFORMER,
        d_model=512,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_ffn_dim=2048,
        dropout=0.1,
    ),
    # Table 3 "big": d_model=1024, d_ff=4096, h=16, P_drop=0.3.
    "transformer-big": dict(
        _PAPER_TRANSFORMER,
        d_model=1024,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        dropout=0.3,
    ),
    # GPT-1 (Radford et al. 2018): the decoder alone (no cross-attention), learned positions, post-LN, GELU.
    "gpt": dict(
        architecture="decoder-only",
        vocab_size=40478,
        d_model=768,
        decoder_layers=12,
        decoder_attention_heads=12,
        decoder_ffn_dim=3072,
        max_position_embeddings=512,
        position_embedding_type="learned",
        scale_embedding=False,
        normalize_before=False,
        activation_function="gelu",
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_eps=1e-5,
        tie_word_embeddings=True,
        pad_token_id=None,
        bos_token_id=None,
        eos_token_id=None,
    ),
    # BERT-base (Devlin et al. 2019): the encoder alone, learned positions + segment embeddings, embedding LayerNorm.
    "bert-base": dict(
        architecture="encoder-only",
        vocab_size=30522,
        d_model=768,
        encoder_layers=12,
        encoder_attention_heads=12,
        encoder_ffn_dim=3072,
        max_position_embeddings=512,
        position_embedding_type="learned",
        type_vocab_size=2,
        layernorm_embedding=True,
        scale_embedding=False,
        normalize_before=False,
        activation_function="gelu",
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_eps=1e-12,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
    ),
    # BART-base (Lewis et al. 2019): encoder-decoder, learned positions (offset 2), embedding LayerNorm, GELU.
    "bart-base": dict(
        architecture="encoder-decoder",
        vocab_size=50265,
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_position_embeddings=1024,
        position_embedding_type="learned",
        position_offset=2,
        layernorm_embedding=True,
        scale_embedding=False,
        normalize_before=False,
        activation_function="gelu",
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_eps=1e-5,
        lm_head_bias=True,
        tie_word_embeddings=True,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    ),
}

# GPT-2 small (Radford et al. 2019): GPT-1 with pre-LN (+ a final LayerNorm), the tanh "gelu_new", a larger
# byte-level vocabulary, 1024 positions, and residual projections initialised with std / sqrt(2 * n_layers) (§2.3).
PRESETS["gpt2"] = dict(
    PRESETS["gpt"],
    vocab_size=50257,
    max_position_embeddings=1024,
    normalize_before=True,
    activation_function="gelu_new",
    scale_residual_init=True,
    bos_token_id=50256,
    eos_token_id=50256,
)

# BART-large: same recipe, 12+12 layers of width 1024 with 16 heads.
PRESETS["bart-large"] = dict(
    PRESETS["bart-base"],
    d_model=1024,
    encoder_layers=12,
    decoder_layers=12,
    encoder_attention_heads=16,
    decoder_attention_heads=16,
    encoder_ffn_dim=4096,
    decoder_ffn_dim=4096,
)
