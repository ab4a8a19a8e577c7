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
        activation_function="gelu_new",  # the tanh approximation, as OpenAI's GPT code (and transformers' afn="gelu")
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

# MarianMT (Junczys-Dowmunt et al. 2018) as the opus-mt translation checkpoints ship it, at the sizes of opus-mt-en-de:
# the paper's base model (6+6 layers, d_model 512, h 8, d_ff 2048, sinusoids, embeddings x sqrt(d_model), post-LN, one
# vocabulary tied three ways). What differs from `transformer-base` is what Marian's implementation chose: sines and
# cosines concatenated rather than interleaved, the SiLU/"swish" FFN, LayerNorm eps 1e-5, an output bias
# (`final_logits_bias`), N(0, 0.02) initialisation, a 58101-token SentencePiece vocabulary whose last id pads and
# starts the decoder, and id 0 for </s>. This is exactly the config `convert_from_hf` gives an opus-mt model.
PRESETS["marian"] = dict(
    PRESETS["transformer-base"],
    sinusoidal_layout="concatenated",
    activation_function="swish",
    layer_norm_eps=1e-5,
    lm_head_bias=True,
    init_method="normal",
    init_std=0.02,
    label_smoothing=0.0,
    vocab_size=58101,
    pad_token_id=58100,
    bos_token_id=0,
    eos_token_id=0,
    decoder_start_token_id=58100,
)

# RoBERTa-base (Liu et al. 2019): BERT-base's network, trained differently (dynamic masking, FULL-SENTENCES, no NSP:
# the recipe lives in the MLM trainer). What the config says: a byte-level BPE vocabulary of 50265 with fairseq's
# special ids (<s>=0, <pad>=1, </s>=2); fairseq's positions, which count real tokens from row pad+1 = 2 on and give
# padding its own row (`position_offset=2`, `position_padding_idx=1`: 512 usable positions in a 514-row table);
# one token type ("we do not use segment embeddings" beyond the one row checkpoints keep); LayerNorm eps 1e-5; and a
# classification head of dense + tanh over <s> instead of BERT's pooler (`classifier_head="dense-tanh"`).
PRESETS["roberta-base"] = dict(
    PRESETS["bert-base"],
    vocab_size=50265,
    max_position_embeddings=512,
    position_offset=2,
    position_padding_idx=1,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
    classifier_head="dense-tanh",
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)

# ALBERT-base (Lan et al. 2020, Table 1, as released in v2): BERT-base's shape with the two parameter reductions of
# §3.1 -- "factorized embedding parameterization" (E = 128 wide embeddings projected to H = 768) and "cross-layer
# parameter sharing" (all parameters, one group: 12 applications of one layer) -- a 30000-token SentencePiece
# vocabulary, gelu_new, and no dropout (the v2 checkpoints drop it). The second pre-training task is sentence-order
# prediction (`TobigsForPreTraining` with `sentence_order_label`), not NSP. The paper's Table 4 ablations are
# `layer_sharing="attention"`, `"ffn"` and `"none"`.
PRESETS["albert-base"] = dict(
    PRESETS["bert-base"],
    vocab_size=30000,
    embedding_size=128,
    layer_sharing="all",
    layer_groups=1,
    inner_group_num=1,
    activation_function="gelu_new",
    dropout=0.0,
    attention_dropout=0.0,
    classifier_dropout=0.1,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=3,
)
# ALBERT-large: H = 1024, 24 layers, 16 heads, d_ff 4096, still E = 128 and one shared layer.
PRESETS["albert-large"] = dict(
    PRESETS["albert-base"],
    d_model=1024,
    encoder_layers=24,
    encoder_attention_heads=16,
    encoder_ffn_dim=4096,
)

# CTRL (Keskar et al. 2019, §4 "Model"): a 48-layer decoder of width 1280 (16 heads, d_ff 8192) over a 246534-token
# BPE vocabulary, "a Transformer with the original paper's sinusoidal positional embeddings" (laid out sines, then
# cosines, as its released code) added to token embeddings scaled by sqrt(d_model), pre-LN layers with a final
# LayerNorm (GPT-2's placement), a ReLU FFN and an LM head with its own bias. Every text starts with a control code
# (a domain token); the released table covers 50000 positions although training used 256/512-token windows.
PRESETS["ctrl"] = dict(
    architecture="decoder-only",
    vocab_size=246534,
    d_model=1280,
    decoder_layers=48,
    decoder_attention_heads=16,
    decoder_ffn_dim=8192,
    max_position_embeddings=50000,
    position_embedding_type="sinusoidal",
    sinusoidal_layout="concatenated",
    scale_embedding=True,
    normalize_before=True,
    activation_function="relu",
    dropout=0.1,
    attention_dropout=0.0,
    layer_norm_eps=1e-6,
    lm_head_bias=True,
    tie_word_embeddings=True,
    init_method="normal",
    init_std=0.02,
    pad_token_id=None,
    bos_token_id=None,
    eos_token_id=None,
)

# PEGASUS-large (Zhang et al. 2020, §6: L = 16, H = 1024, F = 4096, A = 16, 568M parameters): the paper's
# encoder-decoder with pre-LN layers and a final LayerNorm per stack, fixed sinusoids (sines, then cosines, as the
# released code), embeddings scaled by sqrt(d_model), a ReLU FFN, dropout 0.1 everywhere, a 96103-token SentencePiece
# vocabulary (<pad>=0 also starts the decoder, </s>=1, then the two mask tokens of gap-sentence generation and MLM) and
# an output bias. This is the config `convert_from_hf` gives google/pegasus-large.
PRESETS["pegasus-large"] = dict(
    architecture="encoder-decoder",
    vocab_size=96103,
    d_model=1024,
    encoder_layers=16,
    decoder_layers=16,
    encoder_attention_heads=16,
    decoder_attention_heads=16,
    encoder_ffn_dim=4096,
    decoder_ffn_dim=4096,
    max_position_embeddings=1024,
    position_embedding_type="sinusoidal",
    sinusoidal_layout="concatenated",
    scale_embedding=True,
    normalize_before=True,
    activation_function="relu",
    dropout=0.1,
    attention_dropout=0.1,
    activation_dropout=0.1,
    layer_norm_eps=1e-5,
    lm_head_bias=True,
    tie_word_embeddings=True,
    init_method="normal",
    init_std=0.02,
    pad_token_id=0,
    bos_token_id=None,
    eos_token_id=1,
    decoder_start_token_id=0,
)

# ELECTRA (Clark et al. 2020, Table 6 / Appendix A): BERT's encoder trained as a discriminator of replaced tokens
# (`TobigsForReplacedTokenDetection`) against a small MLM generator. ELECTRA-Small: H = 256, 12 layers, 4 heads,
# d_ff 1024, with embeddings of width E = 128 projected to H (ALBERT's factorization, `embedding_size=128`);
# ELECTRA-Base: BERT-base's sizes, E = H (no projection). BERT's WordPiece vocabulary and ids; no pooler: sequence
# classification reads [CLS] through ELECTRA's own head (`classifier_head="dense-gelu"`).
PRESETS["electra-small"] = dict(
    PRESETS["bert-base"],
    d_model=256,
    embedding_size=128,
    encoder_layers=12,
    encoder_attention_heads=4,
    encoder_ffn_dim=1024,
    add_pooling_layer=False,
    classifier_head="dense-gelu",  # ElectraClassificationHead: dropout, dense, GELU, dropout, projection on [CLS]
    generator_size=1 / 4,  # Appendix A, Table 6: generator size 1/4 (Small), 1/3 (Base)
    rtd_loss_weight=50.0,  # §3.1: lambda = 50
)
PRESETS["electra-base"] = dict(
    PRESETS["bert-base"], add_pooling_layer=False, classifier_head="dense-gelu", generator_size=1 / 3,
    rtd_loss_weight=50.0
)

# Transformer-XL (Dai et al. 2019), the WikiText-103 "base" model of the authors' PyTorch code (kimiyoung/transformer-xl,
# pytorch/run_wt103_base.sh train + train.py defaults + mem_transformer.py): 16 post-LN layers (pre_lnorm off) of
# width 410 with 10 heads of 41 and d_inner 2100, ReLU; dropout 0.1 on the embeddings, the attention output and both
# places of the FFN (after the ReLU and after the second linear: `activation_dropout` too), dropatt 0; embeddings x
# sqrt(d_model); segments of 150 tokens (tgt_len) with a memory of 150 (mem_len); relative positions (attn_type 0,
# §3.3) and nothing added at the input (`max_position_embeddings` is no limit); no clamping and no same-length
# attention while training; one u, v pair shared by all layers (the PyTorch code has no untie_r; the TensorFlow code's
# released checkpoints untie them: `untie_r=True`); the query/key/value and output projections without bias
# (qkv_net, o_net and W_{k,R} = r_net are Linear(..., bias=False)), an output bias on the softmax (out_layers bias),
# normal(0, 0.02) initialisation, and the word-level WikiText-103 vocabulary of 267735 tokens (<eos> = 0).
# Left off here: the adaptive input and adaptive softmax (Baevski & Auli 2019; `--adaptive`) - the usual tied
# embedding and full softmax, so the parameter count is larger than the paper's; turn them on with
# adaptive_input=True, adaptive_softmax=True, cutoffs=[20000, 40000, 200000], tie_projs=[False, True, True, True]
# (div_val=1). Scale `vocab_size` down for your own tokenizer. The authors evaluate with tgt_len 64, mem_len 640, clamp_len 400 and
# same_length (run_wt103_base.sh eval): `TobigsConfig.from_preset("transformer-xl", mem_len=640, clamp_len=400,
# same_length=True)` with segments of 64.
PRESETS["transformer-xl"] = dict(
    architecture="decoder-only",
    vocab_size=267735,
    d_model=410,
    decoder_layers=16,
    decoder_attention_heads=10,
    decoder_ffn_dim=2100,
    activation_function="relu",
    dropout=0.1,
    attention_dropout=0.0,  # dropatt
    activation_dropout=0.1,  # PositionwiseFF: Linear, ReLU, Dropout(dropout), Linear, Dropout(dropout)
    position_embedding_type="relative",
    max_position_embeddings=150,  # the training segment length (tgt_len); not a limit for relative positions
    mem_len=150,
    clamp_len=None,
    same_length=False,
    untie_r=False,
    attention_bias=False,
    lm_head_bias=True,
    scale_embedding=True,
    layernorm_embedding=False,
    normalize_before=False,
    layer_norm_eps=1e-5,
    init_method="normal",
    init_std=0.02,
    tie_word_embeddings=True,
    pad_token_id=None,
    bos_token_id=0,
    eos_token_id=0,
)
